"""What every market venue adapter shares: its books and their sync bookkeeping, connections and REST.

A venue module provides pure parsers and its book-sync rule (a small state machine per symbol that says one
:class:`~livefeed.venues.book_sync.Verdict` per book message); its adapter class (a subclass of
:class:`MarketAdapter`) wires them to :class:`~livefeed.connection.Connection` objects and hands each verdict to
:meth:`MarketAdapter.settle`, the one place that applies, verifies, counts, emits and resyncs. The feed only talks
to the :class:`~livefeed.source.Source` interface, so adding a venue never touches the feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

import orjson

from ..book import OrderBook
from ..connection import Connection, ConnectionStats
from ..coverage import CoverageChange, CoverageState
from ..model import BookDelta, BookSnapshot, Event, Trade
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
    """Base class of the market venues: owns the books, their rules and sync stats, and the connections.

    It also records each book and trade stream's coverage (:mod:`livefeed.coverage`): one
    :class:`~livefeed.coverage.CoverageChange` event per change of state, at the transitions only (``settle``'s
    snapshot / gap / checksum branches, :meth:`unsync`, the book watchdog, the connection's connect and
    disconnect), and, where the venue numbers its trades (``numbered_trades``), every hole in the trade ids.
    """

    numbered_trades = False
    """True where ``Trade.sequence`` is the venue's trade id, contiguous per market (Binance ``t``, Kraken v2
    ``trade_id``, ...): the base then counts missing ids and records each hole in coverage. A venue whose ids are
    not contiguous per market (Bybit's are shared across symbols) leaves it False."""

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
        self._streams = [stream for stream in ("book", "trades") if stream in self.channels]
        """The streams whose coverage this adapter records."""
        self._coverage: dict[tuple[str, str], tuple[str, int]] = {}
        """(symbol, stream) -> (state, since ns): the current state of each stream, so only changes are emitted."""
        self._unsync_as: tuple[CoverageState, str, int | None] = (CoverageState.RESYNCING, "resubscribing", None)
        """What :meth:`unsync` records the book as: set around a disconnect and the book watchdog's revival."""
        self._dropped_books: dict[str, list[str]] = {}
        """Connection name -> the books its last disconnect unsynced (the venue's own list)."""
        self._closing = False
        self._trade_chains: dict[str, list[int]] = {}
        """Symbol -> [last trade id, its receipt ns], where the venue numbers its trades."""
        if self.numbered_trades and "trades" in self.channels:
            self.emit = self._watching_trades(self.emit)

    def book_rule(self, symbol: str) -> BookRule:
        """A fresh book-sync rule for ``symbol`` (each venue's own)."""
        raise NotImplementedError

    def connection_stats(self) -> list[ConnectionStats]:
        return [conn.stats for conn in self.connections]

    def connection(self, url: str, name: str, *, on_connect: Callable[[Connection], Awaitable[None]] | None = None,
                   on_disconnect: Callable[[], None] | None = None, **kwargs: Any) -> Connection:
        """A :class:`Connection` with this adapter's options whose frames go to :meth:`on_frame`; its connects and
        disconnects are recorded in coverage around the venue's own ``on_connect`` / ``on_disconnect``."""
        conn: Connection

        async def connected(c: Connection) -> None:
            self._connected(c)
            if on_connect is not None:
                with self._unsyncing_as(CoverageState.RESYNCING, "connected: awaiting a snapshot"):
                    await on_connect(c)

        def disconnected() -> None:
            reason = self._disconnect_reason(conn)
            with self._unsyncing_as(CoverageState.DISCONNECTED, reason) as dropped:
                if on_disconnect is not None:
                    on_disconnect()
            self._dropped_books[conn.name] = dropped
            now = time.time_ns()
            for symbol in self._books_of(conn):  # a venue that keeps its books synced across a reconnect
                self.note_coverage(symbol, "book", CoverageState.DISCONNECTED, reason, now)
            for symbol in self.trade_symbols_of(conn):
                self.note_coverage(symbol, "trades", CoverageState.DISCONNECTED, reason, now)

        conn = Connection(url, name=name, on_frame=self.on_frame, options=self.options.connection,
                          on_connect=connected, on_disconnect=disconnected, **kwargs)
        return conn

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
                    self.note_coverage(symbol, "book", CoverageState.SYNCED, "snapshot applied", event.receipt_ts)
                    self.book_synced(symbol)
                if event.sequence is not None:
                    stats.last_sequence = event.sequence
                self.emit(event)
                return verdict
        if verdict is Verdict.STALE:
            stats.stale += 1
            return verdict
        at = event.receipt_ts if event is not None else None
        if verdict is Verdict.GAP:
            stats.gaps += 1
            log.warning("%s %s: messages lost (book at %s, next message %s): resyncing", self.name, symbol,
                        stats.last_sequence, _position(event))
            self.note_coverage(symbol, "book", CoverageState.RESYNCING,
                               f"gap: book at {stats.last_sequence}, next message {_position(event)}", at)
        elif verdict is Verdict.CHECKSUM_FAIL:
            stats.checksum_failures += 1
            log.warning("%s %s: the book fails the venue's checksum at message %s: resyncing", self.name, symbol,
                        _position(event))
            self.note_coverage(symbol, "book", CoverageState.RESYNCING,
                               f"checksum failed at message {_position(event)}", at)
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
        """Forget ``symbol``'s position (its connection dropped, or it went silent): the next snapshot restarts it.

        Coverage records the book as resyncing, or as what the caller is handling (a disconnect, a silent book)."""
        self.rules[symbol].reset()
        self.sync[symbol].synced = False
        state, reason, at = self._unsync_as
        if self._dropping is not None:
            self._dropping.append(symbol)
        self.note_coverage(symbol, "book", state, reason, at)

    # -- coverage --------------------------------------------------------------------------------------------------
    _dropping: list[str] | None = None

    def note_coverage(self, symbol: str, stream: str, state: CoverageState, reason: str,
                      at_ns: int | None = None) -> None:
        """Record that ``symbol``'s ``stream`` is in ``state`` from ``at_ns`` (now by default); a stream already in
        that state keeps its interval (and first reason). Called at transitions only, never per message."""
        if stream not in self._streams or symbol not in self.sync:
            return
        key = (symbol, stream)
        at = time.time_ns() if at_ns is None else at_ns
        current = self._coverage.get(key)
        if current is not None:
            if current[0] == state:
                return
            at = max(at, current[1])  # each stream's intervals follow one another
        self._coverage[key] = (state, at)
        self.emit(CoverageChange(self.name, symbol, stream, str(state), reason, at))

    def coverage_state(self, symbol: str, stream: str) -> str | None:
        """The current coverage state of ``symbol``'s ``stream`` (None before the adapter runs)."""
        current = self._coverage.get((symbol, stream))
        return None if current is None else current[0]

    @contextlib.contextmanager
    def _unsyncing_as(self, state: CoverageState, reason: str, at_ns: int | None = None) -> Iterator[list[str]]:
        """While inside, :meth:`unsync` records the book as ``state`` (``reason``); yields the symbols unsynced."""
        before, dropping_before = self._unsync_as, self._dropping
        dropped: list[str] = []
        self._unsync_as, self._dropping = (state, reason, at_ns), dropped
        try:
            yield dropped
        finally:
            self._unsync_as, self._dropping = before, dropping_before

    def trade_symbols_of(self, conn: Connection) -> Iterable[str]:
        """The symbols whose trades ``conn`` carries, for coverage: every symbol when the venue has one connection,
        else those of ``connection_symbols``, else the books its last disconnect unsynced, else (before any
        disconnect) the symbols no connection has claimed yet. A venue that carries trades apart from its books
        overrides it."""
        if len(self.connections) <= 1:
            return self.symbols
        listed = self.connection_symbols.get(conn.name) or self._dropped_books.get(conn.name)
        if listed:
            return listed
        return [s for s in self.symbols if self._coverage.get((s, "trades"), ("", 0))[0] == CoverageState.DISCONNECTED]

    def _books_of(self, conn: Connection) -> Iterable[str]:
        """The books ``conn`` carries: what its last disconnect unsynced, else as :meth:`trade_symbols_of`."""
        if "book" not in self._streams:
            return ()
        dropped = self._dropped_books.get(conn.name)
        return dropped if dropped else self.trade_symbols_of(conn)

    def _connected(self, conn: Connection) -> None:
        now = time.time_ns()
        for symbol in self._books_of(conn):
            if self.coverage_state(symbol, "book") == CoverageState.DISCONNECTED:
                self.note_coverage(symbol, "book", CoverageState.RESYNCING, "connected: awaiting a snapshot", now)
        for symbol in self.trade_symbols_of(conn):
            self.note_coverage(symbol, "trades", CoverageState.SYNCED, "connected", now)

    def _disconnect_reason(self, conn: Connection) -> str:
        if self._closing:
            return "stopped"
        error = conn.stats.last_error
        return f"disconnected: {error}" if error else "disconnected"

    # -- trade continuity ----------------------------------------------------------------------------------------
    def _watching_trades(self, emit: Callable[[Event], None]) -> Callable[[Event], None]:
        chains, step, trade = self._trade_chains, self._trade_step, Trade

        def emit_and_check(event: Event) -> None:
            if type(event) is trade:
                chain = chains.get(event.symbol)
                if chain is not None and event.sequence == chain[0] + 1:  # the common case: the next id
                    chain[0], chain[1] = event.sequence, event.receipt_ts
                else:
                    step(event, chain)
            emit(event)

        return emit_and_check

    def _trade_step(self, event: Trade, chain: list[int] | None) -> None:
        """A trade that is not the next id of its market's chain: the first, an unnumbered one, an old or repeated
        one (a venue's recent-trades snapshot after a reconnect), or the first after a hole."""
        number = event.sequence
        if number is None:  # an unnumbered trade (an aggregate): the chain starts again after it
            self._trade_chains.pop(event.symbol, None)
        elif chain is None:
            self._trade_chains[event.symbol] = [number, event.receipt_ts]
        elif number > chain[0]:
            self._trade_hole(event.symbol, chain[0] + 1, number - 1, chain[1], event.receipt_ts)
            chain[0], chain[1] = number, event.receipt_ts

    def _trade_hole(self, symbol: str, first: int, last: int, before_ns: int, after_ns: int) -> None:
        """Trade ids ``first``..``last`` of ``symbol`` never arrived (between trades received at ``before_ns`` and
        ``after_ns``): count them, record the hole in coverage, then hand it to :meth:`trades_missing`."""
        missing = last - first + 1
        stats = self.sync[symbol]
        stats.trade_gaps += 1
        stats.missing_trades += missing
        ids = str(first) if missing == 1 else f"{first}-{last}"
        log.warning("%s %s: %d trade(s) missing (ids %s)", self.name, symbol, missing, ids)
        self.note_coverage(symbol, "trades", CoverageState.GAP, f"trade ids {ids} missing ({missing})",
                           min(before_ns + 1, after_ns))
        self.note_coverage(symbol, "trades", CoverageState.SYNCED, f"trades continue at id {last + 1}", after_ns)
        try:
            self.trades_missing(symbol, first, last)
        except Exception:  # a failing fill must not lose the live trade that showed the hole
            log.exception("%s %s: trades_missing failed", self.name, symbol)

    def trades_missing(self, symbol: str, first_missing: int, last_missing: int) -> None:
        """Called once per hole in ``symbol``'s trade ids (``first_missing``..``last_missing``, inclusive), after
        it is counted and recorded in coverage. A venue that can fetch them (its REST recent-trades endpoint)
        schedules that here; it must not block. The default does nothing."""

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
        now = time.time_ns()
        for symbol in self.symbols:
            for stream in self._streams:
                self.note_coverage(symbol, stream, CoverageState.DISCONNECTED, "connecting", now)
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
                with self._unsyncing_as(CoverageState.STALE, f"no book update for {stale_after:g}s", since):
                    self.revive_book(symbol, conn)

    async def first_connect(self) -> None:
        """Return once every connection has made its first attempt; raise ``FatalConnectionError`` if one of them
        failed for good (HTTP 401/403/404, not a WebSocket server, TLS mismatch). A transient failure returns:
        that connection keeps retrying. For ``Feed.start()``, after :meth:`run` has been started."""
        await self._built.wait()
        await asyncio.gather(*(conn.wait_first_attempt() for conn in self.connections))

    async def close(self) -> None:
        self._closing = True
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
