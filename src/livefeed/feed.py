"""``Feed``: the researcher's handle on live data.

In a notebook::

    feed = livefeed.Feed(["binance:BTC-USDT", "binance:ETH-USDT"], channels=["trades", "book"])
    feed.start()                       # returns at once; the feed runs on a background loop thread
    feed.book("binance", "BTC-USDT")   # a consistent copy of the live local book
    feed.trades.to_pandas()            # the rolling trade frame
    feed.stats()                       # per-connection health
    feed.stop()

In a script::

    async with livefeed.Feed(["binance:BTC-USDT"]) as feed:
        async for event in feed.events():
            ...
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import difflib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from . import live as _live
from .backfill import WarmStart, parse_history
from .book import OrderBook
from .callback_watch import CallbackWatch
from .connection import Connection, ConnectionOptions
from .consolidated import ConsolidatedQuote, consolidate
from .coverage import FRAME_STREAMS, Coverage, CoverageChange
from .errors import (
    ConfigError,
    FeedNotRunningError,
    StartTimeoutError,
    StopTimeoutError,
    UnknownChannelError,
    UnknownVenueError,
)
from .feed_config import (
    check_audit_every,
    check_capacity,
    check_event_queue_size,
    check_venue_options,
    connection_options,
)
from .frames import RollingFrame
from .frameset import TICKER_COLUMNS, TOP_OF_BOOK_COLUMNS, TRADE_COLUMNS, FrameAccess, FrameSet
from .model import Event, Side, Trade
from .naming import parse_instrument
from .registry import SOURCES, Subscription, adapter_class, parse_subscription, source_of
from .runtime import LoopThread
from .sinks import Sink
from .source import Source, SourceOptions, VenueEndpoints
from .venues.base import CHANNELS, MarketAdapter

if TYPE_CHECKING:
    import pandas as pd

    from .bars import Bars

__all__ = ["Feed", "Subscription", "parse_subscription", "TRADE_COLUMNS", "TOP_OF_BOOK_COLUMNS", "TICKER_COLUMNS"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_CLOSED = object()


def _trade_prints(trades: RollingFrame) -> Iterator[tuple[str, str, int, float, float, Side]]:
    """``(venue, symbol, exchange-or-receipt ns, price, size, side)`` of every trade a trades frame holds."""
    frame = trades.to_pandas()
    if frame.empty:
        return
    times = frame["ts"].where(frame["ts"].notna(), frame["receipt_ts"]).astype("int64")
    yield from zip(frame["venue"].astype(str), frame["symbol"].astype(str), times.tolist(), frame["price"].tolist(),
                   frame["size"].tolist(), (Side(v) for v in frame["side"].astype(str)), strict=True)


def _check_sources(what: str, given: Mapping[str, object]) -> None:
    """``endpoints`` and ``venue_options`` are keyed by source: a venue's spot name or a derivatives source."""
    unknown = set(given) - set(SOURCES)
    if unknown:
        raise UnknownVenueError(f"{what} given for unknown venue(s) {sorted(unknown)}; livefeed's sources are "
                                f"{sorted(SOURCES)}")


def _check_channels(channels: Iterable[str]) -> list[str]:
    if isinstance(channels, str):
        channels = [channels]
    out = []
    for channel in channels:
        if channel not in CHANNELS:
            matches = difflib.get_close_matches(str(channel), CHANNELS, n=1, cutoff=0.5)
            hint = f" Did you mean {matches[0]!r}?" if matches else ""
            raise UnknownChannelError(f"unknown channel {channel!r}; choose from {list(CHANNELS)}.{hint}")
        out.append(channel)
    if not out:
        raise UnknownChannelError(f"no channels given; choose from {list(CHANNELS)}")
    return out


