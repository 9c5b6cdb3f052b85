"""Bybit v5 public spot: ``publicTrade``, ``orderbook.50`` snapshot + deltas, and ``orderbook.1`` for top of book.

Bybit pushes the book itself: a ``snapshot`` after every subscribe, then ``delta`` messages whose per-topic update
id ``u`` grows by exactly one per message (docs: bybit-exchange/docs ``v5/websocket/public/orderbook``; checked
contiguous on a real 2026 capture). Any ``snapshot`` resets the book, and ``u == 1`` marks a service restart:
that message is a snapshot whatever its ``type`` says. A ``u`` that skips ahead is a gap: the topic is
unsubscribed and subscribed again on the same socket, which brings a fresh snapshot. :class:`UpdateSequencer` is
that rule as a pure state machine; :class:`BybitAdapter` does the I/O around it.

Spot ``tickers`` carry no best bid/ask (only last price and 24 h stats), so the ``ticker`` channel is served from
``orderbook.1.<SYM>``: every level-1 message yields a :class:`~livefeed.model.Ticker` of the venue's own top.
Bybit also wants an application ``{"op":"ping"}`` (the docs recommend every 20 s); each connection runs its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from websockets.exceptions import WebSocketException

from ..book import OrderBook
from ..connection import Connection, KeepAlive
from ..errors import LivefeedError
from ..model import BookDelta, BookSnapshot, Side, Ticker, Trade
from ..symbols import check_known
from .base import MalformedFrame, MarketAdapter, VenueEndpoints, Verdict, decode_object

__all__ = [
    "BybitAdapter",
    "UpdateSequencer",
    "Verdict",
    "MalformedFrame",
    "venue_symbol",
    "topics_for",
    "spot_ws_url",
    "ws_url_with_path",
    "split_topic",
    "parse_trades",
    "parse_book",
    "ticker_from_book",
    "listed_symbols",
    "BOOK_DEPTH",
    "MAX_ARGS_PER_REQUEST",
    "MAX_ARGS_CHARS",
    "HEARTBEAT_INTERVAL",
]

log = logging.getLogger(__name__)

BOOK_DEPTH = 50
MAX_ARGS_PER_REQUEST = 10
"""Docs ("Connect"): "Spot can input up to 10 args for each subscription request sent to one connection"."""
MAX_ARGS_CHARS = 21_000
"""Docs ("Connect"): one public connection "cannot have length of "args" array over 21,000 characters"."""
HEARTBEAT_INTERVAL = 20.0
"""Docs ("Connect"): "we recommend that you send the ping heartbeat packet every 20 seconds"."""
_MS = 1_000_000
_SPOT_PATH = "/v5/public/spot"


def venue_symbol(symbol: str) -> str:
    """``BTC-USDT`` -> ``BTCUSDT`` (the default; :meth:`BybitAdapter.validate` uses the listing's own name)."""
    return symbol.replace("-", "")


def topics_for(name: str, channels: set[str], depth: int = BOOK_DEPTH) -> list[str]:
    """The topics one venue symbol needs for the feed's channels."""
    topics = []
    if "trades" in channels:
        topics.append(f"publicTrade.{name}")
    if "book" in channels:
        topics.append(f"orderbook.{depth}.{name}")
    if "ticker" in channels:
        topics.append(f"orderbook.1.{name}")
    return topics


def split_topic(topic: str) -> tuple[str, int, str]:
    """``orderbook.50.BTCUSDT`` -> ``("orderbook", 50, "BTCUSDT")``; ``publicTrade.X`` -> depth 0."""
    parts = topic.split(".")
    if len(parts) == 3 and parts[0] == "orderbook" and parts[1].isdigit():
        return parts[0], int(parts[1]), parts[2]
    if len(parts) == 2:
        return parts[0], 0, parts[1]
    raise MalformedFrame(f"unknown topic {topic!r}")


def parse_trades(message: Mapping[str, Any], symbol: str, receipt_ns: int) -> list[Trade]:
    """A ``publicTrade`` push -> trades in matching order; ``S`` is already the taker side."""
    trades = []
    for t in message["data"]:
        side = t["S"]
        if side not in ("Buy", "Sell"):
            raise MalformedFrame(f"unknown taker side {side!r}")
        trades.append(Trade(
            "bybit", symbol, float(t["p"]), float(t["v"]), Side.BUY if side == "Buy" else Side.SELL,
            str(t["i"]), t["T"] * _MS, receipt_ns, t.get("seq"),
        ))
    return trades


def parse_book(message: Mapping[str, Any], symbol: str, receipt_ns: int) -> BookSnapshot | BookDelta:
    """An ``orderbook`` push -> snapshot or delta; ``u == 1`` (service restart) is a snapshot whatever ``type``."""
    data = message["data"]
    bids = [(float(p), float(q)) for p, q in data["b"]]
    asks = [(float(p), float(q)) for p, q in data["a"]]
    u = data["u"]
    ts = message["ts"] * _MS
    kind = message["type"]
    if kind == "snapshot" or u == 1:
        return BookSnapshot("bybit", symbol, bids, asks, ts, receipt_ns, u)
    if kind == "delta":
        return BookDelta("bybit", symbol, bids, asks, ts, receipt_ns, u, u)
    raise MalformedFrame(f"unknown orderbook type {kind!r}")


def ticker_from_book(book: OrderBook, event: BookSnapshot | BookDelta) -> Ticker | None:
    """The venue's own top of book after a level-1 message; ``None`` while a side is empty."""
    bid, ask = book.best_bid, book.best_ask
    if bid is None or ask is None:
        return None
    return Ticker("bybit", event.symbol, bid[0], bid[1], ask[0], ask[1], event.exchange_ts, event.receipt_ts,
                  event.sequence)


def listed_symbols(body: Mapping[str, Any]) -> dict[str, str]:
    """``instruments-info`` reply -> ``{"BTC-USDT": "BTCUSDT"}`` for instruments in ``Trading`` status."""
    if body.get("retCode") != 0:
        raise LivefeedError(f"bybit: instruments-info failed: retCode={body.get('retCode')} {body.get('retMsg')}")
    return {
        f"{item['baseCoin']}-{item['quoteCoin']}": item["symbol"]
        for item in body["result"]["list"]
        if item.get("status", "Trading") == "Trading"
    }


class UpdateSequencer:
    """Bybit's book rule for one topic, without I/O: snapshots reset, each delta must carry the previous u + 1.

    :meth:`judge` says ``APPLY`` (a snapshot, or the next delta), ``STALE`` (a delta at or below the book's ``u``,
    or one while no snapshot is held after a gap or reconnect) or ``GAP`` (``u`` skipped ahead: resubscribe).
    """

    def __init__(self) -> None:
        self.last_u: int | None = None

    @property
    def synced(self) -> bool:
        return self.last_u is not None

    def reset(self) -> None:
        self.last_u = None

    def verify(self, book: OrderBook) -> bool:
        """Bybit sends no checksum: the ``u`` chain is the whole proof."""
        return True

    def judge(self, event: BookSnapshot | BookDelta) -> Verdict:
        u = event.sequence
        assert u is not None
        if type(event) is BookSnapshot:
            self.last_u = u
            return Verdict.APPLY
        if self.last_u is None or u <= self.last_u:
            return Verdict.STALE
        if u != self.last_u + 1:
            self.last_u = None
            return Verdict.GAP
        self.last_u = u
        return Verdict.APPLY


def ws_url_with_path(base: str, path: str) -> str:
    """A bare ``ws://host:port`` gets the market's ``path``; a URL that already has a path is used as given."""
    parts = urlsplit(base)
    if parts.path in ("", "/"):
        return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
    return base


def spot_ws_url(base: str) -> str:
    """A bare ``ws://host:port`` gets Bybit's spot path; a URL that already has a path is used as given."""
    return ws_url_with_path(base, _SPOT_PATH)


class BybitAdapter(MarketAdapter):
    """Bybit v5 public spot market data; books kept from pushed snapshots and ``u``-checked deltas.

    Another Bybit market (linear perpetuals) subclasses it with its own ``source``, ``category``, ``ws_path``,
    :meth:`venue_name`, :meth:`topics`, :meth:`listing` and :meth:`on_topic` for the topics spot has not.
    """

    name = "bybit"
    source = "bybit"
    """The registry's source name: it names the connections (``bybit-0``)."""
    category = "spot"
    """``category`` of ``/v5/market/instruments-info``."""
    ws_path = _SPOT_PATH
    default_endpoints = VenueEndpoints(ws="wss://stream.bybit.com/v5/public/spot", rest="https://api.bybit.com")
    heartbeat_interval: float = HEARTBEAT_INTERVAL
    book_depth: int = BOOK_DEPTH

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._names = {s: self.venue_name(s) for s in self.symbols}
        self._by_name = {n: s for s, n in self._names.items()}
        self._tops = {s: OrderBook("bybit", s) for s in self.symbols}
        self._conn_of: dict[str, Connection] = {}
        self._resubscribing: set[str] = set()
        self._req_id = 0
        self.pongs = 0

    # -- setup ------------------------------------------------------------------------------------------------
    def venue_name(self, symbol: str) -> str:
        """The venue's default name of ``symbol`` (before :meth:`validate` reads the listing's own)."""
        return venue_symbol(symbol)

    def topics(self, name: str) -> list[str]:
        """The topics one venue symbol needs for the feed's channels."""
        return topics_for(name, self.channels, self.book_depth)

    async def listing(self) -> dict[str, str]:
        """Canonical symbol -> venue name of every instrument in trading."""
        listed: dict[str, str] = await self.list_symbols("/v5/market/instruments-info", listed_symbols,
                                                         {"category": self.category})
        return listed

    async def validate(self) -> None:
        listed = await self.listing()
        check_known("bybit", self.symbols, listed)
        self._names = {s: listed[s] for s in self.symbols}
        self._by_name = {n: s for s, n in self._names.items()}

    def build_connections(self) -> list[Connection]:
        groups: list[list[str]] = [[]]
        size = 0
        for symbol in self.symbols:
            topics = self.topics(self._names[symbol])
            cost = len(orjson.dumps(topics))
            if groups[-1] and size + cost > MAX_ARGS_CHARS:
                groups.append([])
                size = 0
            groups[-1].extend(topics)
            size += cost
        return [self._connection(i, topics) for i, topics in enumerate(groups)]

    def book_rule(self, symbol: str) -> UpdateSequencer:
        return UpdateSequencer()

    def _connection(self, index: int, topics: list[str]) -> Connection:
        symbols = sorted({self._by_name[split_topic(t)[2]] for t in topics})

        async def subscribe(c: Connection) -> None:
            for symbol in symbols:
                self._conn_of[symbol] = c
            for start in range(0, len(topics), MAX_ARGS_PER_REQUEST):
                await self._send_op(c, "subscribe", topics[start : start + MAX_ARGS_PER_REQUEST])

        # Bybit counts only application pings as activity; websockets' protocol pings are not enough.
        keepalive = KeepAlive(lambda: self._op_message("ping"), self.heartbeat_interval)
        return self.connection(ws_url_with_path(self.endpoints.ws, self.ws_path), f"{self.source}-{index}",
                               on_connect=subscribe,
                               on_disconnect=lambda: self.unsync_all(symbols), keepalive=keepalive)

    def _op_message(self, op: str, args: list[str] | None = None) -> str:
        self._req_id += 1
        message: dict[str, Any] = {"req_id": str(self._req_id), "op": op}
        if args is not None:
            message["args"] = args
        return orjson.dumps(message).decode()

    async def _send_op(self, conn: Connection, op: str, args: list[str] | None = None) -> None:
        await conn.send(self._op_message(op, args))

    # -- frames -----------------------------------------------------------------------------------------------
    def on_frame(self, frame: str | bytes, receipt_ns: int, conn: Connection) -> None:
        message = decode_object(frame)
        topic = message.get("topic")
        if topic is None:
            self._on_control(message)
            return
        kind, depth, name = split_topic(topic)
        symbol = self._by_name.get(name)
        if symbol is None:
            raise MalformedFrame(f"frame for an unsubscribed symbol: {topic}")
        conn.stats.observe_lag(message["ts"] * _MS, receipt_ns)
        if kind == "publicTrade":
            for trade in parse_trades(message, symbol, receipt_ns):
                self.emit(trade)
        elif kind == "orderbook" and depth == 1:
            self._on_top(parse_book(message, symbol, receipt_ns))
        elif kind == "orderbook":
            event = parse_book(message, symbol, receipt_ns)
            self.settle(symbol, self.rules[symbol].judge(event), event, conn)  # type: ignore[attr-defined]
        elif not self.on_topic(kind, message, symbol, receipt_ns):
            raise MalformedFrame(f"unexpected topic {topic!r}")

    def on_topic(self, kind: str, message: dict[str, Any], symbol: str, receipt_ns: int) -> bool:
        """A push of a topic the spot adapter does not know (``tickers.X`` on linear); ``False``: malformed."""
        return False

    def _on_control(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op not in ("subscribe", "unsubscribe", "ping", "pong"):
            raise MalformedFrame(f"unexpected frame: {str(message)[:120]}")
        if message.get("ret_msg") == "pong" or op == "pong":
            self.pongs += 1
        elif not message.get("success", False):
            log.warning("bybit: %s refused: %s", op, message.get("ret_msg"))

    def _on_top(self, event: BookSnapshot | BookDelta) -> None:
        book = self._tops[event.symbol]
        if isinstance(event, BookSnapshot):
            book.apply_snapshot(event.bids, event.asks, event.sequence)
        else:
            book.apply_delta(event.bids, event.asks, event.sequence)
        ticker = ticker_from_book(book, event)
        if ticker is not None:
            self.emit(ticker)

    # -- the local book ---------------------------------------------------------------------------------------
    def book_synced(self, symbol: str) -> None:
        self._resubscribing.discard(symbol)

    def resync_book(self, symbol: str, conn: Connection | None) -> None:
        """Unsubscribe then subscribe the book topic on the socket that carries it (subscribed there, so it is
        known): Bybit answers with a fresh snapshot."""
        conn = self._conn_of.get(symbol)
        if conn is None or symbol in self._resubscribing:
            return
        self._resubscribing.add(symbol)
        self.spawn(self._resubscribe_topic(symbol, conn, f"orderbook.{self.book_depth}.{self._names[symbol]}"),
                   f"{self.source}-resubscribe-{symbol}")

    async def _resubscribe_topic(self, symbol: str, conn: Connection, topic: str) -> None:
        try:
            await self._send_op(conn, "unsubscribe", [topic])
            await self._send_op(conn, "subscribe", [topic])
        except (ConnectionError, WebSocketException):
            self._resubscribing.discard(symbol)  # the reconnect's own subscribe brings the snapshot

    def unsync(self, symbol: str) -> None:
        super().unsync(symbol)
        self._resubscribing.discard(symbol)

    # -- recent trades (warm start, hole fills) -------------------------------------------------------------------

    async def recent_trades(self, symbol: str, since_ns: int, max_rows: int = 100_000) -> list[Trade]:
        """The venue's newest trades since ``since_ns``, oldest first: ``GET /v5/market/recent-trade`` has no time
        or page parameter and returns at most 60 trades on spot (1,000 on linear), so a warm start on Bybit
        reaches back only that far."""
        from .recent_trades import get_json, oldest_first

        most = 60 if self.category == "spot" else 1000
        body = await get_json(self, "/v5/market/recent-trade",
                              {"category": self.category, "symbol": self._names[symbol], "limit": most})
        if body.get("retCode") != 0:
            raise LivefeedError(f"{self.name}: recent-trade for {symbol} failed: {body.get('retMsg')}")
        rows = body["result"].get("list") or []
        return oldest_first(parse_rest_trades(self.name, rows, symbol, time.time_ns()), since_ns, max_rows)


def parse_rest_trades(venue: str, rows: Iterable[Mapping[str, Any]], symbol: str, receipt_ns: int) -> list[Trade]:
    """``/v5/market/recent-trade`` rows as the ``publicTrade`` topic's trades (taker side)."""
    return [
        Trade(venue, symbol, float(t["price"]), float(t["size"]), Side.BUY if t["side"] == "Buy" else Side.SELL,
              str(t["execId"]), int(t["time"]) * _MS, receipt_ns)
        for t in rows
    ]
