"""The rolling frames of a feed and how each event becomes their rows.

One :class:`FrameSet` holds the built-in frames (``trades``, ``top_of_book``, ``tickers``) plus every frame the
adapters in use declare (:class:`~livefeed.venues.base.FrameSpec`, e.g. ``blocks`` for Ethereum), and routes each
event to its frame. The live :class:`~livefeed.feed.Feed` and the Redis reader (:mod:`livefeed.reader`) both use
it, so a frame rebuilt from Redis has the same columns and rows as the one of the feed that published it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .backfill import BackfillTrade, FilledTrade
from .frames import RollingFrame
from .model import BookDelta, BookSnapshot, Ticker, Trade

if TYPE_CHECKING:
    from .book import OrderBook
    from .venues.base import FrameSpec, VenueAdapter

__all__ = [
    "FrameSet", "FrameAccess", "TopOfBookRecorder", "TRADE_COLUMNS", "TOP_OF_BOOK_COLUMNS", "TICKER_COLUMNS",
    "BUILT_IN",
]

TRADE_COLUMNS = {
    "ts": "time", "receipt_ts": "time", "venue": "category", "symbol": "category",
    "price": "float", "size": "float", "side": "category", "trade_id": "object", "origin": "category",
}
"""``origin``: ``"live"`` (the stream), ``"backfill"`` (REST history at start, ``Feed(history=...)``) or
``"gapfill"`` (REST trades that filled a trade-id hole); see :mod:`livefeed.backfill`."""
TOP_OF_BOOK_COLUMNS = {
    "ts": "time", "receipt_ts": "time", "venue": "category", "symbol": "category",
    "bid_price": "float", "bid_size": "float", "ask_price": "float", "ask_size": "float",
    "spread": "float", "mid": "float", "sequence": "int",
}
TICKER_COLUMNS = {
    "ts": "time", "receipt_ts": "time", "venue": "category", "symbol": "category",
    "bid_price": "float", "bid_size": "float", "ask_price": "float", "ask_size": "float", "sequence": "int",
}
BUILT_IN = ("trades", "top_of_book", "tickers")
"""The frames every feed has, whatever its venues."""

Route = Callable[[Any], None]
Books = Mapping[tuple[str, str], "OrderBook"]


def _trade_route(frame: RollingFrame, origin: str = "live") -> Route:
    append = frame.append

    def route(t: Trade) -> None:  # the row is built inline: one call less per trade on the hot path
        append((t.exchange_ts, t.receipt_ts, t.venue, t.symbol, t.price, t.size, t.side.value, t.trade_id, origin))

    return route


def _ticker_route(frame: RollingFrame) -> Route:
    append = frame.append

    def route(k: Ticker) -> None:
        append((k.exchange_ts, k.receipt_ts, k.venue, k.symbol, k.bid_price, k.bid_size, k.ask_price, k.ask_size,
                k.sequence if k.sequence is not None else -1))

    return route


class TopOfBookRecorder:
    """Appends a ``top_of_book`` row each time a book's best bid or ask (price or size) changes.

    :meth:`record` reads the book a ``BookSnapshot``/``BookDelta`` changed from ``books`` (already updated by
    whoever applies the event); an event for a book not there records nothing.
    """

    def __init__(self, frame: RollingFrame, books: Books | None = None) -> None:
        self.frame = frame
        self.books: Books = {} if books is None else books
        self._last: dict[tuple[str, str], tuple[float, float, float, float]] = {}

    def clear(self) -> None:
        self._last.clear()

    def record(self, event: BookDelta | BookSnapshot) -> None:
        key = (event.venue, event.symbol)
        book = self.books.get(key)
        if book is None:
            return
        bid, ask = book.best_bid, book.best_ask
        if bid is None or ask is None:
            return
        top = (bid[0], bid[1], ask[0], ask[1])
        if self._last.get(key) == top:
            return
        self._last[key] = top
        self.frame.append((
            event.exchange_ts, event.receipt_ts, event.venue, event.symbol, bid[0], bid[1], ask[0], ask[1],
            ask[0] - bid[0], (ask[0] + bid[0]) / 2, event.sequence if event.sequence is not None else -1,
        ))


def _appender(frame: RollingFrame, row: Callable[[Any], tuple[object, ...]]) -> Route:
    append = frame.append

    def route(event: Any) -> None:
        append(row(event))

    return route


class FrameAccess:
    """``.frames`` and attribute access to every frame (``feed.blocks``, ``feed.funding``) for whatever holds a
    :class:`FrameSet` as ``_frameset`` (a ``Feed``, a Redis reader)."""

    _frameset: FrameSet

    def __getattr__(self, name: str) -> RollingFrame:
        frameset = self.__dict__.get("_frameset")
        if frameset is not None and name in frameset.frames:
            return frameset.frames[name]  # type: ignore[no-any-return]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def frames(self) -> dict[str, RollingFrame]:
        """Every rolling frame by name: the built-in three, those the subscribed sources declare, and the closed
        bars of each interval asked for with ``bars()`` (``bars_1s``, ...)."""
        return self._frameset.frames


class FrameSet:
    """The frames of one feed and the routing of events into them.

    ``declared``: the adapter classes in use (or their ``frames`` dicts of :class:`FrameSpec`); their frames are
    added to the built-in ones. ``books``: where :meth:`route` finds the book a book event changed, for the
    top-of-book row (the feed's adapters update that book before the event is routed; see :meth:`use_books`).
    """

    def __init__(
        self,
        capacity: int,
        declared: Iterable[type[VenueAdapter] | Mapping[str, FrameSpec]] = (),
        books: Books | None = None,
    ) -> None:
        self.capacity = capacity
        self.trades = RollingFrame(TRADE_COLUMNS, capacity)
        self.top_of_book = RollingFrame(TOP_OF_BOOK_COLUMNS, capacity)
        self.tickers = RollingFrame(TICKER_COLUMNS, capacity)
        self.frames: dict[str, RollingFrame] = {
            "trades": self.trades, "top_of_book": self.top_of_book, "tickers": self.tickers,
        }
        """Every frame by name: the built-in three, then those the adapters declare, in declaration order."""
        self.recorder = TopOfBookRecorder(self.top_of_book, books)
        self._specs: dict[str, FrameSpec] = {}
        self._targets: dict[type, list[tuple[RollingFrame, Callable[[Any], tuple[object, ...]]]]] = {}
        self.routes: dict[type, Route] = {
            Trade: _trade_route(self.trades),
            BackfillTrade: _trade_route(self.trades, BackfillTrade.origin),
            FilledTrade: _trade_route(self.trades, FilledTrade.origin),
            Ticker: _ticker_route(self.tickers),
            BookSnapshot: self.recorder.record,
            BookDelta: self.recorder.record,
        }
        """Event type -> what appends its rows (:meth:`route` in one look-up; the feed inlines that look-up)."""
        self._built_in = dict(self.routes)
        for frames in declared:
            self.declare(frames)

    def __repr__(self) -> str:
        return f"<FrameSet {', '.join(f'{name}={len(frame)}' for name, frame in self.frames.items())}>"

    def declare(self, frames: type[VenueAdapter] | Mapping[str, FrameSpec]) -> list[str]:
        """Add the frames an adapter class (or its ``frames`` dict) declares; returns the names that are new.

        Declaring the same spec again is a no-op (two venues may share one); a different spec under a name
        already taken raises ``ValueError``. ``frames`` is replaced, not changed in place, so a reader on another
        thread iterating the old dict never sees it change size.
        """
        specs: Mapping[str, FrameSpec] = frames if isinstance(frames, Mapping) else frames.frames
        added: dict[str, RollingFrame] = {}
        for name, spec in specs.items():
            if self._specs.get(name) == spec:
                continue
            if name in self.frames or name in added:
                raise ValueError(f"frame {name!r} is declared twice with different columns, event or row")
            self._specs[name] = spec
            frame = added[name] = RollingFrame(spec.columns, self.capacity)
            self._targets.setdefault(spec.event, []).append((frame, spec.row))
            self.routes[spec.event] = self._fan_out(spec.event)
        if added:
            self.frames = {**self.frames, **added}
        return list(added)

    def _fan_out(self, event_type: type) -> Route:
        """One route for every frame an event type fills (a built-in one first, e.g. a declared frame of trades)."""
        built_in, targets = self._built_in.get(event_type), self._targets[event_type]
        if built_in is None and len(targets) == 1:
            return _appender(*targets[0])

        def route(event: Any) -> None:
            if built_in is not None:
                built_in(event)
            for frame, row in targets:
                frame.append(row(event))

        return route

    def listen(self, event_type: type, listener: Route) -> None:
        """Also call ``listener(event)`` for every event of ``event_type``, after its rows are appended (e.g. live
        bars from trades; a :class:`~livefeed.model.Trade` listener also hears backfilled and filled trades).
        Call it on the thread that routes (the feed's loop)."""
        if event_type is Trade:
            for derived in (BackfillTrade, FilledTrade):
                self._listen(derived, listener)
        self._listen(event_type, listener)

    def _listen(self, event_type: type, listener: Route) -> None:
        before = self.routes.get(event_type)
        if before is None:
            self.routes[event_type] = listener
            return

        def route(event: Any) -> None:
            before(event)
            listener(event)

        self.routes[event_type] = route

    def add_frame(self, name: str, frame: RollingFrame) -> None:
        """Show ``frame`` (filled by someone else, e.g. bars) among :attr:`frames` under ``name``."""
        if name in self.frames:
            raise ValueError(f"a frame named {name!r} exists already")
        self.frames = {**self.frames, name: frame}

    def use_books(self, books: Books) -> None:
        """Find books in ``books`` from now on (a feed's new run) and forget the last top of book recorded."""
        self.recorder.books = books
        self.recorder.clear()

    def route(self, event: Any) -> None:
        """Append the rows ``event`` makes (none for a type no frame takes). On the hot path: one dict look-up."""
        route = self.routes.get(type(event))
        if route is not None:
            route(event)
