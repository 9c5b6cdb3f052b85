"""Deribit (JSON-RPC 2.0 over WebSocket): perpetuals, dated futures and options on one socket.

Names: ``BTC-USD-PERP`` is ``BTC-PERPETUAL``, ``BTC-USD-20261225`` is ``BTC-25DEC26`` (the day without a leading
zero: ``BTC-5JAN27``), ``BTC-USD-20261225-80000-C`` is ``BTC-25DEC26-80000-C``; a linear USDC market keeps its
quote in the name (``BTC-USDC-PERP`` is ``BTC_USDC-PERPETUAL``) and a fractional strike spells its point ``d``.

Channels: ``book.<inst>.100ms`` (a snapshot first, then changes; every notification's ``prev_change_id`` is the
previous one's ``change_id``: :class:`ChangeIdChain` is that rule without I/O, and a break resubscribes that one
book, which makes Deribit send a fresh snapshot), ``trades.<inst>.100ms`` and ``ticker.<inst>.100ms`` (top of book,
plus mark, index and funding for perpetuals, open interest for futures, and IVs, greeks and the underlying for
options). Deribit's IVs are percents (``mark_iv: 120.74``); :class:`~livefeed.derivatives.OptionTicker` carries
fractions.

Keep-alive: after ``public/set_heartbeat`` the server sends ``heartbeat`` notifications; one of type
``test_request`` must be answered with ``public/test`` or the server closes the connection. The heartbeats also
keep a socket of quiet option books from looking stalled.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from websockets.exceptions import WebSocketException

from ..book import OrderBook
from ..connection import Connection
from ..derivatives import FRAMES, Funding, Liquidation, OpenInterest, OptionTicker
from ..errors import LivefeedError, UnknownSymbolError
from ..model import BookDelta, BookSnapshot, Level, Side, Ticker, Trade
from ..naming import Instrument, Kind, parse_instrument
from ..symbols import check_known
from .base import MalformedFrame, MarketAdapter, VenueEndpoints, Verdict, decode_object

__all__ = [
    "DeribitAdapter",
    "ChangeIdChain",
    "BookMessage",
    "Listed",
    "venue_symbol",
    "canonical_symbol",
    "channel_names",
    "parse_book",
    "parse_trades",
    "parse_ticker",
    "listed_instruments",
]

log = logging.getLogger(__name__)

_MS = 1_000_000
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_MONTH = {name: i for i, name in enumerate(_MONTHS, 1)}
_CHANNELS = {"book": "book", "trades": "trades", "ticker": "ticker"}
_INTERVAL = "100ms"  # ``raw`` needs an authorised connection
_CHANNELS_PER_REQUEST = 100  # an assumed size per public/subscribe; Deribit limits the request rate (~3.3/s)
_REQUEST_GAP = 0.35  # seconds between subscribe requests past the first ten (Deribit's burst)
_RESUBSCRIBE_GATHER = 0.05  # seconds to gather the books that break together into one resubscribe
_MAX_IGNORED = 100  # changes ignored while awaiting a snapshot before subscribing again
_DERIBIT_KIND = {Kind.PERP: "future", Kind.FUTURE: "future", Kind.OPTION: "option"}
"""Deribit's own ``kind`` of each instrument kind (a perpetual is one of its futures)."""
_FUNDING_EVERY_NS = 1_000_000_000  # a perpetual's ticker comes every 100 ms; its funding row at most once a second


# -- names ------------------------------------------------------------------------------------------------------
def _prefix(instrument: Instrument) -> str:
    return instrument.base if instrument.quote == "USD" else f"{instrument.base}_{instrument.quote}"


def _day(day: dt.date) -> str:
    return f"{day.day}{_MONTHS[day.month - 1]}{day.year % 100:02d}"


def venue_symbol(symbol: str) -> str:
    """``BTC-USD-PERP`` -> ``BTC-PERPETUAL``, ``BTC-USD-20261225-80000-C`` -> ``BTC-25DEC26-80000-C``."""
    instrument = parse_instrument(symbol)
    prefix = _prefix(instrument)
    if instrument.kind is Kind.PERP:
        return f"{prefix}-PERPETUAL"
    if instrument.kind is Kind.FUTURE:
        return f"{prefix}-{_day(instrument.expiry)}"  # type: ignore[arg-type]
    if instrument.kind is Kind.OPTION:
        strike = instrument.strike or 0.0
        strike_text = str(int(strike)) if strike == int(strike) else repr(strike).replace(".", "d")
        return f"{prefix}-{_day(instrument.expiry)}-{strike_text}-{instrument.right}"  # type: ignore[arg-type]
    raise UnknownSymbolError(f"deribit: livefeed streams Deribit's perpetuals, futures and options, not {symbol!r}")


