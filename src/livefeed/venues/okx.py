"""OKX v5 public: ``trades``, ``books`` (400 levels, snapshot + 100 ms updates) and ``tickers`` on one socket.

OKX pushes the book's snapshot itself on subscribe, so there is no REST snapshot: integrity comes from the
message chain (every update's ``prevSeqId`` is the previous message's ``seqId``) and from a CRC32 ``checksum``
over the top 25 levels of both sides, computed from the exchange's own price and size strings. Either failing
marks the book unsynced and resubscribes that one ``books`` channel on the same socket, which makes OKX send a
fresh snapshot. :class:`BookChecker` is that rule without I/O; :class:`OkxAdapter` does the I/O around it.

Keep-alive (recollection, not verified against OKX's page): the server closes a connection that has been silent for
30 s, so the client sends the text frame ``ping`` after ``ping_after`` seconds without any incoming frame and the
server answers ``pong``.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from websockets.exceptions import WebSocketException

from ..book import OrderBook
from ..connection import Connection, KeepAlive
from ..errors import LivefeedError
from ..model import BookDelta, BookSnapshot, Level, Side, Ticker, Trade
from ..symbols import check_known
from .base import MalformedFrame, MarketAdapter, VenueEndpoints, Verdict, decode_object

__all__ = [
    "OkxAdapter",
    "BookChecker",
    "BookMessage",
    "MalformedFrame",
    "CHECKSUM_DEPTH",
    "venue_symbol",
    "canonical_symbol",
    "subscription_args",
    "parse_trade",
    "parse_ticker",
    "parse_book",
    "checksum_string",
    "checksum",
]

log = logging.getLogger(__name__)

CHECKSUM_DEPTH = 25
"""Levels per side that OKX's checksum covers."""
_MS = 1_000_000
_MAX_IGNORED = 100  # updates ignored while awaiting a snapshot before subscribing again
_ARGS_PER_MESSAGE = 100  # keeps each subscribe request well under OKX's request size limit
_CHANNELS = {"trades": "trades", "book": "books", "ticker": "tickers"}


# -- symbols ----------------------------------------------------------------------------------------------------
def venue_symbol(symbol: str) -> str:
    """OKX spells spot instruments ``BTC-USDT`` already: the canonical form is the ``instId``."""
    return symbol


def canonical_symbol(inst_id: str) -> str:
    return inst_id


def listed_symbols(body: Mapping[str, Any]) -> set[str]:
    """``/api/v5/public/instruments`` reply -> the canonical symbols of the ``live`` instruments."""
    if body.get("code") != "0":
        raise LivefeedError(f"okx: instrument listing failed: code {body.get('code')} {body.get('msg')}")
    return {canonical_symbol(i["instId"]) for i in body["data"] if i.get("state", "live") == "live"}


def subscription_args(symbols: Iterable[str], channels: Iterable[str]) -> list[dict[str, str]]:
    """The ``args`` of a ``subscribe`` request: one ``{"channel", "instId"}`` per symbol and wanted channel."""
    wanted = [_CHANNELS[c] for c in ("trades", "book", "ticker") if c in set(channels)]
    return [{"channel": channel, "instId": venue_symbol(s)} for s in symbols for channel in wanted]


# -- pure parsers -----------------------------------------------------------------------------------------------
def parse_trade(item: Mapping[str, Any], symbol: str, receipt_ns: int) -> Trade:
    """One element of a ``trades`` push; OKX's ``side`` is already the taker's side. ``sequence`` is the trade id
    when the push is one trade (``count`` 1); an aggregate of several has none, so it breaks no id chain."""
    side = item["side"]
    if side not in ("buy", "sell"):
        raise MalformedFrame(f"unknown trade side {side!r}")
    trade_id = str(item["tradeId"])
    single = str(item.get("count", "1")) == "1"
    return Trade(
        "okx", symbol, float(item["px"]), float(item["sz"]), Side(side), trade_id, int(item["ts"]) * _MS,
        receipt_ns, int(trade_id) if single and trade_id.isdigit() else None,
    )


