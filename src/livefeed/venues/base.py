"""What every market venue adapter shares: its books and their sync bookkeeping, connections and REST.

A venue module provides pure parsers and its book-sync rule (a small state machine per symbol that says one
:class:`~livefeed.venues.book_sync.Verdict` per book message); its adapter class (a subclass of
:class:`MarketAdapter`) wires them to :class:`~livefeed.connection.Connection` objects and hands each verdict to
:meth:`MarketAdapter.settle`, the one place that applies, verifies, counts, emits and resyncs. The feed only talks
to the :class:`~livefeed.source.Source` interface, so adding a venue never touches the feed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import orjson

from ..book import OrderBook
from ..connection import Connection, ConnectionStats
from ..model import BookDelta, BookSnapshot, Event
from ..source import DEFAULT_MAX_BODY, AdapterOptions, FrameSpec, Source, SourceOptions, VenueEndpoints
from .book_sync import BookRule, SyncStats, Verdict, apply_judged
from .rest import ResponseTooLargeError, RestClient, RestError

__all__ = [
    "VenueEndpoints", "SyncStats", "MarketAdapter", "VenueAdapter", "CHANNELS", "FrameSpec", "AdapterOptions",
    "SourceOptions", "MalformedFrame", "decode_object", "RestError", "ResponseTooLargeError", "DEFAULT_MAX_BODY",
    "Verdict", "BookRule",
]

log = logging.getLogger(__name__)

CHANNELS = ("trades", "book", "ticker")
"""Channel names a feed accepts; each venue maps them to its own streams."""


class MalformedFrame(ValueError):
    """A frame that is not the venue's JSON of a known shape: counted and logged by the connection, never fatal."""


