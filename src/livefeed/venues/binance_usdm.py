"""Binance USD-M futures: perpetuals and dated futures over ``fstream``'s combined stream.

Trades (``aggTrade``), the diff book (``depth@100ms``), ``bookTicker``, mark price and funding (``markPrice@1s``),
liquidations (``forceOrder``) and open interest (REST ``/fapi/v1/openInterest``, polled). Streams go to Binance's
routed endpoints (``/public/stream`` for depth and bookTicker, ``/market/stream`` for the rest; the un-routed
``/stream`` was retired on 2026-04-23), each with live ``SUBSCRIBE`` messages.

The local book follows Binance's futures procedure ("How to manage a local order book correctly", USD-M):
buffer the diffs, take the REST snapshot, drop diffs with ``u < lastUpdateId``, the first diff applied must have
``U <= lastUpdateId <= u``, and from then on each diff's ``pu`` must equal the previous diff's ``u``. Futures
update ids are not contiguous (ids are shared across symbols), so spot's ``U == previous u + 1`` never holds, and
a spot-style ``lastUpdateId + 1`` straddle refuses the snapshot whenever it ends exactly at a diff's ``u`` (three
of the four snapshots in the recorded session do). :class:`PuSequencer` is that rule, pure;
:class:`BinanceUsdmAdapter` does the I/O around it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from ..book import OrderBook
from ..connection import Connection
from ..derivatives import FUNDING_FRAMES, Funding, Liquidation, OpenInterest
from ..errors import UnknownSymbolError
from ..model import BookDelta, BookSnapshot, Side, Ticker, Trade
from ..naming import Kind, parse_instrument
from ..symbols import check_known
from .base import MalformedFrame, VenueEndpoints, Verdict, decode_object
from .binance_streams import BinanceStreams

__all__ = [
    "BinanceUsdmAdapter",
    "PuSequencer",
    "venue_symbol",
    "stream_names",
    "route_of",
    "listed_symbols",
    "parse_agg_trade",
    "parse_depth",
    "parse_book_ticker",
    "parse_mark_price",
    "parse_force_order",
    "parse_open_interest",
    "parse_snapshot",
    "SNAPSHOT_LIMITS",
    "OPEN_INTEREST_MAX_PER_SECOND",
    "open_interest_spacing",
]

log = logging.getLogger(__name__)

VENUE = "binance"
SOURCE = "binance-usdm"
MAX_STREAMS_PER_CONNECTION = 1024
SNAPSHOT_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
DEFAULT_SNAPSHOT_LIMIT = 1000
"""Levels per side of ``/fapi/v1/depth`` (the largest futures limit; weight 20 of the 2,400/min IP budget)."""
OPEN_INTEREST_MAX_PER_SECOND = 10.0
"""``/fapi/v1/openInterest`` costs weight 1: at most 10 requests/s is 600 of the 2,400/min budget, a quarter,
leaving the rest to snapshots (20 each). More symbols than ``open_interest_every * 10`` stretch the cadence."""
LISTED_CONTRACTS = ("PERPETUAL", "CURRENT_QUARTER", "NEXT_QUARTER")
_SUBSCRIBE_CHUNK = 200
_SUBSCRIBE_PACE = 0.15  # seconds between control messages: USD-M allows 10 incoming messages/s
_MS = 1_000_000


# -- names ------------------------------------------------------------------------------------------------------
def venue_symbol(symbol: str) -> str:
    """``BTC-USDT-PERP`` -> ``BTCUSDT``; ``BTC-USDT-20261225`` -> ``BTCUSDT_261225``."""
    base, quote, suffix = symbol.split("-")
    return f"{base}{quote}" if suffix == "PERP" else f"{base}{quote}_{suffix[2:]}"


def stream_names(symbol: str, channels: set[str]) -> list[str]:
    """The streams of one instrument: the channels asked for, plus mark price / funding and liquidations."""
    s = venue_symbol(symbol).lower()
    names = []
    if "trades" in channels:
        names.append(f"{s}@aggTrade")
    if "book" in channels:
        names.append(f"{s}@depth@100ms")
    if "ticker" in channels:
        names.append(f"{s}@bookTicker")
    names += [f"{s}@markPrice@1s", f"{s}@forceOrder"]
    return names


def route_of(stream: str) -> str:
    """The routed endpoint that serves ``stream``: ``public`` (depth, bookTicker) or ``market`` (the others)."""
    kind = stream.split("@", 1)[1]
    return "public" if kind.startswith(("depth", "bookTicker")) else "market"


def listed_symbols(body: Mapping[str, Any]) -> set[str]:
    """``/fapi/v1/exchangeInfo`` -> canonical names of the perpetuals and quarterlies in ``TRADING`` status."""
    listed = set()
    for s in body["symbols"]:
        contract = s.get("contractType")
        if s.get("status") != "TRADING" or contract not in LISTED_CONTRACTS:
            continue
        pair = f"{s['baseAsset']}-{s['quoteAsset']}"
        if contract == "PERPETUAL":
            listed.add(f"{pair}-PERP")
        else:
            delivery = dt.datetime.fromtimestamp(s["deliveryDate"] / 1000, dt.UTC)
            listed.add(f"{pair}-{delivery:%Y%m%d}")
    return listed


def open_interest_spacing(every: float, symbols: int) -> float:
    """Seconds between two ``/fapi/v1/openInterest`` requests: each of ``symbols`` once every ``every`` s, but
    never more than :data:`OPEN_INTEREST_MAX_PER_SECOND` requests a second (weight 1 each)."""
    return max(every / symbols, 1 / OPEN_INTEREST_MAX_PER_SECOND)


# -- parsers ----------------------------------------------------------------------------------------------------
def parse_agg_trade(data: Mapping[str, Any], symbol: str, receipt_ns: int) -> Trade:
    # m: "is the buyer the market maker" -> the taker sold
    return Trade(VENUE, symbol, float(data["p"]), float(data["q"]), Side.SELL if data["m"] else Side.BUY,
                 str(data["a"]), data["T"] * _MS, receipt_ns, data["a"])


def parse_depth(data: Mapping[str, Any], symbol: str, receipt_ns: int) -> tuple[BookDelta, int]:
    """A ``depthUpdate`` -> (the delta, ids ``U``..``u``; its ``pu``: the ``u`` of the diff before it)."""
    delta = BookDelta(
        VENUE, symbol,
        [(float(p), float(q)) for p, q in data["b"]],
        [(float(p), float(q)) for p, q in data["a"]],
        data["E"] * _MS, receipt_ns, data["u"], data["U"],
    )
    return delta, data["pu"]


def parse_book_ticker(data: Mapping[str, Any], symbol: str, receipt_ns: int) -> Ticker:
    """Futures ``bookTicker`` (``"e":"bookTicker"``, with ``E`` and ``T``); ``u`` is the book's update id."""
    return Ticker(VENUE, symbol, float(data["b"]), float(data["B"]), float(data["a"]), float(data["A"]),
                  data["E"] * _MS, receipt_ns, data["u"])