class Feed(FrameAccess):
    """Market data from one or more venues, kept in exact local books and bounded rolling frames.

    Parameters
    ----------
    subscriptions:
        ``"venue:INSTRUMENT"`` strings, e.g. ``["binance:BTC-USDT", "binance:BTC-USDT-PERP",
        "deribit:BTC-USD-20261225-80000-C"]`` (see :mod:`livefeed.naming`), or ``"eth:<target>"``.
    channels:
        any of ``"trades"``, ``"book"``, ``"ticker"`` (the venue's own best bid/ask stream).
    endpoints:
        per source (a venue's spot name, or e.g. ``"binance-usdm"``; see ``livefeed.registry.MARKETS``), where to
        connect instead of the real exchange: a base URL, ``{"ws": ..., "rest": ...}``, or a running
        ``livefeed.sim`` simulator.
    capacity:
        rows kept in each rolling frame; older rows roll out.
    connection:
        keep-alive and recovery settings (:class:`~livefeed.connection.ConnectionOptions`).
    validate:
        check symbols against the venue's listing on start (one REST call per venue).
    venue_options:
        per source, settings its adapter takes, e.g. ``{"kraken": {"depth": 25}, "binance": {"snapshot_limit":
        1000}}``.
    raw_capture:
        a directory (or a :class:`~livefeed.sinks.raw_capture.RawCapture`) to record every raw frame and REST body into,
        for ``livefeed replay``.
    history:
        warm start: fill the trades frame with this much recent history (``"15min"``, ``"1h"``, or seconds) from
        each venue's REST API before live rows, each trade once, ``origin="backfill"`` (see :mod:`livefeed.backfill`
        for what each venue can reach); ``feed.wait_history()`` waits for it, ``feed.history_report()`` says how it
        went. Off by default.
    audit_every:
        seconds between REST checks of each book's top against the venue's snapshot at the same update id
        (Binance; ``kind="rest_top"`` in :meth:`audit`). Off by default; at least 10 s.
    """

    def __init__(
        self,
        subscriptions: str | Iterable[str],
        channels: Iterable[str] = ("trades", "book"),
        *,
        endpoints: Mapping[str, Any] | None = None,
        capacity: int = 100_000,
        connection: ConnectionOptions | Mapping[str, Any] | None = None,
        validate: bool = True,
        event_queue_size: int = 100_000,
        sinks: Iterable[Sink] = (),
        venue_options: Mapping[str, Mapping[str, Any]] | None = None,
        raw_capture: str | Path | Any | None = None,
        history: str | float | None = None,
        audit_every: float | None = None,
    ) -> None:
        if isinstance(subscriptions, str):
            subscriptions = [subscriptions]
        self.subscriptions = list(dict.fromkeys(parse_subscription(s) for s in subscriptions))
        if not self.subscriptions:
            raise UnknownVenueError("no subscriptions given, e.g. Feed(['binance:BTC-USDT'])")
        self.channels = _check_channels(channels)
        endpoints = dict(endpoints or {})
        _check_sources("endpoints", endpoints)
        self._endpoints = {
            source: VenueEndpoints.from_value(endpoints[source], adapter_class(source).default_endpoints)
            for source in endpoints
        }
        capacity = check_capacity(capacity)
        event_queue_size = check_event_queue_size(event_queue_size)
        connection = connection_options(connection)
        self.raw_capture = None
        """The :class:`~livefeed.sinks.raw_capture.RawCapture` recording every raw frame, when ``raw_capture`` is
        given."""
        if raw_capture is not None:
            from .sinks.raw_capture import RawCapture

            capture = raw_capture if isinstance(raw_capture, RawCapture) else RawCapture(raw_capture)
            connection = dataclasses.replace(connection, tap=capture.tap)
            self.raw_capture = capture
            sinks = [*sinks, capture]
        self._adapter_options = SourceOptions(connection=connection)
        self.connection_options = connection
        """The effective :class:`~livefeed.connection.ConnectionOptions` of every connection of this feed."""
        venue_options = dict(venue_options or {})
        _check_sources("venue_options", venue_options)
        self._venue_options = {
            source: check_venue_options(source, opts,
                                        [s.symbol for s in self.subscriptions if source_of(s) == source],
                                        self._endpoints.get(source), self._adapter_options)
            for source, opts in venue_options.items()
        }
        self.validate = validate
        self.history_ns = parse_history(history)
        """How far back the warm start reaches (ns), or ``None`` (``history=``)."""
        self.audit_every = check_audit_every(audit_every)
        self._warm_start: WarmStart | None = None
        self._frameset = FrameSet(capacity, (adapter_class(source) for source in dict.fromkeys(
            source_of(sub) for sub in self.subscriptions)))
        self._routes = self._frameset.routes
        self.trades, self.top_of_book, self.tickers = (self._frameset.trades, self._frameset.top_of_book,
                                                       self._frameset.tickers)
        self._bars: dict[int, Bars] = {}
        self._coverage = Coverage(capacity)
        self._frameset.listen(CoverageChange, self._coverage.add)
        self.sinks: list[Sink] = list(sinks)
        self.dropped_events = 0
        self._event_queue_size = event_queue_size
        self._queues: list[asyncio.Queue[object]] = []
        self._callbacks: list[Callable[[Event], None]] = []
        self._callback_watch = CallbackWatch()
        self._stopping = False
        self._adapters: list[Source] = []
        self._books: dict[tuple[str, str], OrderBook] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: LoopThread | None = None

    def bars(self, interval: str = "1min") -> Bars:
        """Live OHLCV bars (open, high, low, close, volume, VWAP, trade count, buy and sell volume) per market at
        ``interval`` (``"1s"``, ``"5min"``, ...; see :mod:`livefeed.bars`): ``feed.bars("1s").to_pandas()``.

        The first call for an interval builds its bars from the trades the frame holds, then adds every new trade
        (on the feed's loop, so none is counted twice or missed); later calls return the same :class:`Bars`.
        Closed bars are final and also in ``feed.frames["bars_<interval>"]`` (exported like every frame).
        """
        from .bars import Bars, parse_interval

        ns = parse_interval(interval)
        bars = self._bars.get(ns)
        if bars is not None:
            return bars
        bars = Bars(interval, self._frameset.capacity)

        def attach() -> None:
            for venue, symbol, ts, price, size, side in _trade_prints(self.trades):
                bars.add_print(venue, symbol, ts, price, size, side)
            self._frameset.listen(Trade, bars.add)
            self._frameset.add_frame(f"bars_{bars.label}", bars.frame)

        if self._runner is not None and self._runner.alive:
            self._runner.call(attach)
        else:
            attach()
        self._bars[ns] = bars
        return bars

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        subs = ", ".join(str(s) for s in self.subscriptions)
        return f"<Feed {state} [{subs}] channels={self.channels} trades={len(self.trades)}>"

    @property
    def running(self) -> bool:
        return self._loop is not None

    # -- lifecycle: notebook form ---------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> Feed:
        """Start on the background loop thread and return at once (after symbol validation).

        If the start does not finish within ``timeout`` seconds, everything it began is closed again and
        :class:`~livefeed.errors.StartTimeoutError` is raised: a failed start leaves nothing running.
        """
        if self.running:
            log.info("feed already running; start() ignored")
            return self
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ConfigError(f"start(timeout=...) must be a positive number of seconds, got {timeout!r}")
        self._runner = LoopThread.shared()
        # The timeout runs on the loop, so the start is cancelled there and cleans up after itself.
        opening = self._runner.submit(self._open_within(timeout))
        try:
            opening.result(timeout + 10.0)
        except StartTimeoutError:
            self._runner = None
            raise
        except concurrent.futures.TimeoutError:  # the loop itself did not answer: make sure it never starts late
            opening.cancel()
            self._runner = None
            raise StartTimeoutError(f"the feed did not start within {timeout} s: its loop is blocked") from None
        except BaseException:
            self._runner = None
            raise
        stop, active = _live.weak_calls(self, Feed.stop)
        _live.register(self, "feed", stop, repr(self), active=active)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close every connection and task; the frames and their data stay readable.

        Events still in flight when ``stop()`` is called reach the frames and sinks but not the callbacks, so a
        slow callback's backlog does not hold the stop up.
        """
        if not self.running:
            return
        if self._runner is not None:
            self._stopping = True
            try:
                self._runner.run(self._close(), timeout)
            except concurrent.futures.TimeoutError:
                raise StopTimeoutError(f"the feed did not stop within {timeout} s: its loop is blocked, e.g. by a "
                                       "callback that does not return") from None
            self._runner = None

    # -- lifecycle: `with Feed(...) as feed:` in a notebook or a plain script -------------------------------

    def __enter__(self) -> Feed:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- lifecycle: async form ------------------------------------------------------------------------------

    async def __aenter__(self) -> Feed:
        if self.running:
            raise RuntimeError("feed is already running")
        await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._close()

    async def _open_within(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._open()
        except TimeoutError:
            raise StartTimeoutError(
                f"the feed did not start within {timeout} s (validation, sinks and the first connect count); nothing "
                "is left running: start again with a longer timeout, or check the venues are reachable"
            ) from None

    async def _open(self) -> None:
        self._stopping = False
        by_source: dict[str, list[str]] = {}
        for sub in self.subscriptions:
            by_source.setdefault(source_of(sub), []).append(sub.symbol)
        adapters = [
            adapter_class(source)(
                symbols, self.channels, self._emit,
                endpoints=self._endpoints.get(source), options=self._adapter_options,
                **self._venue_options.get(source, {}),
            )
            for source, symbols in by_source.items()
        ]
        started: list[Sink] = []
        try:
            if self.validate:
                await asyncio.gather(*(adapter.validate() for adapter in adapters))
            for sink in self.sinks:
                await sink.start()
                started.append(sink)
        except BaseException:
            await asyncio.gather(*(adapter.close() for adapter in adapters), *(sink.stop() for sink in started),
                                 return_exceptions=True)
            raise
        self._adapters = adapters
        self._books = {(a.name, s): book for a in self._markets() for s, book in a.books.items()}
        self._frameset.use_books(self._books)
        self._loop = asyncio.get_running_loop()
        quality = self._start_quality(adapters)
        self._tasks = [asyncio.create_task(a.run(), name=f"livefeed-{a.name}") for a in adapters] + quality
        try:  # an endpoint that can never work (HTTP 401/403/404, not WebSocket, TLS mismatch) fails the start
            await asyncio.gather(*(a.first_connect() for a in adapters))
        except BaseException:
            await self._close()
            raise

    def _start_quality(self, adapters: list[Source]) -> list[asyncio.Task[None]]:
        """Warm start (a gate in front of each adapter's trades, then its history task) and the REST audit task;
        before the adapters run, so no live trade passes the gate unseen."""
        from .audit import audit_every_loop

        markets = [a for a in adapters if isinstance(a, MarketAdapter)]
        tasks = []
        if self.history_ns is not None:
            self._warm_start = warm = WarmStart(self.history_ns, self._frameset.capacity)
            for adapter, gate in warm.install(markets):
                tasks.append(asyncio.create_task(warm.run(adapter, gate), name=f"livefeed-history-{adapter.name}"))
        if self.audit_every is not None:
            tasks.append(asyncio.create_task(audit_every_loop(markets, self.audit_every), name="livefeed-audit"))
        return tasks

    async def _close(self) -> None:
        self._stopping = True
        await asyncio.gather(*(adapter.close() for adapter in self._adapters), return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for sink in self.sinks:
            try:
                await sink.stop()
            except Exception:
                log.exception("sink %r failed to stop cleanly", sink)
        for queue in self._queues:  # the end marker must reach every consumer: when full, it takes the oldest's place
            if queue.full():
                queue.get_nowait()
                self.dropped_events += 1
            queue.put_nowait(_CLOSED)
        self._loop = None

    # -- consuming events -----------------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[Event]:
        """Every normalised event, in arrival order, until the feed stops.

        Runs on the feed's own loop (the async form). A consumer that falls more than ``event_queue_size``
        events behind loses the oldest ones; ``dropped_events`` counts them.
        """
        if self._loop is None:
            raise FeedNotRunningError("the feed is not running: use `async with Feed(...) as feed:` first")
        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("events() must be iterated on the feed's loop; use `async with Feed(...)`")
        queue: asyncio.Queue[object] = asyncio.Queue(self._event_queue_size)
        self._queues.append(queue)
        try:
            while True:
                item = await queue.get()
                if item is _CLOSED:
                    return
                yield item  # type: ignore[misc]
        finally:
            self._queues.remove(queue)

    def add_sink(self, sink: Sink) -> None:
        """Send every event to ``sink`` too (add before ``start``: sinks start and stop with the feed)."""
        if self.running:
            raise RuntimeError("add sinks before start(); they start and stop with the feed")
        self.sinks.append(sink)

    def add_callback(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback(event)`` on the feed's loop for every event; it must be quick and never block."""
        self._callbacks.append(callback)

    def _emit(self, event: Event) -> None:
        route = self._routes.get(type(event))  # FrameSet.route, inlined: every event passes here
        if route is not None:
            route(event)
        for sink in self.sinks:
            sink.on_event(event)
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
                self.dropped_events += 1
            queue.put_nowait(event)
        if self._callbacks and not self._stopping:
            self._callback_watch.run(self._callbacks, event)

    # -- reading state --------------------------------------------------------------------------------------

    def book(self, venue: str, symbol: str) -> OrderBook:
        """A consistent copy of the local book (taken on the feed's loop, so never half-updated)."""
        key = (venue.lower(), str(parse_instrument(symbol)))
        book = self._books.get(key)
        if book is None:
            known = ", ".join(f"{v}:{s}" for v, s in self._books) or "none yet: start() the feed first"
            raise KeyError(f"no book for {venue}:{symbol}; books: {known}")
        if self._runner is not None and self._runner.alive:
            return self._runner.call(book.copy)
        return book.copy()

    def consolidated(self, symbol: str, quote_map: Mapping[str, str] | None = None) -> ConsolidatedQuote:
        """Best bid and ask for ``symbol`` across every venue of this feed, with the venue holding each.

        Quote currencies stay apart unless mapped: ``feed.consolidated("BTC-USD", quote_map={"USDT": "USD"})``
        also counts Binance's ``BTC-USDT``. Raises ``KeyError`` if no subscribed book matches.
        """
        def copies() -> list[OrderBook]:
            return [book.copy() for book in self._books.values()]

        books = self._runner.call(copies) if self._runner is not None and self._runner.alive else copies()
        quote = consolidate(symbol, books, quote_map)
        if not quote.venues:
            known = ", ".join(f"{v}:{s}" for v, s in self._books) or "none (start the feed first)"
            raise KeyError(f"no book matches {symbol!r} (quote_map={quote_map}); books: {known}")
        return quote

    async def on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` on the feed's loop, where its books change, and await the result from any other loop
        without blocking it (how the live plots read a book that is never half-updated)."""
        feed_loop = self._loop
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if feed_loop is None or feed_loop is here or feed_loop.is_closed():
            return fn()

        async def call() -> T:
            return fn()

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(), feed_loop))

    def health(self, venue: str) -> dict[str, Any]:
        """Cheap state of one venue for live displays: ``state`` (the least healthy of its connections:
        ``stopped``, ``failed``, ``connecting``/``reconnecting``, ``connected``) and ``books`` (symbol -> synced)."""
        adapters = [a for a in self._adapters if a.name == venue]
        if not self.running or not adapters:
            return {"state": "stopped", "books": {}}
        states = [str(stats.state) for a in adapters for stats in a.connection_stats()]
        order = ("failed", "closed", "backoff", "connecting", "new", "connected", "live")
        worst = min(states, key=lambda st: order.index(st) if st in order else 0) if states else "connecting"
        if worst == "backoff":
            worst = "reconnecting"
        markets = [a for a in adapters if isinstance(a, MarketAdapter)]
        books = {symbol: sync.synced for a in markets for symbol, sync in a.sync.items()}
        return {"state": worst, "books": books}

    def remove_callback(self, callback: Callable[[Event], None]) -> None:
        """Stop calling ``callback`` (added with :meth:`add_callback`); unknown callbacks are ignored."""
        with contextlib.suppress(ValueError):
            self._callbacks.remove(callback)

    @property
    def sources(self) -> tuple[Source, ...]:
        """The sources (one per venue: ``.name``, ``.connection_stats()``; market venues also ``.connections``,
        ``.sync``, ``.books``) of the current run, or of the last one once stopped; empty before the first start.
        For reading: they change on the feed's loop."""
        return tuple(self._adapters)

    def _markets(self) -> list[MarketAdapter]:
        return [a for a in self._adapters if isinstance(a, MarketAdapter)]

    @property
    def connections(self) -> tuple[Connection, ...]:
        """Every WebSocket connection of the market venues (see :attr:`sources`), each with ``.connected`` and
        ``.stats``; a chain source's subscription loop reports through ``connection_stats()`` instead."""
        return tuple(conn for adapter in self._markets() for conn in adapter.connections)

    @property
    def ended_sources(self) -> tuple[str, ...]:
        """Venues whose source stopped running while the feed runs. A source reconnects until :meth:`stop`, so
        a venue here means its task ended or raised: it no longer delivers anything."""
        return tuple(adapter.name for adapter, task in zip(self._adapters, self._tasks, strict=False) if task.done())

    @property
    def queue_depths(self) -> tuple[int, ...]:
        """Events waiting per :meth:`events` consumer, oldest consumer first (each holds at most
        ``event_queue_size``; ``dropped_events`` counts what they lost)."""
        return tuple(queue.qsize() for queue in list(self._queues))

    @property
    def books(self) -> dict[tuple[str, str], OrderBook]:
        """The live books by ``(venue, symbol)``; read them on the feed's loop (see :meth:`book` for copies)."""
        return dict(self._books)

    def stats(self) -> pd.DataFrame:
        """One row per connection: traffic, reconnects, staleness, exchange-to-receipt lag, book gaps, trade-id
        gaps (``trade_gaps``, ``missing_trades``)."""
        import pandas as pd  # lazy, like every heavy dependency: see "Light import" in the README

        rows = []
        now = time.time_ns()
        for adapter in self._adapters:
            sync = adapter.sync if isinstance(adapter, MarketAdapter) else {}
            carried = adapter.connection_symbols if isinstance(adapter, MarketAdapter) else {}
            for conn_stats in adapter.connection_stats():
                symbols = carried.get(conn_stats.name, sync)
                gaps = sum(sync[s].gaps for s in symbols)
                resyncs = sum(sync[s].resyncs for s in symbols)
                trade_gaps = sum(sync[s].trade_gaps for s in symbols)
                missing_trades = sum(sync[s].missing_trades for s in symbols)
                row = conn_stats.as_row()
                last = row.pop("last_message_ns")
                row["venue"] = adapter.name
                row["last_message"] = pd.Timestamp(last, tz="UTC") if last else pd.NaT
                row["idle_s"] = (now - last) / 1e9 if last else float("nan")
                row["gaps"] = gaps
                row["resyncs"] = resyncs
                row["trade_gaps"] = trade_gaps
                row["missing_trades"] = missing_trades
                rows.append(row)
        frame = pd.DataFrame(rows)
        return frame.set_index("connection") if rows else frame

    def serve_metrics(self, port: int = 9464, host: str = "127.0.0.1") -> Any:
        """Serve this feed's health as Prometheus metrics on ``http://host:port/metrics`` (see ``livefeed.metrics``).

        Returns the :class:`~livefeed.metrics.MetricsServer` (``.url``, ``.close()``); ``port=0`` picks a free port.
        """
        from .metrics import serve_metrics

        return serve_metrics(self, port=port, host=host)

    def book_stats(self) -> pd.DataFrame:
        """One row per book: synced, snapshots, deltas applied, stale events, gaps, resyncs, last update id, and
        the holes in the venue's trade ids (``trade_gaps``, ``missing_trades``) where it numbers its trades."""
        import pandas as pd

        rows = [s.as_row() for adapter in self._markets() for s in adapter.sync.values()]
        return pd.DataFrame(rows)

    def coverage(self) -> pd.DataFrame:
        """When each book and trade stream was synced, and why not otherwise: one row per interval (``venue``,
        ``symbol``, ``stream`` book/trades, ``state`` synced/resyncing/stale/disconnected/gap, ``start``, ``end``
        (NaT while open), ``reason``), UTC, per stream in time order. See :mod:`livefeed.coverage`."""
        return self._coverage.to_pandas()

    @property
    def coverage_log(self) -> Coverage:
        """The live :class:`~livefeed.coverage.Coverage` behind :meth:`coverage` (what the plots shade from)."""
        return self._coverage

    def valid(self, frame: str = "top_of_book", stream: str | None = None) -> pd.DataFrame:
        """The rows of ``frame`` received while their market's stream was synced: ``feed.valid("top_of_book")``
        drops the rows of books resyncing, stale or disconnected, ``feed.valid("trades")`` those of trade streams
        that were down or had missing ids. ``stream`` (``"book"`` / ``"trades"``) for frames other than those two.
        For exported data: :func:`livefeed.coverage.valid_rows` with the exported ``coverage``."""
        if frame not in self.frames:
            raise KeyError(f"no frame {frame!r}; frames: {', '.join(self.frames)}")
        stream = stream or FRAME_STREAMS.get(frame)
        if stream is None:
            raise ValueError(f"which stream's coverage applies to {frame!r}? pass stream='book' or 'trades'")
        return self._coverage.valid_rows(self.frames[frame].to_pandas(), stream)

    def audit(self) -> pd.DataFrame:
        """Per book, the independent evidence that it is right, accumulated live: one row per (``venue``,
        ``symbol``, ``kind``) with ``agree``, ``disagree``, ``unverifiable``, ``checks``, ``resyncs`` (forced by a
        disagreement) and ``last_disagreement``. Kinds: ``book_ticker`` (Binance bookTicker matched by update id),
        ``checksum`` (Kraken and OKX CRC32 passes and failures), ``rest_top`` (``audit_every=``). See
        :mod:`livefeed.audit`; Prometheus: ``livefeed_audit_checks_total``."""
        import pandas as pd

        from .audit import AUDIT_COLUMNS, audit_rows

        def rows() -> list[dict[str, object]]:
            return audit_rows(self._markets())

        taken = self._runner.call(rows) if self._runner is not None and self._runner.alive else rows()
        return pd.DataFrame(taken, columns=list(AUDIT_COLUMNS))

    def wait_history(self, timeout: float = 60.0) -> bool:
        """Block until the warm start (``history=``) has put every market's history in the frame; ``True`` when
        done (or none was asked for), ``False`` after ``timeout`` seconds. Not on the feed's loop."""
        warm = self._warm_start
        return True if warm is None else warm.done.wait(timeout)

    def history_report(self) -> pd.DataFrame:
        """How the warm start went, per market: history ``rows`` put before the live ones, the oldest trade's
        time (``first_ts``, ns), ``seconds`` the REST requests took, and the ``error`` if the venue refused."""
        import pandas as pd

        warm = self._warm_start
        return pd.DataFrame(warm.report_rows() if warm is not None else [],
                            columns=["venue", "symbol", "rows", "first_ts", "seconds", "error"])

    def export(self, directory: str | Path, format: str = "parquet") -> dict[str, Path]:
        """Write every non-empty rolling frame, and ``coverage``, to ``directory`` as Parquet or CSV; returns the
        paths by name."""
        from .export import export_frames

        return export_frames({**self.frames, "coverage": self._coverage}, directory, format)

    @property
    def plot(self) -> Any:
        """Live Bokeh views of this feed (``feed.plot.depth("binance", "BTC-USDT")``, ...)."""
        from .viz import Plots

        return Plots(self)

    def dashboard(self, **options: Any) -> Any:
        """Every view of this feed plus the control panel, in one widget."""
        from .viz import dashboard

        return dashboard(self, **options)