def decode_object(frame: str | bytes) -> dict[str, Any]:
    """Parse one frame that must be a JSON object (every venue's messages are)."""
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise MalformedFrame(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise MalformedFrame(f"unexpected frame: {str(message)[:120]}")
    return message


class MarketAdapter(RestClient, Source):
    """Base class of the market venues: owns the books, their rules and sync stats, and the connections."""

    def __init__(
        self,
        symbols: Iterable[str],
        channels: Iterable[str],
        emit: Callable[[Event], None],
        endpoints: VenueEndpoints | None = None,
        options: SourceOptions | None = None,
        *,
        max_body: int | None = None,
        book_stale_after: float | None = None,
    ) -> None:
        super().__init__(symbols, channels, emit, endpoints, options)
        if max_body is not None:  # venue_options={"binance": {"max_body": ...}}
            if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body <= 0:
                raise ValueError(f"{self.name}: max_body must be a positive number of bytes, got {max_body!r}")
            self.options = replace(self.options, max_body=max_body)
        if book_stale_after is not None:  # venue_options={"kraken": {"book_stale_after": 120}}
            self.options = replace(self.options, connection=replace(self.options.connection,
                                                                    book_stale_after=book_stale_after))
        self.book_stale_after = self.options.connection.book_stale_after
        self.books: dict[str, OrderBook] = {s: OrderBook(self.name, s) for s in self.symbols}
        self.sync: dict[str, SyncStats] = {s: SyncStats(self.name, s) for s in self.symbols}
        self.rules: dict[str, BookRule] = {s: self.book_rule(s) for s in self.symbols}
        """Symbol -> the venue's book-sync rule for it (see :class:`~livefeed.venues.book_sync.BookRule`)."""
        self.connections: list[Connection] = []
        self.connection_symbols: dict[str, list[str]] = {}
        """Connection name -> the symbols it carries, where a venue spreads symbols over several connections."""
        self._built = asyncio.Event()
        self._book_touched: dict[str, int] = {}
        """Symbol -> wall time (ns) of its last applied book event or forced resync, for the book watchdog."""
        if self.book_stale_after is not None and "book" in self.channels:
            self.emit = self._watching_books(self.emit)

    def book_rule(self, symbol: str) -> BookRule:
        """A fresh book-sync rule for ``symbol`` (each venue's own)."""
        raise NotImplementedError

    def connection_stats(self) -> list[ConnectionStats]:
        return [conn.stats for conn in self.connections]

    def connection(self, url: str, name: str, **kwargs: Any) -> Connection:
        """A :class:`Connection` with this adapter's options whose frames go to :meth:`on_frame`."""
        return Connection(url, name=name, on_frame=self.on_frame, options=self.options.connection, **kwargs)

    def on_frame(self, frame: str | bytes, receipt_ns: int, conn: Connection) -> None:
        """One WebSocket frame from ``conn``: parse it and hand book messages to the rule and :meth:`settle`."""
        raise NotImplementedError

    # -- the one book-sync bookkeeping ----------------------------------------------------------------------------
    def settle(self, symbol: str, verdict: Verdict, event: BookSnapshot | BookDelta | None,
               conn: Connection | None) -> Verdict:
        """Act on the rule's ``verdict`` for ``event``; returns the final verdict (``CHECKSUM_FAIL`` when the book
        failed the rule's :meth:`~livefeed.venues.book_sync.BookRule.verify` after applying).

        ``APPLY`` applies the event, verifies, counts it, marks the book synced on a snapshot and emits it; ``event``
        ``None`` with ``APPLY`` is a message in sequence with nothing to apply (a venue's keep-alive). ``STALE`` is
        counted and dropped. ``BUFFERED``, ``GAP`` and ``CHECKSUM_FAIL`` call :meth:`resync_book` (the last two are
        counted and logged).
        """
        stats = self.sync[symbol]
        if verdict is Verdict.APPLY:
            if event is None:
                return verdict
            snapshot = type(event) is BookSnapshot
            if snapshot:
                stats.snapshots += 1
            else:
                stats.deltas += 1
            verdict = apply_judged(self.rules[symbol], self.books[symbol], event)
            if verdict is Verdict.APPLY:
                if snapshot:
                    stats.synced = True
                    self.book_synced(symbol)
                if event.sequence is not None:
                    stats.last_sequence = event.sequence
                self.emit(event)
                return verdict
        if verdict is Verdict.STALE:
            stats.stale += 1
            return verdict
        if verdict is Verdict.GAP:
            stats.gaps += 1
            log.warning("%s %s: messages lost (book at %s, next message %s): resyncing", self.name, symbol,
                        stats.last_sequence, _position(event))
        elif verdict is Verdict.CHECKSUM_FAIL:
            stats.checksum_failures += 1
            log.warning("%s %s: the book fails the venue's checksum at message %s: resyncing", self.name, symbol,
                        _position(event))
        if verdict is not Verdict.BUFFERED:
            stats.resyncs += 1
            stats.synced = False
        self.resync_book(symbol, conn)
        return verdict

    def book_synced(self, symbol: str) -> None:
        """Called when ``symbol``'s book has applied a snapshot that passed its rule; venues may note it."""

    def resync_book(self, symbol: str, conn: Connection | None) -> None:
        """Get ``symbol`` a fresh snapshot (after a gap, a checksum failure, or a first buffered diff): each venue's
        own way (REST snapshot, or resubscribe on ``conn``). Must not block; repeated calls must not pile up."""
        log.info("%s: no way to resync one book; %s waits for the next reconnect", self.name, symbol)

    def revive_book(self, symbol: str, conn: Connection) -> None:
        """A book silent for ``book_stale_after`` on a live connection: forget it and resync it. Venues whose
        resync does not restart a silent stream (Binance's REST snapshot) resubscribe here instead."""
        self.unsync(symbol)
        self.resync_book(symbol, conn)

    def unsync(self, symbol: str) -> None:
        """Forget ``symbol``'s position (its connection dropped, or it went silent): the next snapshot restarts it."""
        self.rules[symbol].reset()
        self.sync[symbol].synced = False

    def unsync_all(self, symbols: Iterable[str] | None = None) -> None:
        for symbol in self.symbols if symbols is None else symbols:
            self.unsync(symbol)

    # -- the book watchdog ---------------------------------------------------------------------------------------
    def _watching_books(self, emit: Callable[[Event], None]) -> Callable[[Event], None]:
        touched, clock = self._book_touched, time.time_ns

        def emit_and_note(event: Event) -> None:
            if type(event) is BookDelta or type(event) is BookSnapshot:
                touched[event.symbol] = clock()
            emit(event)

        return emit_and_note

    def build_connections(self) -> list[Connection]:
        raise NotImplementedError

    async def run(self) -> None:
        """Run every connection until :meth:`close`; one that fails for good (see ``stats()``) ends alone."""
        self.connections = self.build_connections()
        self._built.set()
        if self.book_stale_after is not None and "book" in self.channels and self.books:
            self.spawn(self._watch_books(self.book_stale_after), f"{self.name}-book-watchdog")
        await asyncio.gather(*(conn.run() for conn in self.connections))

    def connection_of(self, symbol: str) -> Connection | None:
        """The connection carrying ``symbol``'s streams."""
        for conn in self.connections:
            if symbol in self.connection_symbols.get(conn.name, ()):
                return conn
        return self.connections[0] if len(self.connections) == 1 else None

    async def _watch_books(self, stale_after: float) -> None:
        """Per-book staleness: the connection watchdog sees only whole-socket silence, not one silent book."""
        limit = int(stale_after * 1e9)
        while True:
            await asyncio.sleep(min(stale_after / 4, 1.0))
            now = time.time_ns()
            for symbol in self.symbols:
                conn = self.connection_of(symbol)
                if conn is None or not conn.connected:
                    continue
                since = max(self._book_touched.get(symbol, 0), conn.stats.connected_since_ns)
                if now - since < limit:
                    continue
                self._book_touched[symbol] = now  # one resync per period, not one per check
                stats = self.sync[symbol]
                stats.stale_resyncs += 1
                log.warning("%s %s: no book update for %.1fs while connected: resyncing (%d so far)", self.name,
                            symbol, (now - since) / 1e9, stats.stale_resyncs)
                self.revive_book(symbol, conn)

    async def first_connect(self) -> None:
        """Return once every connection has made its first attempt; raise ``FatalConnectionError`` if one of them
        failed for good (HTTP 401/403/404, not a WebSocket server, TLS mismatch). A transient failure returns:
        that connection keeps retrying. For ``Feed.start()``, after :meth:`run` has been started."""
        await self._built.wait()
        await asyncio.gather(*(conn.wait_first_attempt() for conn in self.connections))

    async def close(self) -> None:
        await asyncio.gather(*(conn.close() for conn in self.connections), return_exceptions=True)
        await super().close()
        await self.close_http()


def _position(event: BookSnapshot | BookDelta | None) -> str:
    """Where a message sits in its venue's sequence, for a log line."""
    if event is None or event.sequence is None:
        return "(unnumbered)"
    first = getattr(event, "first_sequence", None)
    return f"{first}-{event.sequence}" if first not in (None, event.sequence) else str(event.sequence)


VenueAdapter = MarketAdapter
"""The market adapters' base under its earlier name."""