def parse_mark_price(data: Mapping[str, Any], symbol: str, receipt_ns: int) -> Funding:
    """``markPriceUpdate``: a dated future sends ``"r": ""`` and ``"T": 0`` (no funding)."""
    rate, next_time = data.get("r", ""), data.get("T", 0)
    index = data.get("i", "")
    return Funding(VENUE, symbol, float(data["p"]), float(index) if index != "" else None,
                   float(rate) if rate != "" else None, next_time * _MS if next_time else None,
                   data["E"] * _MS, receipt_ns)


def parse_force_order(data: Mapping[str, Any], symbol: str, receipt_ns: int) -> Liquidation:
    """``forceOrder``: the liquidation order's side, its average fill price and filled size (order price and
    size while nothing has filled)."""
    order = data["o"]
    price = float(order.get("ap") or 0) or float(order["p"])
    size = float(order.get("z") or 0) or float(order["q"])
    side = Side.BUY if order["S"] == "BUY" else Side.SELL
    return Liquidation(VENUE, symbol, side, price, size, order["T"] * _MS, receipt_ns)


def parse_open_interest(body: Mapping[str, Any], symbol: str, receipt_ns: int) -> OpenInterest:
    """``/fapi/v1/openInterest``: ``{"openInterest": "10659.509", "symbol": "BTCUSDT", "time": ms}`` (base units)."""
    return OpenInterest(VENUE, symbol, float(body["openInterest"]), None, body["time"] * _MS, receipt_ns)