def parse_ticker(item: Mapping[str, Any], symbol: str, receipt_ns: int) -> Ticker | None:
    """A ``tickers`` push as top of book; ``None`` when a side is empty (OKX then sends ``""``)."""
    fields = (item.get("bidPx"), item.get("bidSz"), item.get("askPx"), item.get("askSz"))
    if not all(fields):
        return None
    bid, bid_size, ask, ask_size = (float(v) for v in fields)  # type: ignore[arg-type]
    extra = {name: float(item[name]) for name in ("last", "lastSz", "vol24h") if item.get(name)}
    return Ticker("okx", symbol, bid, bid_size, ask, ask_size, int(item["ts"]) * _MS, receipt_ns, extra=extra)


@dataclass(slots=True, frozen=True)
class BookMessage:
    """One ``books`` push with the level strings kept as sent (the checksum is defined on them).

    ``seq_id`` / ``prev_seq_id`` are ``None`` in captures from before OKX added them (checksum-only mode).
    """

    action: str
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]
    ts_ms: int
    checksum: int | None
    seq_id: int | None
    prev_seq_id: int | None

    @property
    def is_snapshot(self) -> bool:
        return self.action == "snapshot"

    @property
    def is_keepalive(self) -> bool:
        """OKX's "no change for a while" update: nothing in it and ``prevSeqId == seqId``."""
        return (not self.bids and not self.asks and self.seq_id is not None
                and self.seq_id == self.prev_seq_id and not self.is_snapshot)

    def float_levels(self) -> tuple[list[Level], list[Level]]:
        return ([(float(p), float(s)) for p, s in self.bids], [(float(p), float(s)) for p, s in self.asks])

    def to_event(self, symbol: str, receipt_ns: int) -> BookSnapshot | BookDelta:
        bids, asks = self.float_levels()
        ts = self.ts_ms * _MS
        if self.is_snapshot:
            return BookSnapshot("okx", symbol, bids, asks, ts, receipt_ns, self.seq_id)
        return BookDelta("okx", symbol, bids, asks, ts, receipt_ns, self.seq_id, self.seq_id)


def parse_book(action: str, item: Mapping[str, Any]) -> BookMessage:
    """One element of a ``books`` push's ``data``; levels are ``[px, sz, "0", orderCount]``."""
    if action not in ("snapshot", "update"):
        raise MalformedFrame(f"unknown books action {action!r}")
    try:
        bids = [(level[0], level[1]) for level in item["bids"]]
        asks = [(level[0], level[1]) for level in item["asks"]]
    except (KeyError, IndexError, TypeError) as exc:
        raise MalformedFrame(f"bad books levels: {exc!r}") from None
    raw_checksum, seq, prev = item.get("checksum"), item.get("seqId"), item.get("prevSeqId")
    return BookMessage(
        action, bids, asks, int(item["ts"]),
        None if raw_checksum is None else int(raw_checksum),
        None if seq is None else int(seq),
        None if prev is None else int(prev),
    )


# -- the checksum -----------------------------------------------------------------------------------------------
def checksum_string(bids: Sequence[tuple[str, str]], asks: Sequence[tuple[str, str]]) -> str:
    """``bid1px:bid1sz:ask1px:ask1sz:...`` over the best 25 per side; the longer side continues alone."""
    bids, asks = bids[:CHECKSUM_DEPTH], asks[:CHECKSUM_DEPTH]
    parts: list[str] = []
    for i in range(max(len(bids), len(asks))):
        if i < len(bids):
            parts += bids[i]
        if i < len(asks):
            parts += asks[i]
    return ":".join(parts)


def checksum(bids: Sequence[tuple[str, str]], asks: Sequence[tuple[str, str]]) -> int:
    """OKX's checksum: CRC32 of :func:`checksum_string` as a signed 32-bit integer."""
    value = zlib.crc32(checksum_string(bids, asks).encode())
    return value - (1 << 32) if value >= 1 << 31 else value


