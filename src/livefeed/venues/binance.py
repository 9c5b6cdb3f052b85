"""Binance spot: ``trade``, ``depth@100ms`` diffs and ``bookTicker`` over the combined stream.

The local book follows Binance's documented procedure (developers.binance.com, "How to manage a local order book
correctly"): buffer the diff stream, take the REST snapshot, drop events with ``u <= lastUpdateId``, require the
first applied event to straddle ``lastUpdateId + 1``, then require every event's ``U`` to be the previous ``u + 1``.
On a gap the book is rebuilt from a fresh snapshot while the socket stays up. :class:`DepthSequencer` is that rule
as a pure state machine; :class:`BinanceAdapter` does the I/O around it (``MarketAdapter.settle`` the bookkeeping).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

try:
    import msgspec
except ImportError:  # no wheel for this platform: every frame takes the orjson path
    msgspec = None  # type: ignore[assignment]

from ..audit import BookAudit
from ..book import OrderBook
from ..connection import Connection
from ..model import BookDelta, BookSnapshot, Side, Ticker, Trade
from ..redact import redact_text
from ..symbols import check_known
from .base import MalformedFrame, VenueEndpoints, Verdict, decode_object
from .binance_streams import BinanceStreams

__all__ = [
    "BinanceAdapter",
    "DepthSequencer",
    "MalformedFrame",
    "stream_names",
    "parse_trade",
    "parse_depth",
    "parse_book_ticker",
    "parse_snapshot",
    "MAX_STREAMS_PER_CONNECTION",
    "DEFAULT_SNAPSHOT_LIMIT",
]

log = logging.getLogger(__name__)

MAX_STREAMS_PER_CONNECTION = 1024
DEFAULT_SNAPSHOT_LIMIT = 5000
"""Levels per side of the REST depth snapshot (Binance's largest; weight 250 of the 6,000/min budget)."""
SNAPSHOT_LIMITS = (5, 10, 20, 50, 100, 500, 1000, 5000)
_SUBSCRIBE_CHUNK = 200  # streams per SUBSCRIBE message
_SUBSCRIBE_PACE = 0.25  # seconds between control messages: Binance allows 5 incoming messages/s
_MS = 1_000_000


def venue_symbol(symbol: str) -> str:
    """``BTC-USDT`` -> ``BTCUSDT``."""
    return symbol.replace("-", "")


def stream_names(symbol: str, channels: set[str]) -> list[str]:
    s = venue_symbol(symbol).lower()
    names = []
    if "trades" in channels:
        names.append(f"{s}@trade")
    if "book" in channels:
        names.append(f"{s}@depth@100ms")
    if "ticker" in channels:
        names.append(f"{s}@bookTicker")
    return names


def parse_trade(data: Mapping[str, Any], symbol: str, receipt_ns: int) -> Trade:
    # m: "is the buyer the market maker" -> the taker sold
    return Trade(
        "binance", symbol, float(data["p"]), float(data["q"]), Side.SELL if data["m"] else Side.BUY,
        str(data["t"]), data["T"] * _MS, receipt_ns, data["t"],
    )


def parse_depth(data: Mapping[str, Any], symbol: str, receipt_ns: int) -> BookDelta:
    return BookDelta(
        "binance", symbol,
        [(float(p), float(q)) for p, q in data["b"]],
        [(float(p), float(q)) for p, q in data["a"]],
        data["E"] * _MS, receipt_ns, data["u"], data["U"],
    )


if msgspec is not None:

    class _Depth(msgspec.Struct, gc=False):
        """A ``depthUpdate``'s fields, levels decoded straight to float pairs (``strict=False``: numeric strings)."""

        e: str
        E: int
        s: str
        U: int
        u: int
        b: list[tuple[float, float]]
        a: list[tuple[float, float]]

    class _Combined(msgspec.Struct, gc=False):
        stream: str
        data: _Depth

    _decode_combined = msgspec.json.Decoder(_Combined, strict=False).decode


def decode_depth(frame: str | bytes) -> Any:
    """The ``data`` of a combined-stream depth frame as typed fields (``E``, ``s``, ``U``, ``u``, ``b``, ``a``),
    prices and sizes already floats, in one C pass (~5 us against ~20 us for ``orjson`` plus comprehensions;
    bench/decoding.py); ``None`` for any other frame, which takes the general path. Floats equal ``float(text)``.
    Binance writes the stream name first, so a look at the frame's head keeps trades from failing a typed decode."""
    if msgspec is None:
        return None
    head = frame[:64]
    if ("@depth" if isinstance(head, str) else b"@depth") not in head:  # type: ignore[operator]
        return None
    try:
        depth = _decode_combined(frame).data
    except msgspec.MsgspecError:
        return None  # malformed or another shape: the general path says why
    return depth if depth.e == "depthUpdate" else None


def parse_book_ticker(data: Mapping[str, Any], symbol: str, receipt_ns: int) -> Ticker:
    return Ticker(
        "binance", symbol, float(data["b"]), float(data["B"]), float(data["a"]), float(data["A"]),
        None, receipt_ns, data["u"],
    )


def listed_symbols(body: Mapping[str, Any]) -> dict[str, str]:
    """``exchangeInfo`` reply -> ``{"BTC-USDT": "BTCUSDT"}`` for symbols in ``TRADING`` status."""
    return {
        f"{s['baseAsset']}-{s['quoteAsset']}": s["symbol"]
        for s in body["symbols"]
        if s.get("status", "TRADING") == "TRADING"
    }


def parse_snapshot(body: Mapping[str, Any], symbol: str, receipt_ns: int) -> BookSnapshot:
    return BookSnapshot(
        "binance", symbol,
        [(float(p), float(q)) for p, q, *_ in body["bids"]],
        [(float(p), float(q)) for p, q, *_ in body["asks"]],
        None, receipt_ns, body["lastUpdateId"],
    )


class DepthSequencer:
    """Binance's local-book rule for one symbol, without I/O.

    Feed it every diff with :meth:`judge`: ``APPLY`` (in sequence), ``STALE`` (``u`` at or below the book's update
    id), ``GAP`` (ids missed: take a new snapshot) or ``BUFFERED`` (no snapshot yet: kept until one arrives). On
    ``BUFFERED`` fetch a snapshot and hand its ``lastUpdateId`` to :meth:`start`, which returns the buffered diffs
    to apply on top of it, or ``STALE`` for a snapshot older than the first buffered diff (fetch again).
    """

    def __init__(self, max_buffer: int = 10_000) -> None:
        self.last_id: int | None = None
        self.buffer: deque[BookDelta] = deque(maxlen=max_buffer)
        self._straddle_next = False

    @property
    def synced(self) -> bool:
        return self.last_id is not None

    def reset(self) -> None:
        self.last_id = None
        self.buffer.clear()
        self._straddle_next = False

    def verify(self, book: OrderBook) -> bool:
        """Binance has no checksum: a diff in sequence is the whole proof."""
        return True

    def judge(self, delta: BookDelta) -> Verdict:
        if self.last_id is None:
            self.buffer.append(delta)
            return Verdict.BUFFERED
        return self._check(delta)

    def _check(self, delta: BookDelta) -> Verdict:
        first, last = delta.first_sequence, delta.sequence
        assert first is not None and last is not None and self.last_id is not None
        if last <= self.last_id:
            return Verdict.STALE
        expected = self.last_id + 1
        in_sequence = first <= expected if self._straddle_next else first == expected
        if not in_sequence:
            self.reset()
            self.buffer.append(delta)  # newer than anything applied: may follow the next snapshot
            return Verdict.GAP
        self.last_id = last
        self._straddle_next = False
        return Verdict.APPLY

    def start(self, snapshot_id: int) -> tuple[Verdict, list[BookDelta]]:
        """Start from a snapshot whose ``lastUpdateId`` is ``snapshot_id``."""
        buffer = self.buffer
        # The docs say "refetch if lastUpdateId < first U"; a snapshot at exactly U - 1 joins the stream
        # perfectly, so only one that leaves ids uncovered is refused.
        if buffer and snapshot_id + 1 < buffer[0].first_sequence:  # type: ignore[operator]
            return Verdict.STALE, []
        while buffer and buffer[0].sequence <= snapshot_id:  # type: ignore[operator]
            buffer.popleft()
        pending = list(buffer)
        buffer.clear()
        self.last_id = snapshot_id
        self._straddle_next = True
        in_sequence = []
        for i, delta in enumerate(pending):
            verdict = self._check(delta)
            if verdict is Verdict.GAP:
                self.buffer.extend(pending[i + 1 :])
                return Verdict.GAP, []
            if verdict is Verdict.APPLY:  # a duplicate behind the last applied id is STALE: dropped
                in_sequence.append(delta)
        return Verdict.APPLY, in_sequence


class BinanceAdapter(BinanceStreams):
    """Binance spot market data over ``/stream`` with live ``SUBSCRIBE`` messages."""

    name = "binance"
    default_endpoints = VenueEndpoints(ws="wss://stream.binance.com:9443", rest="https://api.binance.com")
    numbered_trades = True
    source_name = "binance"
    subscribe_chunk = _SUBSCRIBE_CHUNK
    subscribe_pace = _SUBSCRIBE_PACE

    def __init__(self, *args: Any, streams_per_connection: int = MAX_STREAMS_PER_CONNECTION,
                 snapshot_limit: int = DEFAULT_SNAPSHOT_LIMIT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not 0 < streams_per_connection <= MAX_STREAMS_PER_CONNECTION:
            raise ValueError(f"streams_per_connection must be 1..{MAX_STREAMS_PER_CONNECTION}")
        if snapshot_limit not in SNAPSHOT_LIMITS:
            raise ValueError(f"snapshot_limit must be one of {SNAPSHOT_LIMITS} (Binance's depth limits), "
                             f"got {snapshot_limit!r}")
        self.streams_per_connection = streams_per_connection
        self.snapshot_limit = snapshot_limit
        self._by_venue_symbol = {venue_symbol(s): s for s in self.symbols}
        self.book_audit = BookAudit("binance", self.symbols, ["book_ticker"] if "ticker" in self.channels else [])
        """bookTickers (and REST tops, ``Feed(audit_every=...)``) matched by update id against the books."""
        self._audit_pending = self.book_audit.pending  # the same dict: one look-up on the hot path

    async def validate(self) -> None:
        listed = await self.list_symbols("/api/v3/exchangeInfo", listed_symbols)
        check_known("binance", self.symbols, listed)

    def build_connections(self) -> list[Connection]:
        groups: list[list[str]] = [[]]
        for streams in (stream_names(s, self.channels) for s in self.symbols):
            if groups[-1] and len(groups[-1]) + len(streams) > self.streams_per_connection:
                groups.append([])
            groups[-1].extend(streams)
        connections = []
        for index, streams in enumerate(groups):
            symbols = sorted({self._by_venue_symbol[name.split("@")[0].upper()] for name in streams})
            connections.append(self._connection(index, streams, symbols))
            self.connection_symbols[connections[-1].name] = symbols
        return connections

    def book_rule(self, symbol: str) -> DepthSequencer:
        return DepthSequencer()

    def _connection(self, index: int, streams: list[str], symbols: list[str]) -> Connection:
        return self.connection(f"{self.endpoints.ws.rstrip('/')}/stream", f"binance-{index}",
                               on_connect=self.subscriber(streams), on_disconnect=lambda: self.unsync_all(symbols))

    # -- frames -----------------------------------------------------------------------------------------------

    def on_frame(self, frame: str | bytes, receipt_ns: int, conn: Connection) -> None:
        depth = decode_depth(frame)
        if depth is not None:  # the bulk of the traffic, decoded in one pass
            symbol = self._by_venue_symbol.get(depth.s)
            if symbol is not None:
                conn.stats.observe_lag(depth.E * _MS, receipt_ns)
                delta = BookDelta("binance", symbol, depth.b, depth.a, depth.E * _MS, receipt_ns, depth.u, depth.U)
                self.settle(symbol, self.rules[symbol].judge(delta), delta, conn)  # type: ignore[attr-defined]
                if self._audit_pending:
                    self._audit_settle(symbol, conn)
                return
        message = decode_object(frame)
        data = message.get("data")
        if data is None:
            self.on_control(message)
            return
        symbol = self._by_venue_symbol.get(data.get("s", ""))
        if symbol is None:
            raise MalformedFrame(f"frame for an unsubscribed symbol: {str(message)[:120]}")
        kind = data.get("e")
        if kind == "depthUpdate":
            conn.stats.observe_lag(data["E"] * _MS, receipt_ns)
            delta = parse_depth(data, symbol, receipt_ns)
            self.settle(symbol, self.rules[symbol].judge(delta), delta, conn)  # type: ignore[attr-defined]
            if self._audit_pending:
                self._audit_settle(symbol, conn)
        elif kind == "trade":
            conn.stats.observe_lag(data["E"] * _MS, receipt_ns)
            self.emit(parse_trade(data, symbol, receipt_ns))
        elif kind is None and "u" in data and "b" in data:
            ticker = parse_book_ticker(data, symbol, receipt_ns)
            self.emit(ticker)
            if "book" in self.channels:
                top = (ticker.bid_price, ticker.bid_size, ticker.ask_price, ticker.ask_size)
                self.audit_reference(symbol, "book_ticker", data["u"], top, conn)
        else:
            raise MalformedFrame(f"unknown event {kind!r}")

    # -- the local book ---------------------------------------------------------------------------------------

    def depth_stream(self, symbol: str) -> str:
        return f"{venue_symbol(symbol).lower()}@depth@100ms"

    def unsync(self, symbol: str) -> None:
        super().unsync(symbol)
        self.book_audit.forget(symbol)

    def snapshot_installed(self, symbol: str) -> None:
        if self._audit_pending:
            self._audit_settle(symbol, self.connection_of(symbol))

    async def fetch_snapshot(self, symbol: str) -> BookSnapshot | None:
        params = {"symbol": venue_symbol(symbol), "limit": self.snapshot_limit}
        body = await self.rest_json("/api/v3/depth", symbol, params, "snapshot")
        if body is None:
            return None
        try:
            return parse_snapshot(body, symbol, time.time_ns())
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("binance %s: snapshot body is not a depth snapshot (%s: %s)", symbol, type(exc).__name__,
                        redact_text(str(exc))[:200])
            return None

    # -- live audit ---------------------------------------------------------------------------------------------

    def audit_reference(self, symbol: str, kind: str, update_id: int, top: tuple[float, float, float, float],
                        conn: Connection | None) -> None:
        """The venue's top of ``symbol``'s book at ``update_id`` (a bookTicker, a REST depth): matched against the
        book at that id (see :mod:`livefeed.audit`); a disagreement resyncs the book."""
        synced = self.sync[symbol].synced
        if not self.book_audit.reference(symbol, kind, update_id, top, self.books[symbol], synced):
            self._audit_resync(symbol, conn)

    def _audit_settle(self, symbol: str, conn: Connection | None) -> None:
        if symbol in self._audit_pending and not self.book_audit.settle(symbol, self.books[symbol]):
            self._audit_resync(symbol, conn)

    def _audit_resync(self, symbol: str, conn: Connection | None) -> None:
        stats = self.sync[symbol]
        stats.resyncs += 1
        self.unsync(symbol)
        self.resync_book(symbol, conn)

    async def audit_rest_top(self, symbol: str) -> None:
        """One REST check of ``symbol``'s book: ``GET /api/v3/depth?limit=5`` (weight 5 of the 6,000/min), its
        best levels at ``lastUpdateId`` matched like a bookTicker (``rest_top`` in ``feed.audit()``)."""
        from .recent_trades import get_json

        body = await get_json(self, "/api/v3/depth", {"symbol": venue_symbol(symbol), "limit": 5})
        bids, asks = body.get("bids") or [], body.get("asks") or []
        if bids and asks:
            top = (float(bids[0][0]), float(bids[0][1]), float(asks[0][0]), float(asks[0][1]))
            self.audit_reference(symbol, "rest_top", int(body["lastUpdateId"]), top, self.connection_of(symbol))

    # -- recent trades (warm start, hole fills) -------------------------------------------------------------------

    def trades_missing(self, symbol: str, first_missing: int, last_missing: int) -> None:
        """Fill the hole from REST (see :class:`livefeed.backfill.TradeHoleFiller`): rows ``origin="gapfill"``."""
        from ..backfill import fill_trade_hole

        fill_trade_hole(self, symbol, first_missing, last_missing)

    async def recent_trades(self, symbol: str, since_ns: int, max_rows: int = 100_000) -> list[Trade]:
        """Trades since ``since_ns``, oldest first, ids as the ``trade`` stream's ``t``.

        ``GET /api/v3/aggTrades?startTime=`` (weight 4) gives the first trade id at ``since_ns`` (an aggregate's
        ``f``), then ``GET /api/v3/historicalTrades?fromId=&limit=1000`` (weight 25 each, public market data) pages
        forward to the newest trade; pages are paced one a second (a quarter of the 6,000/min budget), so a busy
        market's 15 minutes (tens of thousands of trades) take a while: ``max_rows`` stops it sooner.
        """
        from .recent_trades import get_json, oldest_first

        name = venue_symbol(symbol)
        first = await get_json(self, "/api/v3/aggTrades",
                               {"symbol": name, "startTime": since_ns // _MS, "limit": 1})
        if not first:
            return []
        return oldest_first(await self.trades_from_id(symbol, int(first[0]["f"]), max_rows), since_ns, max_rows)

    async def trades_from_id(self, symbol: str, first_id: int, max_rows: int = 100_000,
                             last_id: int | None = None) -> list[Trade]:
        """Trades with ids from ``first_id`` (to ``last_id``, else the newest), oldest first, at most ``max_rows``:
        ``GET /api/v3/historicalTrades?fromId=`` pages of 1,000 (weight 25 each)."""
        from .recent_trades import get_json

        name, out, next_id, now = venue_symbol(symbol), [], first_id, time.time_ns()
        while len(out) < max_rows and (last_id is None or next_id <= last_id):
            page = await get_json(self, "/api/v3/historicalTrades", {"symbol": name, "fromId": next_id, "limit": 1000})
            for row in page:
                if last_id is not None and row["id"] > last_id:
                    break
                out.append(parse_rest_trade(row, symbol, now))
            if len(page) < 1000:
                break
            next_id = int(page[-1]["id"]) + 1
        return out[:max_rows]


def parse_rest_trade(row: Mapping[str, Any], symbol: str, receipt_ns: int) -> Trade:
    """One ``/api/v3/historicalTrades`` (or ``/trades``) row as the ``trade`` stream's :class:`Trade`."""
    return Trade("binance", symbol, float(row["price"]), float(row["qty"]),
                 Side.SELL if row["isBuyerMaker"] else Side.BUY, str(row["id"]), row["time"] * _MS, receipt_ns,
                 row["id"])