def parse_snapshot(body: Mapping[str, Any], symbol: str, receipt_ns: int) -> BookSnapshot:
    return BookSnapshot(
        VENUE, symbol,
        [(float(p), float(q)) for p, q, *_ in body["bids"]],
        [(float(p), float(q)) for p, q, *_ in body["asks"]],
        body["E"] * _MS if "E" in body else None, receipt_ns, body["lastUpdateId"],
    )


# -- the book rule ----------------------------------------------------------------------------------------------
class PuSequencer:
    """Binance USD-M's local-book rule for one symbol, without I/O.

    :meth:`judge` each diff with its ``pu``: ``BUFFERED`` before a snapshot (kept for :meth:`start`), then
    ``APPLY`` / ``STALE`` / ``GAP``. Right after a snapshot at ``lastUpdateId`` L: a diff with ``u < L`` is
    ``STALE``, the first applied one must have ``U <= L <= u`` (else ``GAP``). After that a diff applies only if
    its ``pu`` is the last applied ``u``; one wholly at or behind it is ``STALE``; anything else is a ``GAP`` (the
    rule resets and keeps that diff, which may follow the next snapshot). :meth:`start` takes the snapshot's L and
    returns the buffered diffs to apply on top of it, or ``STALE`` for a snapshot older than the first buffered diff.
    """

    def __init__(self, max_buffer: int = 10_000) -> None:
        self.last_id: int | None = None
        self.buffer: deque[tuple[BookDelta, int]] = deque(maxlen=max_buffer)
        self._first = False

    @property
    def synced(self) -> bool:
        return self.last_id is not None

    def reset(self) -> None:
        self.last_id = None
        self.buffer.clear()
        self._first = False

    def verify(self, book: OrderBook) -> bool:
        """Binance has no checksum: a diff in sequence is the whole proof."""
        return True

    def judge(self, delta: BookDelta, previous: int) -> Verdict:
        """``previous`` is the diff's ``pu``."""
        if self.last_id is None:
            self.buffer.append((delta, previous))
            return Verdict.BUFFERED
        return self._check(delta, previous)

    def _check(self, delta: BookDelta, previous: int) -> Verdict:
        first, last = delta.first_sequence, delta.sequence
        assert first is not None and last is not None and self.last_id is not None
        if self._first:
            if last < self.last_id:
                return Verdict.STALE
            in_sequence = first <= self.last_id
        else:
            if previous == self.last_id:
                in_sequence = True
            elif last <= self.last_id:
                return Verdict.STALE
            else:
                in_sequence = False
        if not in_sequence:
            self.reset()
            self.buffer.append((delta, previous))
            return Verdict.GAP
        self.last_id = last
        self._first = False
        return Verdict.APPLY

    def start(self, snapshot_id: int) -> tuple[Verdict, list[BookDelta]]:
        """Start from a snapshot whose ``lastUpdateId`` is ``snapshot_id``."""
        buffer = self.buffer
        if buffer and buffer[0][0].first_sequence > snapshot_id:  # type: ignore[operator]
            return Verdict.STALE, []  # the diff that covers the snapshot's id was never seen: fetch again
        while buffer and buffer[0][0].sequence < snapshot_id:  # type: ignore[operator]
            buffer.popleft()
        pending = list(buffer)
        buffer.clear()
        self.last_id = snapshot_id
        self._first = True
        in_sequence = []
        for i, (delta, previous) in enumerate(pending):
            verdict = self._check(delta, previous)
            if verdict is Verdict.GAP:
                self.buffer.extend(pending[i + 1 :])
                return Verdict.GAP, []
            if verdict is Verdict.APPLY:
                in_sequence.append(delta)
        return Verdict.APPLY, in_sequence


