"""Kraken spot over WebSocket v2: ``book`` (CRC32-checked L2), ``trade`` and ``ticker``.

Kraken sends no sequence numbers; a book is kept honest by the CRC32 ``checksum`` on the snapshot and on every
update, computed over the top 10 asks and bids formatted at the pair's precision (docs.kraken.com, "Book checksum
(WebSocket v2)"). Updates carry absolute sizes, ``qty`` 0 deletes, and the client must truncate to the subscribed
depth itself because levels pushed out of scope are never deleted explicitly. On a mismatch the book is rebuilt
by unsubscribing and resubscribing that one symbol, which yields a fresh snapshot on the same socket.

:class:`BookIntegrity` is that rule without I/O; :class:`KrakenAdapter` does the I/O around it. The ``*_v1``
parsers read Kraken's older array format, kept for the recorded 2021 captures.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from ..book import OrderBook
from ..connection import Connection, KeepAlive
from ..errors import LivefeedError
from ..model import BookDelta, BookSnapshot, Level, Side, Ticker, Trade
from ..symbols import check_known
from .base import MalformedFrame, MarketAdapter, VenueEndpoints, Verdict, decode_object

__all__ = [
    "KrakenAdapter",
    "BookIntegrity",
    "MalformedFrame",
    "BOOK_DEPTHS",
    "venue_symbol",
    "canonical_symbol",
    "listed_symbols",
    "parse_timestamp",
    "parse_book",
    "parse_trades",
    "parse_ticker",
    "parse_instrument",
    "book_checksum",
    "checksum_string",
    "truncate",
    "parse_trade_v1",
    "parse_ticker_v1",
    "checksum_v1",
]

log = logging.getLogger(__name__)

BOOK_DEPTHS = (10, 25, 100, 500, 1000)
"""The depths Kraken's ``book`` channel accepts."""
CHECKSUM_LEVELS = 10
"""The checksum covers the top 10 levels per side whatever the subscribed depth."""
_V1_ALIASES = {"XBT": "BTC", "XDG": "DOGE"}
"""REST ``wsname`` and WebSocket v1 spell these the old way; v2 uses the common names."""


# -- symbols -------------------------------------------------------------------------------------------------------
def venue_symbol(symbol: str) -> str:
    """``BTC-USD`` -> ``BTC/USD`` (the v2 spelling)."""
    return symbol.replace("-", "/")


def canonical_symbol(pair: str) -> str:
    """``BTC/USD`` (v2) or ``XBT/USD`` (v1, REST ``wsname``) -> ``BTC-USD``."""
    base, _, quote = pair.partition("/")
    return f"{_V1_ALIASES.get(base, base)}-{_V1_ALIASES.get(quote, quote)}"