def _expiry(text: str) -> dt.date:
    day, month, year = text[:-5], text[-5:-2], text[-2:]
    if not (day.isdigit() and year.isdigit() and month in _MONTH):
        raise ValueError(f"not an expiry: {text!r}")
    return dt.date(2000 + int(year), _MONTH[month], int(day))


def canonical_symbol(name: str) -> str:
    """``BTC-25DEC26-80000-C`` -> ``BTC-USD-20261225-80000-C``; ``ValueError`` for a name of another shape (spot
    pairs, combos, indices)."""
    parts = name.split("-")
    base, _, quote = parts[0].partition("_")
    quote = quote or "USD"
    if not (base.isalnum() and quote.isalnum()) or len(parts) not in (2, 4):
        raise ValueError(f"not a Deribit perpetual, future or option: {name!r}")
    if len(parts) == 2:
        if parts[1] == "PERPETUAL":
            return f"{base}-{quote}-PERP"
        return f"{base}-{quote}-{_expiry(parts[1]).strftime('%Y%m%d')}"
    strike_text, right = parts[2].replace("d", "."), parts[3]
    if right not in ("C", "P"):
        raise ValueError(f"not a Deribit option: {name!r}")
    strike = float(strike_text)
    strike_part = str(int(strike)) if strike == int(strike) else repr(strike)
    return f"{base}-{quote}-{_expiry(parts[1]).strftime('%Y%m%d')}-{strike_part}-{right}"


def channel_names(symbols: Iterable[str], channels: Iterable[str]) -> list[str]:
    """Every ``<channel>.<instrument>.100ms`` to subscribe, books first (their snapshots matter most)."""
    wanted = [_CHANNELS[c] for c in ("book", "trades", "ticker") if c in set(channels)]
    names = [venue_symbol(s) for s in symbols]
    return [f"{channel}.{name}.{_INTERVAL}" for channel in wanted for name in names]


def _currency(instrument: Instrument) -> str:
    """The ``currency`` Deribit lists an instrument under: its settlement currency."""
    return instrument.base if instrument.quote == "USD" else instrument.quote