# -- the adapter ------------------------------------------------------------------------------------------------
class BinanceUsdmAdapter(BinanceStreams):
    """Binance USD-M perpetuals and quarterly futures over combined streams with live ``SUBSCRIBE`` messages.

    Since 2026-04-23 Binance serves USD-M streams only on routed endpoints: depth and ``bookTicker`` on
    ``/public/stream``, the other market streams on ``/market/stream`` (one stream category per connection), so
    each group of symbols has a ``binance-usdm-public-N`` connection (the books) and a ``binance-usdm-market-N``
    one. ``routed=False`` puts every stream on the legacy ``/stream`` (``binance-usdm-N``), for older gateways
    and captures.

    ``open_interest_every``: seconds between two ``/fapi/v1/openInterest`` polls of one symbol (0 turns polling
    off); requests are spread evenly and never more than :data:`OPEN_INTEREST_MAX_PER_SECOND`.
    """

    name = VENUE
    default_endpoints = VenueEndpoints(ws="wss://fstream.binance.com", rest="https://fapi.binance.com")
    frames = FUNDING_FRAMES
    source_name = SOURCE
    subscribe_chunk = _SUBSCRIBE_CHUNK
    subscribe_pace = _SUBSCRIBE_PACE

    @classmethod
    def normalize_target(cls, text: str) -> str:
        instrument = parse_instrument(text)
        if instrument.kind not in (Kind.PERP, Kind.FUTURE):
            raise UnknownSymbolError(f"{SOURCE} serves perpetuals and dated futures, not {instrument.kind} "
                                     f"({text!r}); write e.g. 'BTC-USDT-PERP' or 'BTC-USDT-20261225'")
        return str(instrument)

    def __init__(self, *args: Any, streams_per_connection: int = MAX_STREAMS_PER_CONNECTION,
                 snapshot_limit: int = DEFAULT_SNAPSHOT_LIMIT, open_interest_every: float = 10.0,
                 routed: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not 0 < streams_per_connection <= MAX_STREAMS_PER_CONNECTION:
            raise ValueError(f"streams_per_connection must be 1..{MAX_STREAMS_PER_CONNECTION}")
        if snapshot_limit not in SNAPSHOT_LIMITS:
            raise ValueError(f"snapshot_limit must be one of {SNAPSHOT_LIMITS} (Binance USD-M's depth limits), "
                             f"got {snapshot_limit!r}")
        if isinstance(open_interest_every, bool) or not isinstance(open_interest_every, int | float) \
                or not open_interest_every >= 0 or open_interest_every == float("inf"):
            raise ValueError(f"open_interest_every must be seconds >= 0 (0 = off), got {open_interest_every!r}")
        for symbol in self.symbols:
            self.normalize_target(symbol)
        self.streams_per_connection = streams_per_connection
        self.snapshot_limit = snapshot_limit
        self.open_interest_every = float(open_interest_every)
        self.routed = bool(routed)
        self._by_venue_symbol = {venue_symbol(s): s for s in self.symbols}

    async def validate(self) -> None:
        listed = await self.list_symbols("/fapi/v1/exchangeInfo", listed_symbols)
        check_known(VENUE, self.symbols, listed)

    def book_rule(self, symbol: str) -> PuSequencer:
        return PuSequencer()

    async def run(self) -> None:
        if self.open_interest_every > 0 and self.symbols:
            self.spawn(self._poll_open_interest(), f"{SOURCE}-open-interest")
        await super().run()

    def build_connections(self) -> list[Connection]:
        routes = ("public", "market") if self.routed else ("",)
        connections = []
        for route in routes:
            groups: list[list[str]] = [[]]
            for symbol in self.symbols:
                streams = [n for n in stream_names(symbol, self.channels) if not route or route_of(n) == route]
                if groups[-1] and len(groups[-1]) + len(streams) > self.streams_per_connection:
                    groups.append([])
                groups[-1].extend(streams)
            for index, streams in enumerate(g for g in groups if g):
                symbols = sorted({self._by_venue_symbol[name.split("@")[0].upper()] for name in streams})
                books = symbols if any("@depth" in name for name in streams) else []
                conn = self._connection(route, index, streams, books)
                connections.append(conn)
                if books:
                    self.connection_symbols[conn.name] = books
        return connections

    def _connection(self, route: str, index: int, streams: list[str], books: list[str]) -> Connection:
        """One ``/stream`` connection (on ``/<route>/stream`` when routed); ``books``: the books it carries."""
        path, name = (f"/{route}/stream", f"{SOURCE}-{route}-{index}") if route else ("/stream", f"{SOURCE}-{index}")
        return self.connection(f"{self.endpoints.ws.rstrip('/')}{path}", name, on_connect=self.subscriber(streams),
                               on_disconnect=lambda: self.unsync_all(books))

    # -- frames -----------------------------------------------------------------------------------------------
    def on_frame(self, frame: str | bytes, receipt_ns: int, conn: Connection) -> None:
        message = decode_object(frame)
        data = message.get("data")
        if data is None:
            self.on_control(message)
            return
        if not isinstance(data, dict):
            raise MalformedFrame(f"unexpected frame: {str(message)[:120]}")
        kind = data.get("e")
        name = data["o"].get("s", "") if kind == "forceOrder" and isinstance(data.get("o"), dict) else data.get("s")
        symbol = self._by_venue_symbol.get(name)  # type: ignore[arg-type]
        if symbol is None:
            raise MalformedFrame(f"frame for an unsubscribed symbol: {str(message)[:120]}")
        if kind == "depthUpdate":
            conn.stats.observe_lag(data["E"] * _MS, receipt_ns)
            delta, previous = parse_depth(data, symbol, receipt_ns)
            rule: PuSequencer = self.rules[symbol]  # type: ignore[assignment]
            self.settle(symbol, rule.judge(delta, previous), delta, conn)
        elif kind == "aggTrade":
            conn.stats.observe_lag(data["E"] * _MS, receipt_ns)
            self.emit(parse_agg_trade(data, symbol, receipt_ns))
        elif kind == "bookTicker":
            self.emit(parse_book_ticker(data, symbol, receipt_ns))
        elif kind == "markPriceUpdate":
            self.emit(parse_mark_price(data, symbol, receipt_ns))
        elif kind == "forceOrder":
            self.emit(parse_force_order(data, symbol, receipt_ns))
        else:
            raise MalformedFrame(f"unknown event {kind!r}")

    # -- the local book ---------------------------------------------------------------------------------------
    def depth_stream(self, symbol: str) -> str:
        return f"{venue_symbol(symbol).lower()}@depth@100ms"

    async def fetch_snapshot(self, symbol: str) -> BookSnapshot | None:
        params = {"symbol": venue_symbol(symbol), "limit": self.snapshot_limit}
        body = await self.rest_json("/fapi/v1/depth", symbol, params, "snapshot")
        if body is None:
            return None
        try:
            return parse_snapshot(body, symbol, time.time_ns())
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("%s %s: snapshot body is not a depth snapshot (%s)", SOURCE, symbol, type(exc).__name__)
            return None

    async def _poll_open_interest(self) -> None:
        """Each symbol every ``open_interest_every`` s, requests spread evenly, at most 10/s (weight 1 each)."""
        spacing = open_interest_spacing(self.open_interest_every, len(self.symbols))
        while True:
            for symbol in self.symbols:
                body = await self.rest_json("/fapi/v1/openInterest", symbol, {"symbol": venue_symbol(symbol)},
                                            "open interest")
                if body is not None:
                    try:
                        self.emit(parse_open_interest(body, symbol, time.time_ns()))
                    except (KeyError, TypeError, ValueError) as exc:
                        log.warning("%s %s: open interest body of an unknown shape (%s)", SOURCE, symbol,
                                    type(exc).__name__)
                await asyncio.sleep(spacing)
