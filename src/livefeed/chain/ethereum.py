"""The ``eth`` venue: blocks, token transfers, swaps, any event and pending transactions from an Ethereum node.

web3.py 8's ``WebSocketProvider`` retries only its first connect and does not restore subscriptions after a drop
(a clean close just ends the stream), so this adapter owns the loop: per attempt a fresh
``async with AsyncWeb3(WebSocketProvider(url))`` (the awaitable form installs signal handlers, which fails off the
main thread), subscribe, backfill what was missed with ``eth_getBlockByNumber`` / ``eth_getLogs``, then stream;
on any failure back off with jitter and go again. :class:`~livefeed.chain.tracker.ChainTracker` drops re-sent
blocks and logs by (block hash, log index) and turns reorgs into retraction rows (``removed=1``).

Every head is followed internally (reorg detection needs it) even when ``newHeads`` is not subscribed; then no
block rows are emitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from web3 import AsyncWeb3, WebSocketProvider
from web3.exceptions import BlockNotFound

from ..connection import Backoff, ConnectionState, ConnectionStats
from ..errors import ConfigError
from ..redact import redact_text, redact_url
from ..source import Source, SourceOptions, VenueEndpoints
from .abi import ERC20_VIEW_ABI, PAIR_VIEW_ABI, SWAP_V2, SWAP_V3, TRANSFER
from .decode import PoolInfo, TokenInfo, as_int, decode_log, decode_swap, decode_transfer, hexstr, log_key
from .events import FRAMES, Block, PendingTx
from .targets import Target, normalize_target, parse_target
from .tracker import ChainTracker, transfer_events

__all__ = ["EthereumAdapter", "NotAnEthereumNodeError", "NoContractError"]

log = logging.getLogger(__name__)


def _drop_shutdown_noise(record: logging.LogRecord) -> bool:
    """web3 logs an ERROR when the socket we close on purpose ends its listener; that is a clean stop, not news."""
    return not record.getMessage().startswith("Stopping message stream")


logging.getLogger("web3.manager.RequestManager").addFilter(_drop_shutdown_noise)

_WEI = 1e-18
_GETLOGS_SPAN = 2_000  # blocks per eth_getLogs call: hosted nodes cap the range


class NotAnEthereumNodeError(ConfigError):
    """The endpoint does not answer ``eth_chainId`` like an Ethereum JSON-RPC node."""


class NoContractError(ConfigError):
    """A ``transfers:`` / ``swaps:`` / ``logs:`` address has no contract code on this chain."""


class EthereumAdapter(Source):
    """``Feed(["eth:newHeads", "eth:transfers:<token>"], endpoints={"eth": "ws://127.0.0.1:8545"})``.

    A :class:`~livefeed.source.Source` without order books: one subscription loop, whose health is one
    :class:`~livefeed.connection.ConnectionStats` (``catching up`` while it backfills, then ``live``).
    """

    name = "eth"
    default_endpoints = VenueEndpoints(ws="ws://127.0.0.1:8545", rest="http://127.0.0.1:8545")
    frames = FRAMES

    @classmethod
    def normalize_target(cls, text: str) -> str:
        return normalize_target(text)

    def __init__(
        self,
        symbols: Iterable[str],
        channels: Iterable[str],
        emit: Callable[[Any], None],
        endpoints: VenueEndpoints | None = None,
        options: SourceOptions | None = None,
    ) -> None:
        super().__init__(symbols, channels, emit, endpoints, options)
        self.targets = [parse_target(s) for s in self.symbols]
        self.url = self.endpoints.ws
        self.shown_url = redact_url(self.url)
        self.stats = ConnectionStats(name="eth", url=self.shown_url)
        self.tracker = ChainTracker()
        self.chain_id: int | None = None
        self.tokens: dict[str, TokenInfo] = {}
        self.pools: dict[str, PoolInfo] = {}
        self.backfilled_blocks = 0
        self._emit_blocks = any(t.kind == "heads" for t in self.targets)
        self._closing = False
        self._done = asyncio.Event()
        self._run_task: asyncio.Task[Any] | None = None
        self._start_block: int | None = None
        self._w3: AsyncWeb3 | None = None
        self._first: tuple[contextlib.AsyncExitStack, AsyncWeb3, dict[str, Target]] | None = None
        """Latest block when validate() ran: everything after it is delivered, even if mined before the
        subscriptions were in place (``Feed.start()`` returns before the loop has subscribed)."""

    def __repr__(self) -> str:
        return f"<EthereumAdapter {self.shown_url} targets={[str(t) for t in self.targets]}>"

    def connection_stats(self) -> list[ConnectionStats]:
        """The one subscription loop's; :meth:`validate` made its first connection, so ``first_connect`` (the
        base's) has nothing to wait for."""
        return [self.stats]

    # -- helpers ------------------------------------------------------------------------------------------------

    def _provider(self) -> WebSocketProvider:
        c = self.options.connection
        provider = WebSocketProvider(
            self.url, max_connection_retries=1, request_timeout=max(c.open_timeout, 10.0),
            subscription_response_queue_size=100_000,
            websocket_kwargs={"ping_interval": c.ping_interval, "ping_timeout": c.ping_timeout,
                              "open_timeout": c.open_timeout, "max_size": c.max_size},
        )
        # web3 logs the node URL ("Connecting to: ...") and websockets the request line and headers: the records
        # of both libraries are redacted by livefeed.redact (installed when livefeed is imported).
        return provider

    def _safe(self, exc: BaseException) -> str:
        detail = str(exc).replace(self.url, self.shown_url)
        return redact_text(f"{type(exc).__name__}: {detail}" if detail else f"{type(exc).__name__} (no detail)")

    # -- validate -----------------------------------------------------------------------------------------------

    async def validate(self) -> None:
        """The node must answer ``eth_chainId``; every watched address must hold contract code.

        The connection is kept and subscribed here, so once ``Feed.start()`` / ``async with`` returns nothing
        is missed, pending transactions included (those cannot be backfilled).
        """
        stack = contextlib.AsyncExitStack()
        try:
            async with asyncio.timeout(self.options.connection.open_timeout + 5):
                w3 = await stack.enter_async_context(AsyncWeb3(self._provider()))
                self.chain_id = await w3.eth.chain_id
                self._start_block = await w3.eth.block_number
                for target in self.targets:
                    if target.address and not await w3.eth.get_code(target.address):  # type: ignore[arg-type]
                        raise NoContractError(
                            f"no contract at {target.address} (target 'eth:{target}') on chain {self.chain_id}"
                        )
                routes = await self._subscribe(w3)
        except ConfigError:
            await stack.aclose()
            raise
        except Exception as exc:
            with contextlib.suppress(Exception):
                await stack.aclose()
            raise NotAnEthereumNodeError(
                f"{self.shown_url} did not answer eth_chainId like an Ethereum node ({self._safe(exc)}); "
                "give the node's WebSocket URL, e.g. ws://127.0.0.1:8545"
            ) from None
        self._first = (stack, w3, routes)

    async def _load_metadata(self, w3: AsyncWeb3) -> None:
        """decimals() / symbol() once per token (and token0/token1 of each pool); cached across reconnects."""
        for target in self.targets:
            if target.kind == "transfers" and target.address not in self.tokens:
                self.tokens[target.address] = await self._token(w3, target.address)  # type: ignore[index,arg-type]
            elif target.kind == "swaps" and target.address not in self.pools:
                pair = w3.eth.contract(address=target.address, abi=PAIR_VIEW_ABI)  # type: ignore[arg-type]
                t0 = await pair.functions.token0().call()
                t1 = await pair.functions.token1().call()
                self.pools[target.address] = PoolInfo(await self._token(w3, t0), await self._token(w3, t1))  # type: ignore[index]

    async def _token(self, w3: AsyncWeb3, address: str) -> TokenInfo:
        contract = w3.eth.contract(address=address, abi=ERC20_VIEW_ABI)  # type: ignore[arg-type]
        try:
            decimals = await contract.functions.decimals().call()
        except Exception:
            decimals = 0  # ERC-721 collections have no decimals()
        try:
            symbol = await contract.functions.symbol().call()
        except Exception:
            symbol = address[:10]
        return TokenInfo(str(symbol), int(decimals))

    # -- the loop -----------------------------------------------------------------------------------------------

    async def run(self) -> None:
        c = self.options.connection
        backoff = Backoff(initial=c.backoff_initial, cap=c.backoff_cap)
        self._run_task = asyncio.current_task()
        self._done.clear()
        try:
            while not self._closing:
                live_since = 0.0
                self.stats.state = ConnectionState.CONNECTING
                try:
                    async with contextlib.AsyncExitStack() as stack:
                        if self._first is not None:
                            first, w3, routes = self._first
                            self._first = None
                            stack.push_async_exit(first)
                        else:
                            w3 = await stack.enter_async_context(AsyncWeb3(self._provider()))
                            routes = await self._subscribe(w3)
                        self._w3 = w3
                        self.stats.connects += 1
                        self.stats.reconnects = self.stats.connects - 1
                        self.stats.connected_since_ns = time.time_ns()
                        self.stats.state = ConnectionState.CATCHING_UP
                        await self._catch_up(w3)
                        self.stats.state = ConnectionState.LIVE
                        live_since = time.monotonic()
                        async for message in w3.socket.process_subscriptions():
                            await self._on_message(w3, routes, message)
                    self.stats.last_error = "stream ended"
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.stats.last_error = self._safe(exc)
                    log.warning("eth %s: %s; reconnecting", self.shown_url, self.stats.last_error)
                if self._closing:
                    break
                if live_since and time.monotonic() - live_since >= c.healthy_after:
                    backoff.reset()
                self.stats.state = ConnectionState.BACKOFF
                await asyncio.sleep(backoff.next_delay())
        finally:
            self.stats.state = ConnectionState.CLOSED
            self._done.set()

    async def _subscribe(self, w3: AsyncWeb3) -> dict[str, Target]:
        routes: dict[str, Target] = {}
        routes[await w3.eth.subscribe("newHeads")] = Target("heads")
        for target in self.targets:
            if target.kind == "pending":
                sub = await w3.eth.subscribe("newPendingTransactions", target.full)  # type: ignore[call-overload]
            elif target.kind in ("transfers", "swaps", "logs"):
                sub = await w3.eth.subscribe("logs", self._filter_of(target))  # type: ignore[arg-type]
            else:
                continue
            routes[sub] = target
        await self._load_metadata(w3)
        return routes

    @staticmethod
    def _filter_of(target: Target) -> dict[str, Any]:
        if target.kind == "transfers":
            topics: list[Any] = [TRANSFER.topic]
        elif target.kind == "swaps":
            topics = [[SWAP_V2.topic, SWAP_V3.topic]]
        else:
            topics = [target.event.topic]  # type: ignore[union-attr]
        return {"address": target.address, "topics": topics}

    async def _on_message(self, w3: AsyncWeb3, routes: Mapping[str, Target], message: Any) -> None:
        receipt = time.time_ns()
        self.stats.messages += 1
        self.stats.last_message_ns = receipt
        target = routes.get(message["subscription"])
        result = message["result"]
        if target is None:
            return
        try:
            if target.kind == "heads":
                await self._on_head(w3, result)
            elif target.kind == "pending":
                self._on_pending(result, receipt)
            else:
                self._on_log(target, result, receipt)
        except (asyncio.CancelledError, ConnectionError):
            raise
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            self.stats.malformed += 1
            log.warning("eth: cannot decode %s message: %s", target, exc)

    # -- logs ---------------------------------------------------------------------------------------------------

    def _decode(self, target: Target, raw: Mapping[str, Any], receipt: int) -> list[Any]:
        ts = None
        block = self.tracker.blocks.get(hexstr(raw["blockHash"]))
        if block is not None:
            ts = block.timestamp
        if target.kind == "transfers":
            return transfer_events(decode_transfer(raw, self.tokens[target.address], receipt, ts))  # type: ignore[index]
        if target.kind == "swaps":
            return [decode_swap(raw, self.pools[target.address], receipt, ts)]  # type: ignore[index]
        return [decode_log(raw, target.event, receipt, ts)]  # type: ignore[arg-type]

    def _on_log(self, target: Target, raw: Mapping[str, Any], receipt: int) -> None:
        key = log_key(raw)
        if raw.get("removed"):
            for event in self.tracker.remove_log(key):
                self.emit(event)
            return
        if key in self.tracker.logs:
            self.tracker.duplicates += 1
            return
        events = self._decode(target, raw, receipt)
        if self.tracker.add_log(key, as_int(raw["blockNumber"]), events):
            for event in events:
                self.emit(event)

    # -- heads, reorgs, backfill --------------------------------------------------------------------------------

    async def _on_head(self, w3: AsyncWeb3, header: Mapping[str, Any]) -> None:
        number, block_hash = as_int(header["number"]), hexstr(header["hash"])
        if self.tracker.has_block(block_hash):
            self.tracker.duplicates += 1
            return
        parent = hexstr(header["parentHash"])
        known_parent = self.tracker.hash_at(number - 1)
        head = self.tracker.head
        if head is not None and (number <= head or (known_parent is not None and known_parent != parent)):
            await self._reorg(w3, number, parent)
        elif head is not None and number > head + 1:
            await self._backfill(w3, head + 1, number - 1)
        try:
            raw = await w3.eth.get_block(block_hash)  # type: ignore[arg-type]
        except BlockNotFound:
            log.info("eth: head %d was reorged out before it could be read", number)
            return  # its logs, if any arrived, are retracted once the replacing head is in
        self._add_block(raw, time.time_ns())
        self._retract_stray_logs()

    def _retract_stray_logs(self) -> None:
        for event in self.tracker.orphan_stray_logs():
            self.emit(event)

    async def _reorg(self, w3: AsyncWeb3, number: int, parent: str) -> None:
        """Walk back from the new head's parent to the block both chains share; retract everything above it."""
        ancestor, expected = number - 1, parent
        while ancestor >= 0:
            ours = self.tracker.hash_at(ancestor)
            if ours is None or ours == expected:
                break
            expected = hexstr((await w3.eth.get_block(expected))["parentHash"])  # type: ignore[arg-type]
            ancestor -= 1
        log.info("eth: reorg at block %d, common ancestor %d", number, ancestor)
        for event in self.tracker.orphan_above(ancestor):
            self.emit(event)
        self.tracker.head = ancestor
        if ancestor + 1 <= number - 1:
            await self._backfill(w3, ancestor + 1, number - 1)
        await self._backfill_logs(w3, number, number)

    async def _catch_up(self, w3: AsyncWeb3) -> None:
        """After a (re)connect: blocks and logs missed while away, checking first that our tip is still canonical."""
        head = self.tracker.head
        if head is None:
            if self._start_block is not None:
                await self._backfill(w3, self._start_block + 1, await w3.eth.block_number)
            return
        latest = await w3.eth.get_block("latest")
        tip = self.tracker.hash_at(head)
        ancestor = head
        while ancestor >= 0 and tip is not None:
            try:
                node_hash = hexstr((await w3.eth.get_block(ancestor))["hash"])  # type: ignore[index]
            except Exception:
                node_hash = None
            if node_hash == self.tracker.hash_at(ancestor):
                break
            ancestor -= 1
        if ancestor < head:
            for event in self.tracker.orphan_above(ancestor):
                self.emit(event)
            self.tracker.head = ancestor
        last = as_int(latest["number"])
        for n in range(ancestor + 1, last + 1):
            self._add_block(await w3.eth.get_block(n), time.time_ns())
            self.backfilled_blocks += 1
        # From our tip itself: its logs may have been in flight when the socket dropped.
        await self._backfill_logs(w3, max(ancestor, 0), last)
        self._retract_stray_logs()

    async def _backfill(self, w3: AsyncWeb3, first: int, last: int) -> None:
        """Blocks ``first..last`` by number, then their logs (re-sends are dropped by the tracker)."""
        if first > last:
            return
        for n in range(first, last + 1):
            self._add_block(await w3.eth.get_block(n), time.time_ns())
            self.backfilled_blocks += 1
        await self._backfill_logs(w3, first, last)

    async def _backfill_logs(self, w3: AsyncWeb3, first: int, last: int) -> None:
        for target in self.targets:
            if target.kind not in ("transfers", "swaps", "logs"):
                continue
            for start in range(first, last + 1, _GETLOGS_SPAN):
                end = min(last, start + _GETLOGS_SPAN - 1)
                params = {**self._filter_of(target), "fromBlock": start, "toBlock": end}
                receipt = time.time_ns()
                for raw in await w3.eth.get_logs(params):  # type: ignore[arg-type]
                    self._on_log(target, raw, receipt)

    def _add_block(self, raw: Mapping[str, Any], receipt: int) -> None:
        block_hash = hexstr(raw["hash"])
        if self.tracker.has_block(block_hash):
            return
        fee = raw.get("baseFeePerGas")
        event = Block(
            as_int(raw["number"]), block_hash, hexstr(raw["parentHash"]), as_int(raw["timestamp"]) * 1_000_000_000,
            None if fee is None else as_int(fee), as_int(raw["gasUsed"]), as_int(raw["gasLimit"]),
            len(raw.get("transactions") or ()), receipt,
        )
        self.tracker.add_block(event.number, block_hash, event)
        if self._emit_blocks:
            self.emit(event)

    # -- pending ------------------------------------------------------------------------------------------------

    def _on_pending(self, result: Any, receipt: int) -> None:
        if isinstance(result, Mapping):
            value = result.get("value")
            self.emit(PendingTx(
                hexstr(result["hash"]), result.get("from"), result.get("to"),
                None if value is None else as_int(value) * _WEI,
                None if result.get("nonce") is None else as_int(result["nonce"]), receipt,
            ))
        else:
            self.emit(PendingTx(hexstr(result), None, None, None, None, receipt))

    # -- shutdown -----------------------------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop the loop; returns once ``run()`` has finished (no task is left behind)."""
        self._closing = True
        if self._first is not None:  # validated but never run
            with contextlib.suppress(Exception):
                await self._first[0].aclose()
            self._first = None
        task = self._run_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            # web3's process_subscriptions() swallows a cancel while it waits; closing the socket ends the
            # stream instead, and run() sees _closing. Cancel is the fallback (e.g. while backing off).
            if self._w3 is not None:
                with contextlib.suppress(Exception):
                    await self._w3.provider.disconnect()
            done, _ = await asyncio.wait({task}, timeout=2)
            if not done:
                task.cancel()
                await asyncio.wait({task}, timeout=5)
        self._w3 = None
        await super().close()