# -- the integrity rule -----------------------------------------------------------------------------------------
class BookChecker:
    """OKX's book rule for one symbol, without I/O: :meth:`judge` checks the ``seqId`` chain before a message is
    applied, :meth:`verify` the checksum after.

    The book stores floats, so the checker mirrors the venue's original price and size strings (float price ->
    strings) to rebuild the checksum input exactly; the float book gives the order of the best 25 levels.
    After ``GAP`` or a failed checksum it is unsynced until the next snapshot.
    """

    def __init__(self) -> None:
        self.synced = False
        self.last_seq: int | None = None
        self.checksums_verified = 0
        self._text: tuple[dict[float, tuple[str, str]], dict[float, tuple[str, str]]] = ({}, {})
        self._pending: BookMessage | None = None
        """The message judged ``APPLY`` and not yet verified."""

    def reset(self) -> None:
        self.synced = False
        self.last_seq = None
        self._text = ({}, {})
        self._pending = None

    def judge(self, message: BookMessage) -> Verdict:
        """``APPLY`` a snapshot or the next update in the chain (its checksum is checked by :meth:`verify` once it
        is applied); ``APPLY`` with nothing to apply for a keep-alive (``message.is_keepalive``); ``STALE`` for an
        update before any snapshot (in flight after a resubscribe); ``GAP`` when ``prevSeqId`` is not the last
        ``seqId``."""
        if message.is_snapshot:
            self._text = ({}, {})
            self.synced = True
            self.last_seq = message.seq_id
            self._pending = message
            return Verdict.APPLY
        if not self.synced:
            return Verdict.STALE
        if message.prev_seq_id is not None and self.last_seq is not None and message.prev_seq_id != self.last_seq:
            self.reset()
            return Verdict.GAP
        if message.seq_id is not None:
            self.last_seq = message.seq_id  # may be lower than before after maintenance: the chain is what counts
        self._pending = None if message.is_keepalive else message
        return Verdict.APPLY

    def verify(self, book: OrderBook) -> bool:
        """Mirror the applied message's strings, then compare the book's checksum with the one OKX sent."""
        message, self._pending = self._pending, None
        if message is None:
            return True
        self._mirror(message)
        if message.checksum is None:
            return True
        if self.book_checksum(book) != message.checksum:
            self.reset()
            return False
        self.checksums_verified += 1
        return True

    def _mirror(self, message: BookMessage) -> None:
        for text, levels in zip(self._text, (message.bids, message.asks), strict=True):
            for price, size in levels:
                if float(size):
                    text[float(price)] = (price, size)
                else:
                    text.pop(float(price), None)

    def book_checksum(self, book: OrderBook) -> int:
        """The checksum of ``book``'s best 25 levels per side, in the venue's own strings."""
        bid_text, ask_text = self._text
        bids = [bid_text[price] for price, _ in book.bids(CHECKSUM_DEPTH)]
        asks = [ask_text[price] for price, _ in book.asks(CHECKSUM_DEPTH)]
        return checksum(bids, asks)


