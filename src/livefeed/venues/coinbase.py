"""Coinbase Advanced Trade: ``level2`` (``l2_data``), ``market_trades``, ``ticker`` and ``heartbeats``.

Coinbase numbers every frame on a connection with one ``sequence_num`` counter shared by all channels (it starts
at 0 on connect and the ``subscriptions`` acks and heartbeats take numbers too). The docs: "Sequence numbers that
are greater than one integer value from the previous number indicate that a message has been dropped"; lower
numbers are out of order and ignored. There is no replay, so a dropped frame means every book on that connection
may be wrong: the adapter marks them unsynced, unsubscribes and resubscribes ``level2`` on the same socket, and
rebuilds each book from the fresh snapshot the resubscribe brings. :class:`SequenceTracker` is that rule as a pure
state machine; :class:`CoinbaseAdapter` does the I/O around it.

Levels carry absolute sizes (``new_quantity``, ``"0"`` deletes) and sides ``bid`` / ``offer``. The level2
snapshot is the full book in one frame (~46,000 levels, ~5.4 MB for BTC-USD), which is why the connection's
``max_size`` must stay far above the websockets default of 1 MiB.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from websockets.exceptions import WebSocketException

from ..book import OrderBook
from ..connection import Connection
from ..model import BookDelta, BookSnapshot, Level, Side, Ticker, Trade
from ..symbols import check_known
from .base import MalformedFrame, MarketAdapter, VenueEndpoints, Verdict, decode_object

__all__ = [
    "CoinbaseAdapter",
    "SequenceTracker",
    "SnapshotFirst",
    "MalformedFrame",
    "venue_symbol",
    "canonical_symbol",
    "parse_time",
    "parse_message",
    "parse_l2",
    "parse_trades",
    "parse_tickers",
    "subscribe_message",
    "listed_products",
    "CHANNEL_NAMES",
]

log = logging.getLogger(__name__)

CHANNEL_NAMES = {"book": "level2", "trades": "market_trades", "ticker": "ticker"}
"""livefeed channel -> the Coinbase channel to subscribe to (``level2`` frames arrive as ``l2_data``)."""

_IGNORED_CHANNELS = frozenset({"subscriptions", "heartbeats", "candles", "status", "ticker_batch"})
_TAKER_SIDE = {"BUY": Side.SELL, "SELL": Side.BUY}  # Coinbase's side is the maker's: the taker did the opposite


# -- symbols ------------------------------------------------------------------------------------------------------
def venue_symbol(symbol: str) -> str:
    """Canonical ``BTC-USD`` -> Coinbase ``product_id`` ``BTC-USD`` (Coinbase already spells BASE-QUOTE)."""
    return symbol


def canonical_symbol(product_id: str) -> str:
    """Coinbase ``product_id`` -> canonical symbol; the same spelling, upper case."""
    return product_id.upper()


def listed_products(body: Mapping[str, Any]) -> list[str]:
    """Canonical symbols of the tradable products in a ``/api/v3/brokerage/market/products`` body.

    Delisted and disabled products are left out: subscribing to them gives no data, so they count as unknown.
    """
    return [
        canonical_symbol(p["product_id"])
        for p in body.get("products", [])
        if p.get("status", "online") == "online" and not p.get("trading_disabled", False)
    ]


# -- outgoing -----------------------------------------------------------------------------------------------------
def subscribe_message(channel: str, product_ids: Iterable[str], kind: str = "subscribe") -> str:
    """One (un)subscribe request: Coinbase wants a separate message per channel."""
    return orjson.dumps({"type": kind, "product_ids": list(product_ids), "channel": channel}).decode()


# -- parsing ------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=8192)
def _epoch_seconds(head: str) -> int:
    """Whole seconds for ``YYYY-MM-DDTHH:MM:SS``; cached because consecutive frames share the second."""
    return int(datetime.fromisoformat(head + "+00:00").timestamp())


def parse_time(text: str) -> int:
    """RFC 3339 UTC time with 0-9 fractional digits (``2026-08-09T21:05:48.629706932Z``) -> int ns.

    Coinbase sends nanoseconds in envelope timestamps and microseconds in event times; float parsing would lose
    the last digits, so the fraction is read as an integer.
    """
    body = text[:-1] if text.endswith("Z") else text
    head, _, frac = body.partition(".")
    try:
        nanos = int(frac[:9].ljust(9, "0")) if frac else 0
        return _epoch_seconds(head) * 1_000_000_000 + nanos
    except ValueError:
        raise MalformedFrame(f"bad timestamp {text!r}") from None


def parse_message(frame: str | bytes) -> dict[str, Any]:
    """Decode one frame and check the envelope every channel shares (``channel``, ``sequence_num``)."""
    message = decode_object(frame)
    if message.get("type") == "error":
        return message
    if not isinstance(message.get("channel"), str) or not isinstance(message.get("sequence_num"), int):
        raise MalformedFrame(f"no channel/sequence_num: {str(message)[:120]}")
    return message


def _levels(updates: list[dict[str, str]]) -> tuple[list[Level], list[Level]]:
    bids: list[Level] = []
    asks: list[Level] = []
    for update in updates:
        side = update["side"]
        level = (float(update["price_level"]), float(update["new_quantity"]))
        if side == "bid":
            bids.append(level)
        elif side == "offer":
            asks.append(level)
        else:
            raise MalformedFrame(f"unknown book side {side!r}")
    return bids, asks


def parse_l2(message: Mapping[str, Any], receipt_ns: int) -> list[BookSnapshot | BookDelta]:
    """``l2_data`` -> one ``BookSnapshot`` or ``BookDelta`` per event; ``sequence`` is the frame's ``sequence_num``.

    The exchange time is the envelope ``timestamp`` (when Coinbase sent it); event times inside are per level.
    """
    sequence = message["sequence_num"]
    exchange_ts = parse_time(message["timestamp"])
    out: list[BookSnapshot | BookDelta] = []
    for event in message["events"]:
        symbol = canonical_symbol(event["product_id"])
        bids, asks = _levels(event["updates"])
        kind = event["type"]
        if kind == "snapshot":
            out.append(BookSnapshot("coinbase", symbol, bids, asks, exchange_ts, receipt_ns, sequence))
        elif kind == "update":
            out.append(BookDelta("coinbase", symbol, bids, asks, exchange_ts, receipt_ns, sequence, sequence))
        else:
            raise MalformedFrame(f"unknown l2_data event type {kind!r}")
    return out


def _trade_number(trade_id: object) -> int | None:
    text = str(trade_id)
    return int(text) if text.isdigit() else None


def parse_trades(message: Mapping[str, Any], receipt_ns: int) -> list[Trade]:
    """``market_trades`` -> trades with the TAKER side.

    Coinbase's ``side`` is the MAKER's side: in the real 2026 capture 49 of 50 trades printed at or above the best
    ask say ``SELL`` and 26 of 27 at or below the best bid say ``BUY`` (see PROTOCOLS.md). A buyer lifting the ask
    is a taker buy, so the side is flipped. The first frame is a ``snapshot`` of recent trades, newest first.
    ``sequence`` is the trade id, contiguous per product.
    """
    out = []
    for event in message["events"]:
        for t in event["trades"]:
            side = _TAKER_SIDE.get(t["side"])
            if side is None:
                raise MalformedFrame(f"unknown trade side {t['side']!r}")
            out.append(Trade(
                "coinbase", canonical_symbol(t["product_id"]), float(t["price"]), float(t["size"]), side,
                str(t["trade_id"]), parse_time(t["time"]), receipt_ns, _trade_number(t["trade_id"]),
            ))
    return out


def parse_tickers(message: Mapping[str, Any], receipt_ns: int) -> list[Ticker]:
    """``ticker`` -> best bid/ask with sizes; last price and 24 h volume go to ``extra``."""
    sequence = message["sequence_num"]
    exchange_ts = parse_time(message["timestamp"])
    out = []
    for event in message["events"]:
        for t in event["tickers"]:
            extra = {"price": float(t["price"]), "volume_24_h": float(t["volume_24_h"])}
            out.append(Ticker(
                "coinbase", canonical_symbol(t["product_id"]), float(t["best_bid"]), float(t["best_bid_quantity"]),
                float(t["best_ask"]), float(t["best_ask_quantity"]), exchange_ts, receipt_ns, sequence, extra,
            ))
    return out


# -- the integrity rule -------------------------------------------------------------------------------------------
class SequenceTracker:
    """Coinbase's per-connection ``sequence_num`` rule, without I/O; :meth:`reset` on every (re)connect.

    :meth:`judge` says ``APPLY`` (the next number: handle the frame), ``STALE`` (lower than expected: late or a
    duplicate, ignore it) or ``GAP`` (numbers skipped: frames were lost, no book on this connection can be trusted).
    """

    __slots__ = ("expected", "gaps", "out_of_order")

    def __init__(self) -> None:
        self.expected = 0
        self.gaps = 0
        self.out_of_order = 0

    def reset(self) -> None:
        """A new connection numbers its frames from 0 again."""
        self.expected = 0

    def judge(self, sequence: int) -> Verdict:
        """Judge one frame's number; after a gap the count continues from it, so one loss is reported once."""
        if sequence == self.expected:
            self.expected = sequence + 1
            return Verdict.APPLY
        if sequence < self.expected:
            self.out_of_order += 1
            return Verdict.STALE
        self.gaps += 1
        self.expected = sequence + 1
        return Verdict.GAP