def listed_symbols(asset_pairs: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """Canonical symbol -> (price precision, qty precision) from a REST ``/0/public/AssetPairs`` body.

    ``pair_decimals`` / ``lot_decimals`` are the same numbers the ``instrument`` channel calls ``price_precision``
    / ``qty_precision``; pairs without a ``wsname`` (dark pools, index pairs) cannot be streamed and are left out.
    """
    if asset_pairs.get("error"):
        raise LivefeedError(f"kraken: AssetPairs returned errors: {asset_pairs['error']}")
    listed = {}
    for info in asset_pairs["result"].values():
        wsname = info.get("wsname")
        if wsname and info.get("status", "online") == "online":
            listed[canonical_symbol(wsname)] = (int(info["pair_decimals"]), int(info["lot_decimals"]))
    return listed


# -- parsing (v2) --------------------------------------------------------------------------------------------------
def parse_timestamp(text: str) -> int:
    """RFC 3339 with microseconds (``2023-10-06T17:35:55.440295Z``) -> int ns since the epoch, exactly."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = int(moment.replace(microsecond=0).timestamp())
    return seconds * 1_000_000_000 + moment.microsecond * 1_000


def _levels(raw: Iterable[Mapping[str, Any]]) -> list[Level]:
    return [(float(level["price"]), float(level["qty"])) for level in raw]


def parse_book(
    message: Mapping[str, Any], symbols: Mapping[str, str], receipt_ns: int
) -> list[tuple[BookSnapshot | BookDelta, int | None]]:
    """A ``book`` frame -> ``(event, checksum)`` per symbol; ``symbols`` maps v2 names to canonical ones."""
    snapshot = message["type"] == "snapshot"
    events: list[tuple[BookSnapshot | BookDelta, int | None]] = []
    for item in message["data"]:
        symbol = symbols.get(item["symbol"])
        if symbol is None:
            raise MalformedFrame(f"book data for an unsubscribed symbol {item['symbol']!r}")
        ts = item.get("timestamp")
        exchange_ts = parse_timestamp(ts) if ts else None
        cls = BookSnapshot if snapshot else BookDelta
        event = cls("kraken", symbol, _levels(item.get("bids", ())), _levels(item.get("asks", ())),
                    exchange_ts, receipt_ns)
        events.append((event, item.get("checksum")))
    return events


def parse_trades(message: Mapping[str, Any], symbols: Mapping[str, str], receipt_ns: int) -> list[Trade]:
    """A ``trade`` frame -> trades; Kraken's ``side`` is already the taker's side."""
    trades = []
    for item in message["data"]:
        symbol = symbols.get(item["symbol"])
        if symbol is None:
            raise MalformedFrame(f"trade for an unsubscribed symbol {item['symbol']!r}")
        trades.append(Trade(
            "kraken", symbol, float(item["price"]), float(item["qty"]), Side(item["side"]),
            str(item["trade_id"]), parse_timestamp(item["timestamp"]), receipt_ns, item["trade_id"],
        ))
    return trades


_TICKER_EXTRA = ("last", "volume", "vwap", "low", "high", "change", "change_pct")


def parse_ticker(message: Mapping[str, Any], symbols: Mapping[str, str], receipt_ns: int) -> list[Ticker]:
    """A ``ticker`` frame -> tickers (best bid/ask plus the 24 h statistics in ``extra``)."""
    tickers = []
    for item in message["data"]:
        symbol = symbols.get(item["symbol"])
        if symbol is None:
            raise MalformedFrame(f"ticker for an unsubscribed symbol {item['symbol']!r}")
        ts = item.get("timestamp")  # absent in the doc example; present on bbo-triggered tickers
        tickers.append(Ticker(
            "kraken", symbol, float(item["bid"]), float(item["bid_qty"]), float(item["ask"]),
            float(item["ask_qty"]), parse_timestamp(ts) if ts else None, receipt_ns, None,
            {k: float(item[k]) for k in _TICKER_EXTRA if item.get(k) is not None},
        ))
    return tickers


def parse_instrument(message: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """An ``instrument`` frame -> canonical symbol -> (price_precision, qty_precision)."""
    data = message["data"]
    return {
        canonical_symbol(pair["symbol"]): (int(pair["price_precision"]), int(pair["qty_precision"]))
        for pair in data.get("pairs", ())
    }


# -- checksum ------------------------------------------------------------------------------------------------------
def _digits(value: float, precision: int) -> str:
    # Formatting the parsed float at the pair's precision restores the exchange's fixed decimals (the wire may
    # print 0.566 or 0.5660): exact while the value has fewer than ~15 significant digits, as Kraken's do.
    return f"{value:.{precision}f}".replace(".", "").lstrip("0")


def checksum_string(asks: Sequence[Level], bids: Sequence[Level], price_precision: int, qty_precision: int) -> str:
    """The string Kraken hashes: top 10 asks low->high, then top 10 bids high->low, price then qty each."""
    parts = [_digits(p, price_precision) + _digits(q, qty_precision) for p, q in asks[:CHECKSUM_LEVELS]]
    parts += [_digits(p, price_precision) + _digits(q, qty_precision) for p, q in bids[:CHECKSUM_LEVELS]]
    return "".join(parts)


def book_checksum(asks: Sequence[Level], bids: Sequence[Level], price_precision: int, qty_precision: int) -> int:
    """Unsigned CRC32 of :func:`checksum_string`, as Kraken sends it."""
    return zlib.crc32(checksum_string(asks, bids, price_precision, qty_precision).encode())


def truncate(book: OrderBook, depth: int) -> None:
    """Drop levels beyond ``depth`` per side: Kraken never deletes levels that fall out of scope."""
    # OrderBook has no truncate; deleting the surplus through apply_delta keeps its invariants.
    extra_bids = book.bids()[depth:] if book.bid_count > depth else []
    extra_asks = book.asks()[depth:] if book.ask_count > depth else []
    if extra_bids or extra_asks:
        book.apply_delta([(p, 0.0) for p, _ in extra_bids], [(p, 0.0) for p, _ in extra_asks])


# -- the integrity rule --------------------------------------------------------------------------------------------
class BookIntegrity:
    """Kraken's book rule for one symbol, without I/O: :meth:`judge` refuses updates while no snapshot is held;
    :meth:`verify` truncates the applied book to the subscribed depth and compares the CRC32.

    After a mismatch (or :meth:`reset`, e.g. on disconnect) updates are refused until the next snapshot, which
    the caller obtains by resubscribing.
    """

    def __init__(self, depth: int = 10, precision: tuple[int, int] | None = None) -> None:
        if depth not in BOOK_DEPTHS:
            raise ValueError(f"kraken book depth must be one of {BOOK_DEPTHS}, got {depth}")
        self.depth = depth
        self.precision = precision
        self.synced = False
        self.checked = 0
        self._checksum: int | None = None
        """The checksum sent with the message judged ``APPLY`` and not yet verified."""

    def reset(self) -> None:
        self.synced = False

    def judge(self, event: BookSnapshot | BookDelta, checksum: int | None) -> Verdict:
        """``APPLY`` a snapshot, or an update while the book is synced; ``STALE`` for an update while it is not
        (a book being rebuilt: dropped)."""
        if type(event) is BookSnapshot:
            self.synced = True
        elif not self.synced:
            return Verdict.STALE
        self._checksum = checksum
        return Verdict.APPLY

    def verify(self, book: OrderBook) -> bool:
        """Truncate to the depth (Kraken never deletes levels pushed out of scope), then check the CRC32; a book
        whose pair precision is not known yet cannot be checked and passes."""
        truncate(book, self.depth)
        checksum, self._checksum = self._checksum, None
        expected = self.expected(book) if checksum is not None else None
        if expected is None:
            return True
        self.checked += 1
        if expected != checksum:
            self.synced = False
            return False
        return True

    def expected(self, book: OrderBook) -> int | None:
        """The checksum ``book`` should carry, or ``None`` while the pair's precision is unknown."""
        if self.precision is None:
            return None
        price_precision, qty_precision = self.precision
        return book_checksum(book.asks(CHECKSUM_LEVELS), book.bids(CHECKSUM_LEVELS), price_precision, qty_precision)


# -- parsing (v1, for the 2021 captures) ---------------------------------------------------------------------------
def parse_trade_v1(message: Sequence[Any], receipt_ns: int) -> list[Trade]:
    """``[channelID, [[price, volume, time, side b/s, type m/l, misc], ...], "trade", pair]`` -> trades.

    v1 trades carry no id; the venue time (seconds with microseconds) is used as the trade id.
    """
    _, rows, channel, pair = message
    if channel != "trade":
        raise MalformedFrame(f"not a v1 trade frame: {channel!r}")
    symbol = canonical_symbol(pair)
    return [
        Trade("kraken", symbol, float(price), float(volume), Side.BUY if side == "b" else Side.SELL, time,
              _v1_time_ns(time), receipt_ns)
        for price, volume, time, side, *_ in rows
    ]


def parse_ticker_v1(message: Sequence[Any], receipt_ns: int) -> Ticker:
    """``[channelID, {"a": [price, whole lot, lot], "b": [...], "c": [...], ...}, "ticker", pair]`` -> ticker."""
    _, data, channel, pair = message
    if channel != "ticker":
        raise MalformedFrame(f"not a v1 ticker frame: {channel!r}")
    extra = {"last": float(data["c"][0]), "volume": float(data["v"][1]), "vwap": float(data["p"][1]),
             "low": float(data["l"][1]), "high": float(data["h"][1]), "open": float(data["o"][1])}
    return Ticker("kraken", canonical_symbol(pair), float(data["b"][0]), float(data["b"][2]),
                  float(data["a"][0]), float(data["a"][2]), None, receipt_ns, None, extra)


def checksum_v1(asks: Sequence[tuple[str, str]], bids: Sequence[tuple[str, str]]) -> int:
    """v1's checksum over the received strings (top 10 asks low->high, top 10 bids high->low)."""
    def digits(text: str) -> str:
        return text.replace(".", "").lstrip("0")

    text = "".join(digits(p) + digits(q) for p, q in asks[:CHECKSUM_LEVELS])
    text += "".join(digits(p) + digits(q) for p, q in bids[:CHECKSUM_LEVELS])
    return zlib.crc32(text.encode())


def _v1_time_ns(text: str) -> int:
    seconds, _, fraction = text.partition(".")
    return int(seconds) * 1_000_000_000 + int((fraction + "000000000")[:9])


# -- the adapter ---------------------------------------------------------------------------------------------------
class KrakenAdapter(MarketAdapter):
    """Kraken spot market data over WebSocket v2: one connection, one subscribe per channel for all symbols."""

    name = "kraken"
    default_endpoints = VenueEndpoints(ws="wss://ws.kraken.com/v2", rest="https://api.kraken.com")
    numbered_trades = True
    app_ping_interval = 30.0
    """Seconds between ``{"method": "ping"}`` messages (Kraken's app-level keep-alive)."""

    def __init__(self, *args: Any, depth: int = 10, **kwargs: Any) -> None:
        if depth not in BOOK_DEPTHS:
            raise ValueError(f"kraken book depth must be one of {BOOK_DEPTHS}, got {depth}")
        self.depth = depth  # before the base builds the rules, which need it
        super().__init__(*args, **kwargs)
        self._by_venue_symbol = {venue_symbol(s): s for s in self.symbols}
        self._req_id = 0

    @property
    def integrity(self) -> dict[str, BookIntegrity]:
        return self.rules  # type: ignore[return-value]

    def book_rule(self, symbol: str) -> BookIntegrity:
        return BookIntegrity(self.depth)

    async def validate(self) -> None:
        listed = await self.list_symbols("/0/public/AssetPairs", listed_symbols, what="pairs")
        check_known("kraken", self.symbols, listed)
        self._set_precisions(listed)

    def build_connections(self) -> list[Connection]:
        # App-level pings: the server's heartbeats only flow one way.
        interval = self.app_ping_interval
        keepalive = KeepAlive(lambda: self._request("ping"), interval) if interval else None
        return [self.connection(self.endpoints.ws, "kraken-0", on_connect=self._subscribe_all,
                                on_disconnect=self.unsync_all, keepalive=keepalive)]

    # -- requests ------------------------------------------------------------------------------------------------
    def _request(self, method: str, params: dict[str, Any] | None = None) -> str:
        self._req_id += 1
        message: dict[str, Any] = {"method": method}
        if params is not None:
            message["params"] = params
        message["req_id"] = self._req_id
        return orjson.dumps(message).decode()

    def _book_params(self, symbols: list[str]) -> dict[str, Any]:
        return {"channel": "book", "symbol": [venue_symbol(s) for s in symbols], "depth": self.depth,
                "snapshot": True}

    async def _subscribe_all(self, conn: Connection) -> None:
        pairs = [venue_symbol(s) for s in self.symbols]
        # Instrument first: its snapshot carries the precisions the checksums need.
        await conn.send(self._request("subscribe", {"channel": "instrument", "snapshot": True}))
        if "book" in self.channels:
            await conn.send(self._request("subscribe", self._book_params(self.symbols)))
        if "trades" in self.channels:
            await conn.send(self._request("subscribe", {"channel": "trade", "symbol": pairs}))
        if "ticker" in self.channels:
            await conn.send(self._request("subscribe", {"channel": "ticker", "symbol": pairs,
                                                        "event_trigger": "bbo"}))

    def resync_book(self, symbol: str, conn: Connection | None) -> None:
        """Resubscribe the one book for a fresh snapshot on the same socket."""
        if conn is not None:
            self.spawn(self._resubscribe_book(conn, symbol), f"kraken-resync-{symbol}")

    async def _resubscribe_book(self, conn: Connection, symbol: str) -> None:
        """Rebuild one book on the same socket: unsubscribe, then subscribe again for a fresh snapshot."""
        params = self._book_params([symbol])
        try:
            await conn.send(self._request("unsubscribe", {k: params[k] for k in ("channel", "symbol", "depth")}))
            await conn.send(self._request("subscribe", params))
        except ConnectionError as exc:  # Connection.send's one error type: the reconnect subscribes everything again
            log.info("kraken %s: resubscribe failed (%s)", symbol, exc)

    # -- frames --------------------------------------------------------------------------------------------------
    def on_frame(self, frame: str | bytes, receipt_ns: int, conn: Connection) -> None:
        message = decode_object(frame)
        channel = message.get("channel")
        if channel == "book":
            for event, checksum in parse_book(message, self._by_venue_symbol, receipt_ns):
                if event.exchange_ts is not None:
                    conn.stats.observe_lag(event.exchange_ts, receipt_ns)
                rule: BookIntegrity = self.rules[event.symbol]  # type: ignore[assignment]
                self.settle(event.symbol, rule.judge(event, checksum), event, conn)
        elif channel == "trade":
            for trade in parse_trades(message, self._by_venue_symbol, receipt_ns):
                conn.stats.observe_lag(trade.exchange_ts, receipt_ns)  # type: ignore[arg-type]
                self.emit(trade)
        elif channel == "ticker":
            for ticker in parse_ticker(message, self._by_venue_symbol, receipt_ns):
                self.emit(ticker)
        elif channel == "instrument":
            self._set_precisions(parse_instrument(message))
        elif channel in ("heartbeat", "status"):
            pass
        elif "method" in message:
            self._on_reply(message)
        else:
            raise MalformedFrame(f"unexpected frame: {str(message)[:120]}")

    def _on_reply(self, message: Mapping[str, Any]) -> None:
        if message.get("success") is False:
            log.warning("kraken: %s failed: %s", message.get("method"), message.get("error"))

    def _set_precisions(self, precisions: Mapping[str, tuple[int, int]]) -> None:
        for symbol, integrity in self.integrity.items():
            if symbol in precisions:
                integrity.precision = precisions[symbol]

    # -- recent trades (warm start, hole fills) -------------------------------------------------------------------

    def trades_missing(self, symbol: str, first_missing: int, last_missing: int) -> None:
        """Fill the hole from REST (see :class:`livefeed.backfill.TradeHoleFiller`): rows ``origin="gapfill"``."""
        from ..backfill import fill_trade_hole

        fill_trade_hole(self, symbol, first_missing, last_missing)

    async def recent_trades(self, symbol: str, since_ns: int, max_rows: int = 100_000) -> list[Trade]:
        """Trades since ``since_ns``, oldest first: ``GET /0/public/Trades?pair=&since=&count=1000`` pages forward
        by ``last`` (ns), one a second (Kraken's public endpoints allow about that); the newest ``max_rows`` kept."""
        from .recent_trades import get_json, oldest_first

        pair, since, now = rest_pair(symbol), since_ns, time.time_ns()
        kept: deque[Trade] = deque(maxlen=max_rows)
        while True:
            body = await get_json(self, "/0/public/Trades", {"pair": pair, "since": str(since), "count": 1000})
            if body.get("error"):
                raise LivefeedError(f"kraken: Trades for {pair} returned errors: {body['error']}")
            result = body["result"]
            rows = next((v for k, v in result.items() if k != "last"), [])
            kept.extend(parse_rest_trades(rows, symbol, now))
            last = int(result.get("last", since))
            if len(rows) < 1000 or last <= since:
                break
            since = last
        return oldest_first(kept, since_ns, max_rows)


def rest_pair(symbol: str) -> str:
    """``BTC-USD`` -> Kraken's REST name ``XBTUSD`` (the v1 spelling, no separator)."""
    v1 = {v: k for k, v in _V1_ALIASES.items()}
    base, _, quote = symbol.partition("-")
    return f"{v1.get(base, base)}{v1.get(quote, quote)}"


def parse_rest_trades(rows: Iterable[Sequence[Any]], symbol: str, receipt_ns: int) -> list[Trade]:
    """``/0/public/Trades`` rows ``[price, volume, time, b/s, m/l, misc, trade_id]`` as the v2 ``trade`` channel's
    trades (time to the microsecond, as the channel prints it)."""
    return [
        Trade("kraken", symbol, float(price), float(volume), Side.BUY if side == "b" else Side.SELL, str(trade_id),
              round(float(when) * 1e6) * 1000, receipt_ns, int(trade_id))
        for price, volume, when, side, _kind, _misc, trade_id, *_ in rows
    ]
