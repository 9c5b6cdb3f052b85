"""``OkxSim``: a deterministic OKX v5 public exchange on loopback, with faults on demand.

Clients connect to ``sim.ws_url`` (``ws://host:port/ws/v5/public``) and speak OKX's protocol: ``subscribe`` /
``unsubscribe`` requests acknowledged per argument, a ``books`` snapshot pushed on subscribe, then updates chained
by ``prevSeqId`` -> ``seqId`` with a signed CRC32 ``checksum`` of the top 25 levels, ``trades`` and ``tickers``
pushes, the text ``ping`` answered with ``pong``, and a connection closed after ``idle_timeout`` seconds with no
frame either way (OKX's 30 s rule, as recollected). REST serves ``/api/v5/public/instruments`` and
``/api/v5/public/time``. The market is the shared :class:`~livefeed.sim.market.MarketSim`; its update ids serve
as ``seqId`` (increasing, not contiguous, like OKX's).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

from . import okx_wire
from .base import SimSession, json_response
from .faults import Faults
from .market import MarketSim, Step
from .specs import SymbolSpec
from .trade_history import TradeHistory
from .venue import VenueSim

__all__ = ["OkxSim", "OkxSession"]

_MAX_LEVELS = 400  # the ``books`` channel's depth


class OkxSession(SimSession):
    """One OKX client: its ``(channel, instId)`` subscriptions, ``ping``/``pong`` and the idle rule."""

    def __init__(self, ws: ServerConnection, faults: Faults, queue_size: int, server: OkxSim) -> None:
        super().__init__(ws, faults, queue_size)
        self.server = server
        self.subscriptions: set[tuple[str, str]] = set()
        self.conn_id = f"{abs(hash((id(self), time.monotonic_ns()))) % 16**8:08x}"
        self.pings = 0
        self.last_activity = time.monotonic()

    def push(self, frame: bytes) -> None:
        self.last_activity = time.monotonic()
        super().push(frame)

    async def run(self) -> None:
        idle = asyncio.get_running_loop().create_task(self._close_when_idle())
        try:
            await super().run()
        finally:
            idle.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await idle

    async def _close_when_idle(self) -> None:
        limit = self.server.idle_timeout
        while self.open:
            idle = time.monotonic() - self.last_activity
            if idle >= limit:
                self.server.faults.counts["idle_close"] = self.server.faults.counts.get("idle_close", 0) + 1
                self.close(4004, f"No data received in {limit:g}s")  # code and wording: [U]
                return
            await asyncio.sleep(limit - idle)

    def handle(self, message: str | bytes) -> None:
        self.last_activity = time.monotonic()
        if message in ("ping", b"ping"):
            self.pings += 1
            self.push(b"pong")
            return
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError:
            self._reply(okx_wire.error("60012", f"Invalid request: {str(message)[:200]}", self.conn_id))
            return
        op = request.get("op") if isinstance(request, dict) else None
        args = request.get("args") if isinstance(request, dict) else None
        request_id = request.get("id") if isinstance(request, dict) else None
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list) or not args:
            self._reply(okx_wire.error("60012", f"Invalid request: {str(message)[:200]}", self.conn_id, request_id))
            return
        for arg in args:
            self._one(op, arg, request_id)

    def _one(self, op: str, arg: Any, request_id: str | None) -> None:
        channel = arg.get("channel") if isinstance(arg, dict) else None
        key = self.server.subscription_key(arg) if isinstance(arg, dict) else None
        if key is None:
            inst_id = arg.get("instId") if isinstance(arg, dict) else None
            msg = f"Wrong URL or channel:{channel},instId:{inst_id} doesn't exist. Please use the correct URL, channel and parameters referring to API document."  # noqa: E501
            self._reply(okx_wire.error("60018", msg, self.conn_id, request_id))
            return
        self._reply(okx_wire.ack(op, dict(arg), self.conn_id, request_id))
        if op == "unsubscribe":
            self.subscriptions.discard(key)
            return
        self.subscriptions.add(key)
        self.server.on_subscribe(self, key)
        self.server.session_subscribed(self)

    def _reply(self, body: dict) -> None:
        self.push(orjson.dumps(body))


class OkxSim(VenueSim):
    """Simulated OKX v5 public: ``async with OkxSim() as sim: Feed(["okx:BTC-USDT"], endpoints={"okx": sim})``.

    With ``autostep`` one task steps every symbol each ``interval`` s; without it ``await sim.step(n)`` drives
    the market by hand. Faults beyond the shared ones: ``skip_updates(n)`` (a ``prevSeqId`` gap),
    ``corrupt_checksum(n)`` and ``send_book_keepalive()`` (OKX's empty ``prevSeqId == seqId`` update).
    """

    sessions: list[OkxSession]  # type: ignore[assignment]

    venue = "okx"
    default_levels = 150
    inst_type = "SPOT"
    channels: tuple[str, ...] = okx_wire.CHANNELS

    def __init__(self, symbols: Iterable[str] | None = None, *, idle_timeout: float = 30.0,
                 **kwargs: Any) -> None:
        super().__init__(symbols, **kwargs)
        self.idle_timeout = idle_timeout
        self.faults.counts.update({"corrupt_checksum": 0, "idle_close": 0})
        self._seq = {inst: m.last_update_id for inst, m in self.markets.items()}
        self._last_trade = {inst: (m.spec.price_str(0), m.spec.qty_str(0)) for inst, m in self.markets.items()}
        self._skip = dict.fromkeys(self.markets, 0)
        self._corrupt_left = 0
        self.trade_history = TradeHistory(self.markets)
        """Every trade printed, for ``/api/v5/market/trades`` and ``/history-trades``."""

    # -- lifecycle -----------------------------------------------------------------------------------------------
    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{okx_wire.WS_PATH}"

    # -- market control ------------------------------------------------------------------------------------------
    def skip_updates(self, n: int = 1) -> None:
        """The next ``n`` book updates of every symbol are never sent: clients see a ``prevSeqId`` gap."""
        for inst in self._skip:
            self._skip[inst] += n

    def corrupt_checksum(self, n: int = 1) -> None:
        """The next ``n`` book updates (any symbol) carry a wrong checksum; levels and seqIds stay correct."""
        self._corrupt_left += n

    def send_book_keepalive(self) -> None:
        """Push OKX's "no change" update to every ``books`` subscriber: empty sides, ``prevSeqId == seqId``."""
        for inst, market in self.markets.items():
            seq = self._seq[inst]
            ts = self._event_time()
            bids, asks = self._top_levels(market)
            checksum = okx_wire.book_checksum(bids, asks)
            self._broadcast("books", inst, lambda i=inst, s=seq, c=checksum, t=ts:
                            okx_wire.book_push(i, "update", [], [], t, c, s, s))

    # -- truth for tests -----------------------------------------------------------------------------------------
    def market(self, symbol: str) -> MarketSim:
        key = symbol.upper().replace("/", "-").replace("_", "-")
        if key not in self.markets:
            raise KeyError(f"{symbol!r} is not simulated; known: {', '.join(self.markets)}")
        return self.markets[key]

    def true_book(self, symbol: str) -> dict[str, dict[float, float]]:
        return self.market(symbol).true_book()

    def last_seq_id(self, symbol: str) -> int:
        """The ``seqId`` of the last book message for ``symbol`` (sent or skipped)."""
        return self._seq[self.market_key(self.market(symbol).spec)]

    # -- subscriptions -------------------------------------------------------------------------------------------
    def subscription_key(self, arg: dict) -> tuple[str, str] | None:
        """``(channel, instId)`` of a valid subscription ``arg``; ``None`` for one OKX would refuse."""
        channel, inst_id = arg.get("channel"), arg.get("instId")
        if channel not in self.channels or inst_id not in self.markets:
            return None
        return channel, inst_id

    def on_subscribe(self, session: OkxSession, key: tuple[str, str]) -> None:
        """What a new subscription gets at once: the ``books`` snapshot."""
        if key[0] == "books":
            session.push(self.snapshot_frame(key[1]))

    # -- frames --------------------------------------------------------------------------------------------------
    def snapshot_frame(self, inst_id: str) -> bytes:
        """The ``books`` snapshot a new subscriber gets: the book now, ``prevSeqId`` -1, the current ``seqId``."""
        market = self.markets[inst_id]
        snap = market.snapshot(_MAX_LEVELS)
        bids, asks = okx_wire.book_levels(snap["bids"]), okx_wire.book_levels(snap["asks"])
        body = okx_wire.book_push(inst_id, "snapshot", bids, asks, self._event_time(),
                                  okx_wire.book_checksum(bids, asks), -1, self._seq[inst_id])
        return orjson.dumps(body)

    @staticmethod
    def _top_levels(market: MarketSim) -> tuple[list[list[str]], list[list[str]]]:
        snap = market.snapshot(25)
        return okx_wire.book_levels(snap["bids"]), okx_wire.book_levels(snap["asks"])

    # -- the clock -----------------------------------------------------------------------------------------------
    def _tick(self) -> None:
        self._steps += 1
        ts = self._event_time()
        for inst, market in self.markets.items():
            self._publish(inst, market, market.step(ts), ts)

    def _publish(self, inst: str, market: MarketSim, step: Step, ts: int) -> None:
        """Trades, then the book update, then the ticker if the top moved: one step's pushes in OKX's shapes."""
        self.trade_history.record(inst, step.trades)
        for t in step.trades:
            self._last_trade[inst] = (t.price, t.qty)
            self._broadcast("trades", inst, lambda t=t: okx_wire.trade_push(inst, t))
        prev, self._seq[inst] = self._seq[inst], step.last_id
        if self._skip[inst] > 0:
            self._skip[inst] -= 1
            self.faults.counts["skip_updates"] += 1
        else:
            self._broadcast("books", inst, lambda: self._update_body(inst, market, step, ts, prev))
        if step.tickers:
            last, last_sz = self._last_trade[inst]
            open_px = market.spec.price_str(round(market.spec.start_price * 10**market.spec.price_decimals))
            self._broadcast("tickers", inst, lambda: okx_wire.ticker_push(inst, step.tickers[-1], last, last_sz,
                                                                          open_px, ts, self.inst_type))

    def _update_body(self, inst: str, market: MarketSim, step: Step, ts: int, prev: int) -> dict:
        bids, asks = self._top_levels(market)
        checksum = okx_wire.book_checksum(bids, asks)
        if self._corrupt_left > 0:
            self._corrupt_left -= 1
            self.faults.counts["corrupt_checksum"] += 1
            checksum ^= 0x5A5A
        return okx_wire.book_push(inst, "update", okx_wire.book_levels(step.bid_changes),
                                  okx_wire.book_levels(step.ask_changes), ts, checksum, prev, step.last_id)

    def _broadcast(self, channel: str, inst: str, build: Callable[[], dict]) -> None:
        """Encode once, queue to every subscriber; while stalled the frame is lost, as in a real outage."""
        key = (channel, inst)
        self.fan_out([s for s in self.sessions if key in s.subscriptions and s.open], build, OkxSession.push)

    # -- routing and REST ----------------------------------------------------------------------------------------
    def route_ws(self, path: str) -> bool | Response:
        if urlsplit(path).path != okx_wire.WS_PATH:
            return json_response(404, {"msg": "Not Found", "code": "404"})
        return True

    def new_session(self, ws: ServerConnection, route: Any) -> OkxSession:
        return OkxSession(ws, self.faults, self.send_queue, self)

    def handle_rest(self, path: str, params: dict[str, str]) -> Response:
        if path == "/api/v5/public/instruments":
            return self._instruments(params)
        if path in ("/api/v5/market/trades", "/api/v5/market/history-trades"):
            return self._trades(path, params)
        if path == "/api/v5/public/time":
            return json_response(200, okx_wire.rest_body([{"ts": str(time.time_ns() // 1_000_000)}]))
        return json_response(404, {"msg": "Not Found", "code": "404"})

    def _trades(self, path: str, params: dict[str, str]) -> Response:
        """``/market/trades`` (the newest ``limit``, up to 500) and ``/market/history-trades`` (``after``: older
        than a trade id (``type=1``, the default) or a time in ms (``type=2``); up to 100), newest first."""
        inst = params.get("instId", "")
        if inst not in self.trade_history:
            return json_response(200, okx_wire.rest_body([], "51001", "Instrument ID does not exist."))
        history = path.endswith("history-trades")
        raw_limit, after, kind = params.get("limit", "100"), params.get("after", ""), params.get("type", "1")
        if not raw_limit.isdigit() or (after and not after.isdigit()) or kind not in ("1", "2"):
            return json_response(200, okx_wire.rest_body([], "50014", "Parameter error."))
        limit = min(max(int(raw_limit), 1), 100 if history else 500)
        trades = self.trade_history.all(inst)
        if history and after:
            cut = int(after)
            trades = [s for s in trades if (s.trade_id if kind == "1" else s.trade.trade_time) < cut]
        rows = [
            {"instId": inst, "side": "sell" if s.trade.buyer_is_maker else "buy",
             "sz": okx_wire.okx_number(s.trade.qty), "px": okx_wire.okx_number(s.trade.price), "source": "0",
             "tradeId": str(s.trade_id), "ts": str(s.trade.trade_time)}
            for s in reversed(trades[-limit:])
        ]
        return json_response(200, okx_wire.rest_body(rows))

    def _instruments(self, params: dict[str, str]) -> Response:
        inst_type = params.get("instType", "")
        if not inst_type:
            body = okx_wire.rest_body([], "50014", "Parameter instType can not be empty.")
            return json_response(400, body)
        listed = {self.market_key(m.spec): m.spec for m in self.markets.values()} if inst_type == self.inst_type else {}
        if "instId" in params:
            listed = {inst: spec for inst, spec in listed.items() if inst == params["instId"]}
        return json_response(200, okx_wire.rest_body(self.instruments(listed)))

    def instruments(self, listed: dict[str, SymbolSpec]) -> list[dict]:
        """The ``/api/v5/public/instruments`` entries of ``{instId: spec}``."""
        return okx_wire.instruments(list(listed.values()), 1_534_732_800_000)