class SnapshotFirst:
    """Coinbase's per-book rule: the frames' ``sequence_num`` (:class:`SequenceTracker`) guards the connection, so a
    book only needs its snapshot first: ``APPLY`` a snapshot, or an update once synced; ``STALE`` for an update in
    flight before the resubscribe's snapshot (the snapshot supersedes it)."""

    __slots__ = ("synced",)

    def __init__(self) -> None:
        self.synced = False

    def reset(self) -> None:
        self.synced = False

    def judge(self, event: BookSnapshot | BookDelta) -> Verdict:
        if type(event) is BookSnapshot:
            self.synced = True
            return Verdict.APPLY
        return Verdict.APPLY if self.synced else Verdict.STALE

    def verify(self, book: OrderBook) -> bool:
        """Coinbase sends no checksum."""
        return True


# -- the adapter --------------------------------------------------------------------------------------------------
class CoinbaseAdapter(MarketAdapter):
    """Coinbase Advanced Trade public market data over one WebSocket connection (all products on it)."""

    name = "coinbase"
    default_endpoints = VenueEndpoints(ws="wss://advanced-trade-ws.coinbase.com", rest="https://api.coinbase.com")
    numbered_trades = True

    resync_timeout = 2.0
    """Seconds to wait for the resubscribe's snapshots before asking again (the snapshot itself may be lost)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tracker = SequenceTracker()
        self._resubscribing: asyncio.Task[None] | None = None
        self._book_synced = asyncio.Event()

    async def validate(self) -> None:
        listed = await self.list_symbols("/api/v3/brokerage/market/products", listed_products, what="products")
        check_known("coinbase", self.symbols, listed)

    def book_rule(self, symbol: str) -> SnapshotFirst:
        return SnapshotFirst()

    def build_connections(self) -> list[Connection]:
        return [self.connection(self.endpoints.ws.rstrip("/") or self.endpoints.ws, "coinbase-0",
                                on_connect=self._subscribe, on_disconnect=self.unsync_all)]

    def subscribe_messages(self) -> list[str]:
        """What to send after every connect: one message per channel, heartbeats always (keeps quiet feeds open)."""
        products = [venue_symbol(s) for s in self.symbols]
        messages = [subscribe_message(CHANNEL_NAMES[c], products) for c in ("book", "trades", "ticker")
                    if c in self.channels]
        messages.append(subscribe_message("heartbeats", products))
        return messages

    async def _subscribe(self, conn: Connection) -> None:
        # Coinbase disconnects a client that has not subscribed within 5 s: send everything at once.
        self.tracker.reset()
        self.unsync_all()
        for message in self.subscribe_messages():
            await conn.send(message)

    # -- frames -----------------------------------------------------------------------------------------------
    def on_frame(self, frame: str | bytes, receipt_ns: int, conn: Connection) -> None:
        message = parse_message(frame)
        if message.get("type") == "error":
            log.warning("coinbase: error from the exchange: %s", message.get("message", message))
            return
        verdict = self.tracker.judge(message["sequence_num"])
        if verdict is Verdict.STALE:
            self._count_stale(message)
            return
        if verdict is Verdict.GAP:
            self._on_gap(conn)
        channel = message["channel"]
        if channel == "l2_data":
            conn.stats.observe_lag(parse_time(message["timestamp"]), receipt_ns)
            for event in parse_l2(message, receipt_ns):
                self._on_book(event, conn)
        elif channel == "market_trades":
            for trade in reversed(parse_trades(message, receipt_ns)):  # oldest first: trade ids in order
                if trade.symbol in self.sync:
                    self.emit(trade)
        elif channel == "ticker":
            for ticker in parse_tickers(message, receipt_ns):
                if ticker.symbol in self.sync:
                    self.emit(ticker)
        elif channel not in _IGNORED_CHANNELS:
            raise MalformedFrame(f"unknown channel {channel!r}")

    def _count_stale(self, message: Mapping[str, Any]) -> None:
        if message.get("channel") == "l2_data":
            for event in message.get("events", []):
                stats = self.sync.get(canonical_symbol(str(event.get("product_id", ""))))
                if stats is not None:
                    stats.stale += 1

    # -- the local book ---------------------------------------------------------------------------------------
    def _on_book(self, event: BookSnapshot | BookDelta, conn: Connection) -> None:
        rule: SnapshotFirst | None = self.rules.get(event.symbol)  # type: ignore[assignment]
        if rule is None:
            raise MalformedFrame(f"l2_data for an unsubscribed product {event.symbol!r}")
        self.settle(event.symbol, rule.judge(event), event, conn)

    def _on_gap(self, conn: Connection) -> None:
        """Frames were lost on the connection: every book on it is suspect, one resubscribe rebuilds them all."""
        if "book" not in self.channels:
            return
        for symbol in self.symbols:
            self.rules[symbol].reset()
            self.settle(symbol, Verdict.GAP, None, conn)

    def book_synced(self, symbol: str) -> None:
        self._book_synced.set()

    def resync_book(self, symbol: str, conn: Connection | None) -> None:
        """Resubscribe ``level2`` (Coinbase's only way to a fresh snapshot); one round at a time for all books."""
        if conn is not None and (self._resubscribing is None or self._resubscribing.done()):
            self._resubscribing = self.spawn(self._resubscribe_book(conn), "coinbase-resubscribe")

    async def _resubscribe_book(self, conn: Connection) -> None:
        """Unsubscribe then subscribe ``level2`` on the same socket until every book has its fresh snapshot.

        Gaps while this runs need nothing more (the coming snapshot supersedes what was lost), unless the lost
        frame was the snapshot itself: hence the timeout and another round (each round after the first counts as
        a resync of the books still waiting). At most two messages per round keeps well inside the 8 messages/s
        an unauthenticated client may send.
        """
        products = [venue_symbol(s) for s in self.symbols]
        first_round = True
        try:
            while conn.connected and not all(self.sync[s].synced for s in self.symbols):
                if not first_round:
                    for symbol in self.symbols:
                        if not self.sync[symbol].synced:
                            self.sync[symbol].resyncs += 1
                first_round = False
                self._book_synced.clear()
                await conn.send(subscribe_message("level2", products, "unsubscribe"))
                await conn.send(subscribe_message("level2", products))
                deadline = asyncio.get_running_loop().time() + self.resync_timeout
                while not all(self.sync[s].synced for s in self.symbols):
                    remaining = deadline - asyncio.get_running_loop().time()
                    if remaining <= 0:
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._book_synced.wait(), remaining)
                    self._book_synced.clear()
        except (ConnectionError, OSError, WebSocketException) as exc:  # the reconnect resubscribes anyway
            log.info("coinbase: resubscribe failed (%s); the reconnect will resubscribe", exc)

    # -- recent trades (warm start, hole fills) -------------------------------------------------------------------

    async def recent_trades(self, symbol: str, since_ns: int, max_rows: int = 100_000) -> list[Trade]:
        """Trades since ``since_ns``, oldest first: ``GET /api/v3/brokerage/market/products/{id}/ticker`` (public,
        no key) with ``limit=1000&start=&end=`` (UNIX seconds), newest first, paged back by ``end`` five a second
        (half of the public 10 requests/s)."""
        from .recent_trades import get_json, oldest_first

        path = f"/api/v3/brokerage/market/products/{venue_symbol(symbol)}/ticker"
        start_s, end_s, now = since_ns // 10**9, time.time_ns() // 10**9 + 1, time.time_ns()
        found: dict[str, Trade] = {}
        while len(found) < max_rows:
            body = await get_json(self, path, {"limit": 1000, "start": str(start_s), "end": str(end_s)})
            page = parse_rest_trades(body.get("trades") or [], now)
            found.update((t.trade_id, t) for t in page)
            oldest = min((t.exchange_ts for t in page if t.exchange_ts is not None), default=None)
            if len(page) < 1000 or oldest is None or oldest // 10**9 + 1 >= end_s:
                break
            end_s = oldest // 10**9 + 1  # the oldest second again: ids already seen are kept once
        return oldest_first(found.values(), since_ns, max_rows)


def parse_rest_trades(rows: Iterable[Mapping[str, Any]], receipt_ns: int) -> list[Trade]:
    """Trades of the public ``.../ticker`` answer as the ``market_trades`` channel's (taker side; no sequence)."""
    out = []
    for t in rows:
        side = _TAKER_SIDE.get(t["side"])
        if side is None:
            raise MalformedFrame(f"unknown trade side {t['side']!r}")
        out.append(Trade("coinbase", canonical_symbol(t["product_id"]), float(t["price"]), float(t["size"]), side,
                         str(t["trade_id"]), parse_time(t["time"]), receipt_ns))
    return out