# -- the listing ------------------------------------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class Listed:
    """One instrument of ``public/get_instruments`` under its canonical name."""

    symbol: str
    venue_symbol: str
    kind: Kind
    base: str
    quote: str
    expiry_ts: int | None
    """Expiry in ns since the epoch (``None`` for a perpetual)."""
    strike: float | None
    right: str | None
    tick_size: float | None
    contract_size: float | None
    min_size: float | None
    settlement: str | None

    def as_row(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


def listed_instruments(body: Mapping[str, Any]) -> list[Listed]:
    """A ``public/get_instruments`` reply -> its active perpetuals, futures and options under canonical names
    (combos, spot pairs and other shapes are left out)."""
    if "error" in body:
        error = body["error"]
        raise LivefeedError(f"deribit: instrument listing failed: {error.get('code')} {error.get('message')}")
    listed = []
    for item in body["result"]:
        if not item.get("is_active", True) or item.get("kind") not in ("future", "option"):
            continue
        try:
            symbol = canonical_symbol(item["instrument_name"])
            instrument = parse_instrument(symbol)
        except (ValueError, UnknownSymbolError):  # a shape livefeed does not name (e.g. a pre-IPO future)
            continue
        expiry = item.get("expiration_timestamp")
        listed.append(Listed(
            symbol, item["instrument_name"], instrument.kind, instrument.base, instrument.quote,
            None if instrument.kind is Kind.PERP or expiry is None else int(expiry) * _MS,
            instrument.strike, instrument.right, item.get("tick_size"), item.get("contract_size"),
            item.get("min_trade_amount"), item.get("settlement_currency"),
        ))
    return listed


# -- pure parsers -----------------------------------------------------------------------------------------------
@dataclass(slots=True, frozen=True)
class BookMessage:
    """One ``book`` notification: levels as ``(price, amount)`` with a deleted level's amount ``0.0``."""

    is_snapshot: bool
    change_id: int
    prev_change_id: int | None
    bids: list[Level]
    asks: list[Level]
    ts_ms: int

    def to_event(self, symbol: str, receipt_ns: int) -> BookSnapshot | BookDelta:
        ts = self.ts_ms * _MS
        if self.is_snapshot:
            return BookSnapshot("deribit", symbol, self.bids, self.asks, ts, receipt_ns, self.change_id)
        return BookDelta("deribit", symbol, self.bids, self.asks, ts, receipt_ns, self.change_id, self.change_id)


def _levels(raw: Sequence[Sequence[Any]]) -> list[Level]:
    levels = []
    for action, price, amount in raw:
        if action == "delete":
            levels.append((float(price), 0.0))
        elif action in ("new", "change"):
            levels.append((float(price), float(amount)))
        else:
            raise MalformedFrame(f"unknown book action {action!r}")
    return levels


def parse_book(data: Mapping[str, Any]) -> BookMessage:
    """The ``data`` of a ``book.<inst>.<interval>`` notification; levels are ``[action, price, amount]``."""
    kind = data.get("type")
    if kind not in ("snapshot", "change"):
        raise MalformedFrame(f"unknown book type {kind!r}")
    try:
        bids, asks = _levels(data["bids"]), _levels(data["asks"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedFrame(f"bad book levels: {exc!r}") from None
    prev = data.get("prev_change_id")
    return BookMessage(kind == "snapshot", int(data["change_id"]), None if prev is None else int(prev), bids, asks,
                       int(data["timestamp"]))


_OPPOSITE = {Side.BUY: Side.SELL, Side.SELL: Side.BUY}


def parse_trades(items: Sequence[Mapping[str, Any]], symbol: str, receipt_ns: int,
                 ) -> tuple[list[Trade], list[Liquidation]]:
    """A ``trades`` notification's list; ``direction`` is the taker's side. A trade with ``liquidation`` ``T``
    (the taker was liquidated), ``M`` (the maker) or ``MT`` is also a :class:`Liquidation` per liquidated side."""
    trades, liquidations = [], []
    for item in items:
        direction = item["direction"]
        if direction not in ("buy", "sell"):
            raise MalformedFrame(f"unknown trade direction {direction!r}")
        side, price, size, ts = Side(direction), float(item["price"]), float(item["amount"]), int(item["timestamp"])
        seq = item.get("trade_seq")
        trades.append(Trade("deribit", symbol, price, size, side, str(item["trade_id"]), ts * _MS, receipt_ns,
                            None if seq is None else int(seq)))
        liquidated = item.get("liquidation") or ""
        for who in liquidated:
            order_side = side if who == "T" else _OPPOSITE[side]
            liquidations.append(Liquidation("deribit", symbol, order_side, price, size, ts * _MS, receipt_ns))
    return trades, liquidations


def _positive(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    return float(value) if value else None


def _iv(data: Mapping[str, Any], key: str) -> float | None:
    """Deribit sends IVs in percent (two decimals); ``0`` where there is no quote to imply one from. Rounded so that
    ``80.02`` is ``0.8002``, not ``0.8001999999999999``."""
    value = data.get(key)
    return round(float(value) / 100, 10) if value else None


def parse_ticker(data: Mapping[str, Any], symbol: str, kind: Kind, receipt_ns: int,
                 ) -> tuple[Ticker | None, Funding | None, OpenInterest | None, OptionTicker | None]:
    """A ``ticker`` notification as the events it carries: the top of book (``None`` while a side is empty), a
    perpetual's funding (``funding_8h`` as the rate: Deribit's funding accrues continuously, so there is no next
    funding time), a future's or perpetual's open interest (in USD for inverse contracts) and an option's quote."""
    ts = int(data["timestamp"]) * _MS
    bid, bid_size = _positive(data, "best_bid_price"), _positive(data, "best_bid_amount")
    ask, ask_size = _positive(data, "best_ask_price"), _positive(data, "best_ask_amount")
    mark, index = _positive(data, "mark_price"), _positive(data, "index_price")
    extra = {name: float(data[name]) for name in ("last_price", "mark_price", "index_price", "open_interest",
                                                  "current_funding", "funding_8h") if data.get(name) is not None}
    ticker = None
    if bid and bid_size and ask and ask_size:
        ticker = Ticker("deribit", symbol, bid, bid_size, ask, ask_size, ts, receipt_ns, extra=extra)
    funding = interest = option = None
    raw_interest = data.get("open_interest")
    if kind is Kind.PERP and mark is not None:
        rate = data.get("funding_8h")
        funding = Funding("deribit", symbol, mark, index, None if rate is None else float(rate), None, ts, receipt_ns)
    if kind in (Kind.PERP, Kind.FUTURE) and raw_interest is not None:
        value = float(raw_interest) if symbol.split("-")[1] == "USD" else None
        interest = OpenInterest("deribit", symbol, float(raw_interest), value, ts, receipt_ns)
    if kind is Kind.OPTION:
        greeks = data.get("greeks") or {}
        option = OptionTicker(
            "deribit", symbol, _positive(data, "underlying_price"), index, mark, bid, ask, bid_size, ask_size,
            _iv(data, "mark_iv"), _iv(data, "bid_iv") if bid else None, _iv(data, "ask_iv") if ask else None,
            *(None if greeks.get(g) is None else float(greeks[g]) for g in ("delta", "gamma", "vega", "theta")),
            None if raw_interest is None else float(raw_interest), ts, receipt_ns,
        )
    return ticker, funding, interest, option


# -- the integrity rule -----------------------------------------------------------------------------------------
class ChangeIdChain:
    """Deribit's book rule for one instrument, without I/O: a snapshot starts the chain, each change must name the
    last ``change_id`` as its ``prev_change_id``. After a ``GAP`` it waits for the next snapshot."""

    def __init__(self) -> None:
        self.synced = False
        self.last_change_id: int | None = None

    def reset(self) -> None:
        self.synced = False
        self.last_change_id = None

    def judge(self, message: BookMessage) -> Verdict:
        """``APPLY`` a snapshot or the next change of the chain; ``STALE`` for a change before any snapshot (in
        flight from before a resubscribe); ``GAP`` when ``prev_change_id`` is not the last ``change_id``."""
        if message.is_snapshot:
            self.synced = True
            self.last_change_id = message.change_id
            return Verdict.APPLY
        if not self.synced:
            return Verdict.STALE
        if message.prev_change_id != self.last_change_id:
            self.reset()
            return Verdict.GAP
        self.last_change_id = message.change_id
        return Verdict.APPLY

    def verify(self, book: OrderBook) -> bool:
        return True  # Deribit sends no checksum: the chain is the whole rule


# -- the adapter ------------------------------------------------------------------------------------------------
class DeribitAdapter(MarketAdapter):
    """Deribit public market data on one WebSocket (``public/subscribe`` in batches, heartbeats answered)."""

    name = "deribit"
    default_endpoints = VenueEndpoints(ws="wss://www.deribit.com/ws/api/v2", rest="https://www.deribit.com/api/v2")
    frames = FRAMES

    @classmethod
    def normalize_target(cls, text: str) -> str:
        symbol = str(parse_instrument(text))
        venue_symbol(symbol)  # refuses spot with a clear error
        return symbol

    def __init__(self, *args: Any, heartbeat_interval: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(heartbeat_interval, bool) or not isinstance(heartbeat_interval, int | float) or not (
                math.isfinite(heartbeat_interval) and heartbeat_interval > 0):
            raise ValueError(f"deribit: heartbeat_interval must be a positive number of seconds (Deribit's least is "
                             f"10), got {heartbeat_interval!r}")
        self.heartbeat_interval = heartbeat_interval
        self.kinds = {s: parse_instrument(s).kind for s in self.symbols}
        self._by_name = {venue_symbol(s): s for s in self.symbols}
        self._ids = itertools.count(1)
        self._subscribe_ids: set[int] = set()
        # Symbols whose book snapshot is awaited after a (re)subscribe -> whether Deribit has confirmed the
        # subscription. A change before that is in flight from the old one; a change after it means the snapshot
        # was lost.
        self._awaiting: dict[str, bool] = {}
        self._ignored: dict[str, int] = dict.fromkeys(self.symbols, 0)
        self._to_resubscribe: set[str] = set()
        self._resubscriber: asyncio.Task[None] | None = None
        self._funding_at: dict[str, int] = {}
        self._interest: dict[str, float] = {}
        self.test_requests_answered = 0

    # -- listing and validation ---------------------------------------------------------------------------------
    async def list_instruments(self, kind: Kind | None = None) -> list[Listed]:
        """Every active instrument of ``kind`` (all kinds for ``None``): what ``livefeed.instruments`` asks."""
        return await self._listing("any", None if kind is None else _DERIBIT_KIND[kind])

    async def _listing(self, currency: str, kind: str | None = None) -> list[Listed]:
        """The active instruments Deribit lists under ``currency`` (``BTC``, ``ETH``, ``USDC``, ``any``), of one
        Deribit ``kind`` (``future`` includes perpetuals, ``option``) or all."""
        params = {"currency": currency, "expired": "false", **({"kind": kind} if kind else {})}
        listed: list[Listed] = await self.list_symbols("/public/get_instruments", listed_instruments, params,
                                                       what="instruments")
        return listed

    async def validate(self) -> None:
        currencies = sorted({_currency(parse_instrument(s)) for s in self.symbols})
        listed: set[str] = set()
        for currency in currencies:
            listed.update(item.symbol for item in await self._listing(currency))
        check_known("deribit", self.symbols, listed)

    # -- connection -----------------------------------------------------------------------------------------------
    def book_rule(self, symbol: str) -> ChangeIdChain:
        return ChangeIdChain()

    def request(self, method: str, params: Mapping[str, Any]) -> tuple[int, str]:
        """A JSON-RPC request with a fresh id: ``(id, text)``."""
        request_id = next(self._ids)
        return request_id, orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": method,
                                         "params": params}).decode()

    def build_connections(self) -> list[Connection]:
        async def on_connect(c: Connection) -> None:
            if "book" in self.channels:
                self._awaiting = dict.fromkeys(self.symbols, False)
            await c.send(self.request("public/set_heartbeat", {"interval": self.heartbeat_interval})[1])
            names = channel_names(self.symbols, self.channels)
            for i, start in enumerate(range(0, len(names), _CHANNELS_PER_REQUEST)):
                if i >= 10:
                    await asyncio.sleep(_REQUEST_GAP)
                await c.send(self._subscribe(names[start : start + _CHANNELS_PER_REQUEST]))

        def on_disconnect() -> None:
            self.unsync_all()
            self._awaiting.clear()
            self._subscribe_ids.clear()
            self._to_resubscribe.clear()

        return [self.connection(self.endpoints.ws, "deribit-0", on_connect=on_connect, on_disconnect=on_disconnect)]

    def _subscribe(self, names: list[str]) -> str:
        request_id, text = self.request("public/subscribe", {"channels": names})
        self._subscribe_ids.add(request_id)
        return text

    # -- frames ---------------------------------------------------------------------------------------------------
    def on_frame(self, frame: str | bytes, receipt_ns: int, conn: Connection) -> None:
        message = decode_object(frame)
        method = message.get("method")
        if method == "subscription":
            params = message.get("params")
            if not isinstance(params, dict):
                raise MalformedFrame(f"unexpected frame: {str(message)[:120]}")
            self._on_notification(str(params.get("channel", "")), params.get("data"), receipt_ns, conn)
        elif method == "heartbeat":
            if (message.get("params") or {}).get("type") == "test_request":
                self._answer_test_request(conn)
        elif "id" in message:
            self._on_response(message)
        else:
            raise MalformedFrame(f"unexpected frame: {str(message)[:120]}")

    def _on_notification(self, channel: str, data: Any, receipt_ns: int, conn: Connection) -> None:
        kind, _, rest = channel.partition(".")
        name = rest.rpartition(".")[0]
        symbol = self._by_name.get(name)
        if symbol is None:
            raise MalformedFrame(f"notification for an unsubscribed channel: {channel[:120]}")
        if kind == "book":
            if not isinstance(data, dict):
                raise MalformedFrame(f"bad book data on {channel}")
            conn.stats.observe_lag(int(data["timestamp"]) * _MS, receipt_ns)
            self._on_book(parse_book(data), symbol, receipt_ns, conn)
        elif kind == "trades":
            if not isinstance(data, list):
                raise MalformedFrame(f"bad trades data on {channel}")
            trades, liquidations = parse_trades(data, symbol, receipt_ns)
            for event in (*trades, *liquidations):
                self.emit(event)
        elif kind == "ticker":
            if not isinstance(data, dict):
                raise MalformedFrame(f"bad ticker data on {channel}")
            self._on_ticker(data, symbol, receipt_ns)
        else:
            raise MalformedFrame(f"unknown channel {channel[:120]!r}")

    def _on_ticker(self, data: Mapping[str, Any], symbol: str, receipt_ns: int) -> None:
        ticker, funding, interest, option = parse_ticker(data, symbol, self.kinds[symbol], receipt_ns)
        if ticker is not None:
            self.emit(ticker)
        if funding is not None:
            ts = funding.exchange_ts or 0
            if ts - self._funding_at.get(symbol, -_FUNDING_EVERY_NS) >= _FUNDING_EVERY_NS:
                self._funding_at[symbol] = ts
                self.emit(funding)
        if interest is not None and self._interest.get(symbol) != interest.open_interest:
            self._interest[symbol] = interest.open_interest
            self.emit(interest)
        if option is not None:
            self.emit(option)

    def _on_response(self, message: Mapping[str, Any]) -> None:
        if "error" in message:
            error = message["error"] or {}
            log.warning("deribit: request %s failed: %s %s", message.get("id"), error.get("code"),
                        error.get("message"))
            return
        request_id = message.get("id")
        if request_id in self._subscribe_ids:
            self._subscribe_ids.discard(request_id)  # type: ignore[arg-type]
            for channel in message.get("result") or ():
                kind, _, rest = str(channel).partition(".")
                symbol = self._by_name.get(rest.rpartition(".")[0])
                if kind == "book" and symbol in self._awaiting:
                    self._awaiting[symbol] = True

    def _answer_test_request(self, conn: Connection) -> None:
        text = self.request("public/test", {})[1]

        async def answer() -> None:
            try:
                await conn.send(text)
                self.test_requests_answered += 1
            except (ConnectionError, OSError, WebSocketException) as exc:  # the reconnect starts over
                log.info("deribit: could not answer a test_request (%s)", exc)

        self.spawn(answer(), "deribit-test-request")

    # -- the local book -------------------------------------------------------------------------------------------
    def _on_book(self, message: BookMessage, symbol: str, receipt_ns: int, conn: Connection) -> None:
        rule: ChangeIdChain = self.rules[symbol]  # type: ignore[assignment]
        verdict = rule.judge(message)
        if self.settle(symbol, verdict, message.to_event(symbol, receipt_ns), conn) is Verdict.STALE:
            self._ignored[symbol] += 1
            # Confirmed but no snapshot came (it was lost), or no confirmation after many changes: ask again.
            if self._awaiting.get(symbol, True) or self._ignored[symbol] > _MAX_IGNORED:
                self.sync[symbol].resyncs += 1
                self.resync_book(symbol, conn)

    def book_synced(self, symbol: str) -> None:
        self._awaiting.pop(symbol, None)
        self._ignored[symbol] = 0

    def resync_book(self, symbol: str, conn: Connection | None) -> None:
        """Unsubscribe and subscribe the book's channel: Deribit answers with a fresh snapshot. Books that break
        together (a lost frame of many, a hiccup) go in one request pair, since Deribit limits the request rate."""
        if conn is None:
            return
        self._awaiting[symbol] = False
        self._ignored[symbol] = 0
        self._to_resubscribe.add(symbol)
        if self._resubscriber is None or self._resubscriber.done():
            self._resubscriber = self.spawn(self._resubscribe(conn), "deribit-resubscribe")

    async def _resubscribe(self, conn: Connection) -> None:
        try:
            while self._to_resubscribe:
                await asyncio.sleep(_RESUBSCRIBE_GATHER)
                symbols, self._to_resubscribe = sorted(self._to_resubscribe), set()
                channels = channel_names(symbols, ["book"])
                for start in range(0, len(channels), _CHANNELS_PER_REQUEST):
                    chunk = channels[start : start + _CHANNELS_PER_REQUEST]
                    await conn.send(self.request("public/unsubscribe", {"channels": chunk})[1])
                    await conn.send(self._subscribe(chunk))
        except (ConnectionError, OSError, WebSocketException) as exc:  # a reconnect resubscribes everything
            self._to_resubscribe.clear()
            log.info("deribit: resubscribing books failed (%s)", exc)