# -- the adapter ------------------------------------------------------------------------------------------------
class OkxAdapter(MarketAdapter):
    """OKX v5 public market data on one WebSocket, subscribed with ``{"op": "subscribe", "args": [...]}``.

    Another OKX market (perpetual swaps) subclasses it with its own ``source``, ``inst_type``, :meth:`inst_id`,
    :meth:`listing`, :meth:`subscribe_args` and :meth:`on_item` for the channels spot has not.
    """

    name = "okx"
    source = "okx"
    numbered_trades = True
    """The registry's source name: it names the connection (``okx-0``)."""
    inst_type = "SPOT"
    """``instType`` of ``/api/v5/public/instruments``."""
    default_endpoints = VenueEndpoints(ws="wss://ws.okx.com:8443/ws/v5/public", rest="https://www.okx.com")

    def __init__(self, *args: Any, ping_after: float = 20.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not 0 < ping_after < 30:
            raise ValueError("ping_after must be between 0 and 30 s: OKX drops connections silent for 30 s")
        self.ping_after = ping_after
        self._by_inst = {self.inst_id(s): s for s in self.symbols}
        # Symbols whose ``books`` snapshot is awaited after a (re)subscribe -> whether OKX has acked it. An update
        # before the ack is in flight from the old subscription; one after it means the snapshot was lost.
        self._awaiting: dict[str, bool] = {}
        self._ignored: dict[str, int] = dict.fromkeys(self.symbols, 0)

    def inst_id(self, symbol: str) -> str:
        """The ``instId`` of a canonical symbol."""
        return venue_symbol(symbol)

    async def listing(self) -> set[str]:
        """The canonical symbols of the live instruments of ``inst_type``."""
        listed: set[str] = await self.list_symbols("/api/v5/public/instruments", listed_symbols,
                                                   {"instType": self.inst_type}, what="instruments")
        return listed

    async def validate(self) -> None:
        check_known("okx", self.symbols, await self.listing())

    def subscribe_args(self) -> list[dict[str, str]]:
        """Every ``args`` entry the connection subscribes."""
        return subscription_args(self.symbols, self.channels)

    @property
    def pings_sent(self) -> int:
        return sum(conn.stats.keepalives_sent for conn in self.connections)

    def book_rule(self, symbol: str) -> BookChecker:
        return BookChecker()

    def build_connections(self) -> list[Connection]:
        async def on_connect(c: Connection) -> None:
            if "book" in self.channels:
                self._awaiting = dict.fromkeys(self.symbols, False)
            args = self.subscribe_args()
            for start in range(0, len(args), _ARGS_PER_MESSAGE):
                chunk = args[start : start + _ARGS_PER_MESSAGE]
                await c.send(orjson.dumps({"op": "subscribe", "args": chunk}).decode())

        def on_disconnect() -> None:
            self.unsync_all()
            self._awaiting.clear()

        # ``ping`` whenever nothing has arrived for ``ping_after`` s, so OKX's 30 s idle rule never fires.
        keepalive = KeepAlive(lambda: "ping", self.ping_after, when_idle=True)
        return [self.connection(self.endpoints.ws, f"{self.source}-0", on_connect=on_connect,
                                on_disconnect=on_disconnect, keepalive=keepalive)]

    # -- frames -----------------------------------------------------------------------------------------------
    def on_frame(self, frame: str | bytes, receipt_ns: int, conn: Connection) -> None:
        if frame in ("pong", b"pong"):
            return
        message = decode_object(frame)
        if "event" in message:
            self._on_event(message)
            return
        arg, data = message.get("arg"), message.get("data")
        if not isinstance(arg, dict) or not isinstance(data, list):
            raise MalformedFrame(f"unexpected frame: {str(message)[:120]}")
        symbol = self._by_inst.get(arg.get("instId", ""))
        if symbol is None:
            raise MalformedFrame(f"frame for an unsubscribed instrument: {str(arg)[:120]}")
        channel = arg.get("channel")
        for item in data:
            if "ts" in item:
                conn.stats.observe_lag(int(item["ts"]) * _MS, receipt_ns)
            if channel == "books":
                self._on_book(parse_book(message.get("action", ""), item), symbol, receipt_ns, conn)
            elif channel == "trades":
                self.emit(parse_trade(item, symbol, receipt_ns))
            elif channel == "tickers":
                ticker = parse_ticker(item, symbol, receipt_ns)
                if ticker is not None:
                    self.emit(ticker)
            elif not self.on_item(channel, item, symbol, receipt_ns):
                raise MalformedFrame(f"unknown channel {channel!r}")

    def on_item(self, channel: str, item: dict[str, Any], symbol: str, receipt_ns: int) -> bool:
        """One ``data`` element of a channel spot does not subscribe; ``False``: malformed."""
        return False

    def _on_event(self, message: dict[str, Any]) -> None:
        event = message["event"]
        if event == "error":
            log.warning("okx: request failed: code %s %s", message.get("code"), message.get("msg"))
        elif event == "subscribe" and message.get("arg", {}).get("channel") == "books":
            symbol = self._by_inst.get(message["arg"].get("instId", ""))
            if symbol in self._awaiting:
                self._awaiting[symbol] = True
        elif event not in ("subscribe", "unsubscribe", "notice", "channel-conn-count"):
            raise MalformedFrame(f"unknown event {event!r}")

    # -- the local book ---------------------------------------------------------------------------------------
    def _on_book(self, message: BookMessage, symbol: str, receipt_ns: int, conn: Connection) -> None:
        rule: BookChecker = self.rules[symbol]  # type: ignore[assignment]
        verdict = rule.judge(message)
        event = None if message.is_keepalive and verdict is Verdict.APPLY else message.to_event(symbol, receipt_ns)
        if self.settle(symbol, verdict, event, conn) is Verdict.STALE:
            self._ignored[symbol] += 1
            # Subscribed and acked but no snapshot (e.g. it was garbled), or no ack after many updates: ask again.
            if self._awaiting.get(symbol, True) or self._ignored[symbol] > _MAX_IGNORED:
                self.sync[symbol].resyncs += 1
                self.resync_book(symbol, conn)

    def book_synced(self, symbol: str) -> None:
        self._awaiting.pop(symbol, None)
        self._ignored[symbol] = 0

    def resync_book(self, symbol: str, conn: Connection | None) -> None:
        """Unsubscribe and subscribe the one ``books`` channel: OKX answers with a fresh snapshot."""
        if conn is None:
            return
        self._awaiting[symbol] = False
        self._ignored[symbol] = 0
        args = [{"channel": "books", "instId": self.inst_id(symbol)}]

        async def resubscribe() -> None:
            try:
                await conn.send(orjson.dumps({"op": "unsubscribe", "args": args}).decode())
                await conn.send(orjson.dumps({"op": "subscribe", "args": args}).decode())
            except (ConnectionError, OSError, WebSocketException) as exc:  # a reconnect resubscribes everything
                log.info("okx %s: resubscribe failed (%s)", symbol, exc)

        self.spawn(resubscribe(), f"{self.source}-resubscribe-{symbol}")

    # -- recent trades (warm start, hole fills) -------------------------------------------------------------------

    def trades_missing(self, symbol: str, first_missing: int, last_missing: int) -> None:
        """Fill the hole from REST (see :class:`livefeed.backfill.TradeHoleFiller`): rows ``origin="gapfill"``."""
        from ..backfill import fill_trade_hole

        fill_trade_hole(self, symbol, first_missing, last_missing)

    async def recent_trades(self, symbol: str, since_ns: int, max_rows: int = 100_000) -> list[Trade]:
        """Trades since ``since_ns``, oldest first: ``GET /api/v5/market/history-trades?instId=&limit=100`` pages
        back by ``after=<oldest tradeId>`` (``type=1``), five a second (half of its 20 requests / 2 s)."""
        from .recent_trades import get_json, oldest_first

        inst, now = self.inst_id(symbol), time.time_ns()
        found: list[Trade] = []
        params: dict[str, Any] = {"instId": inst, "limit": 100}
        while len(found) < max_rows:
            body = await get_json(self, "/api/v5/market/history-trades", params)
            if str(body.get("code")) != "0":
                raise LivefeedError(f"{self.name}: history-trades for {inst} failed: {body.get('msg')}")
            page = [self.parse_rest_trade(row, symbol, now) for row in body.get("data") or []]
            found.extend(page)
            if len(page) < 100 or min(t.exchange_ts or 0 for t in page) < since_ns:
                break
            params = {"instId": inst, "limit": 100, "type": 1, "after": min(page, key=_trade_number).trade_id}
        return oldest_first(found, since_ns, max_rows)


    def parse_rest_trade(self, row: Mapping[str, Any], symbol: str, receipt_ns: int) -> Trade:
        """A ``history-trades`` row: the same fields as a ``trades`` push."""
        return parse_trade(row, symbol, receipt_ns)


def _trade_number(trade: Trade) -> int:
    return int(trade.trade_id) if trade.trade_id.isdigit() else 0
