"""``livefeed.from_redis(...)``: watch a feed that runs in another process (or machine) through Redis Streams.

The :class:`~livefeed.sinks.redis.RedisSink` of a capture or feed process appends every event to
``<prefix>:<kind>:<venue>:<symbol>`` streams; this reader follows them with ``XREAD BLOCK`` on the shared
background loop and rebuilds the same rolling frames (one :class:`~livefeed.frameset.FrameSet`: ``trades``,
``top_of_book``, ``tickers`` and those the venues' adapters declare) and order books a local :class:`~livefeed.Feed`
has, so notebook code and plots work unchanged. Several publishing workers (``livefeed capture --workers N``)
combine here: each symbol's stream has one writer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .book import OrderBook
from .callback_watch import CallbackWatch
from .connection import Backoff
from .coverage import Coverage, CoverageChange
from .errors import LivefeedError, MissingExtraError
from .frameset import FrameAccess, FrameSet
from .model import BookDelta, BookSnapshot, Event
from .redact import redact_text, redact_url
from .registry import SOURCES, adapter_class, parse_subscription, source_of
from .runtime import LoopThread
from .sinks.redis import DEFAULT_PREFIX, KINDS, MalformedMessage, decode_event

try:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError
except ImportError as exc:  # an optional dependency: the [redis] extra
    raise MissingExtraError.of("livefeed.from_redis", "redis", "redis") from exc

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RedisFeed", "from_redis"]

log = logging.getLogger(__name__)


def from_redis(
    url: str = "redis://127.0.0.1:6379/0",
    subscriptions: str | Iterable[str] | None = None,
    *,
    from_start: bool = True,
    prefix: str = DEFAULT_PREFIX,
    capacity: int = 100_000,
    start: bool = True,
) -> RedisFeed:
    """Follow the streams a :class:`~livefeed.sinks.redis.RedisSink` writes and rebuild the rolling frames.

    ``subscriptions`` like ``["binance:BTC-USDT"]`` (None: every stream under ``prefix``, re-discovered as
    new ones appear). ``from_start`` reads what the streams still hold first (else only new events). Returns
    the started :class:`RedisFeed` (``start=False`` to start it yourself or use ``async with``).
    """
    feed = RedisFeed(url, subscriptions, from_start=from_start, prefix=prefix, capacity=capacity)
    return feed.start() if start else feed


class RedisFeed(FrameAccess):
    """A read-only feed fed by Redis Streams: ``.trades``, ``.top_of_book``, ``.tickers``, ``.book(venue, sym)``.

    ``.frames`` holds the same frames a :class:`~livefeed.Feed` of the same venues has, adapter-declared ones
    included (also as ``.<name>``): those of the subscribed venues, or (``subscriptions=None``) of each venue as
    its first stream is discovered.

    Counters: ``events_read``; ``malformed`` (entries that are not a livefeed message of the schema, with a known
    venue and a canonical symbol: logged, rate-limited, and skipped); ``errors`` (failed Redis round trips, retried
    with capped backoff for as long as Redis is away); ``last_error``.
    """

    def __init__(
        self,
        url: str,
        subscriptions: str | Iterable[str] | None = None,
        *,
        from_start: bool = True,
        prefix: str = DEFAULT_PREFIX,
        capacity: int = 100_000,
        block_ms: int = 500,
        retry_initial: float = 0.05,
        retry_cap: float = 2.0,
    ) -> None:
        if not 0 < retry_initial <= retry_cap:
            raise ValueError("retry_initial and retry_cap must be seconds with 0 < retry_initial <= retry_cap")
        if isinstance(subscriptions, str):
            subscriptions = [subscriptions]
        self.url = url
        self.subscriptions = None if subscriptions is None else [parse_subscription(s) for s in subscriptions]
        self.prefix = prefix
        self.block_ms = block_ms
        self.retry_initial, self.retry_cap = retry_initial, retry_cap
        self._books: dict[tuple[str, str], OrderBook] = {}
        sources = [] if self.subscriptions is None else list(dict.fromkeys(source_of(s) for s in self.subscriptions))
        self._frameset = FrameSet(capacity, (adapter_class(source) for source in sources), books=self._books)
        self._declared = set(sources)
        self._seen: set[str] = set()
        """``venue:symbol`` of every stream whose source was looked up (the frames of each source are added once)."""
        self.trades, self.top_of_book, self.tickers = (self._frameset.trades, self._frameset.top_of_book,
                                                       self._frameset.tickers)
        self._coverage = Coverage(capacity)
        self._frameset.listen(CoverageChange, self._coverage.add)
        self.events_read = 0
        self.errors = 0
        self.malformed = 0
        self.last_error = ""
        self._offsets: dict[str, str] = {}
        self._initial_offset = "0" if from_start else "$"
        self._callbacks: list[Callable[[Event], None]] = []
        self._callback_watch = CallbackWatch()
        """Runs the callbacks as a Feed does: a failing one is counted and logged rate-limited, a slow one noticed."""
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._runner: LoopThread | None = None

    def __repr__(self) -> str:
        state = "running" if self._task is not None else "stopped"
        return f"<RedisFeed {state} {redact_url(self.url)} streams={len(self._offsets)} trades={len(self.trades)}>"

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def start(self) -> RedisFeed:
        """Start following on the shared background loop and return at once."""
        if self._task is None:
            self._runner = LoopThread.shared()
            self._runner.run(self._open())
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._runner is not None:
            self._runner.run(self._close(), timeout)
            self._runner = None

    async def __aenter__(self) -> RedisFeed:
        await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._close()

    async def _open(self) -> None:
        self._closing = False
        self._task = asyncio.create_task(self._follow(), name="livefeed-redis-reader")

    async def _close(self) -> None:
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})
            if not task.cancelled() and task.exception() is not None:
                log.error("redis reader: the reading task had failed: %r", task.exception())

    def add_callback(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback(event)`` on the loop for every event read; it must be quick."""
        self._callbacks.append(callback)

    def remove_callback(self, callback: Callable[[Event], None]) -> None:
        """Stop calling ``callback``; unknown callbacks are ignored."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    # -- state ----------------------------------------------------------------------------------------------------
    def coverage(self) -> pd.DataFrame:
        """The publishing feed's coverage (as its ``Feed.coverage()``), from the ``coverage`` messages read."""
        return self._coverage.to_pandas()

    @property
    def coverage_log(self) -> Coverage:
        """The live :class:`~livefeed.coverage.Coverage` behind :meth:`coverage` (what the plots shade from)."""
        return self._coverage

    @property
    def books(self) -> dict[tuple[str, str], OrderBook]:
        return dict(self._books)

    def book(self, venue: str, symbol: str) -> OrderBook:
        book = self._books.get((venue.lower(), parse_subscription(f"{venue}:{symbol}").symbol))
        if book is None:
            raise KeyError(f"no book for {venue}:{symbol} yet (it appears with the first snapshot read)")
        if self._runner is not None and self._runner.alive:
            return self._runner.call(book.copy)
        return book.copy()

    # -- reading ----------------------------------------------------------------------------------------------------
    async def _streams(self, client: aioredis.Redis) -> None:
        if self.subscriptions is not None:
            keys = [f"{self.prefix}:{kind}:{s.venue}:{s.symbol}" for s in self.subscriptions
                    for kind in KINDS]
        else:
            keys = [k.decode() async for k in client.scan_iter(match=f"{self.prefix}:*", _type="stream")]
        for key in keys:
            if key not in self._offsets:
                self._offsets[key] = await self._start_offset(client, key)
            _, _, venue, symbol = key.rsplit(":", 3)
            await self._declare(f"{venue}:{symbol}")

    async def _start_offset(self, client: aioredis.Redis, key: str) -> str:
        """Where reading ``key`` starts: its beginning (``from_start``), else its last entry now, as a concrete ID.

        Not ``$``: that means "what arrives after this call" on every XREAD, so a reader that had read nothing yet
        would lose what was written between two reads or while Redis could not be read.
        """
        if self._initial_offset == "0":
            return "0"
        last = await client.xrevrange(key, count=1)
        if not last:
            return "0-0"
        entry_id = last[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def _declare(self, subscription: str) -> None:
        """Add the frames the adapter of ``venue:symbol`` declares, the first time one of its sources is seen."""
        if subscription in self._seen:
            return
        self._seen.add(subscription)
        try:  # an adapter module may be heavy to import (web3 for eth): not on the loop
            try:
                source = source_of(await asyncio.to_thread(parse_subscription, subscription))
            except (LivefeedError, ValueError):  # not a subscription's name: its venue's own source, if any
                source = subscription.partition(":")[0]
                if source not in SOURCES:
                    raise
            if source not in self._declared:
                self._declared.add(source)
                self._frameset.declare(await asyncio.to_thread(adapter_class, source))
        except (LivefeedError, ValueError) as exc:
            log.warning("redis reader: no frames for %r: %s", subscription, exc)

    async def _follow(self) -> None:
        backoff = Backoff(initial=self.retry_initial, cap=self.retry_cap)
        client = aioredis.Redis.from_url(self.url, socket_connect_timeout=1.0)
        loop = asyncio.get_running_loop()
        rescan_at = 0.0
        try:
            while not self._closing:  # redis-py can turn a cancel inside a read into a connection error
                try:
                    if loop.time() >= rescan_at:
                        await self._streams(client)
                        rescan_at = loop.time() + 2.0
                    if not self._offsets:
                        await asyncio.sleep(self.block_ms / 1000)
                        continue
                    reply = await client.xread(self._offsets, count=10_000, block=self.block_ms)
                    backoff.reset()
                except (RedisError, OSError, ValueError) as exc:  # the reader retries for ever, at the cap
                    self.errors += 1
                    self.last_error = redact_text(f"{type(exc).__name__}: {exc}"[:300])
                    if self.errors <= 10 or self.errors % 100 == 0:
                        log.info("redis reader: %s: %s (%d errors so far)", redact_url(self.url), self.last_error,
                                 self.errors)
                    await asyncio.sleep(backoff.next_delay())
                    continue
                for key, entries in reply or []:
                    name = key.decode() if isinstance(key, bytes) else key
                    for entry_id, fields in entries:
                        self._offsets[name] = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                        self._read_entry(name, fields)
        finally:
            await client.aclose()

    def _read_entry(self, stream: str, fields: Any) -> None:
        """Decode and apply one stream entry; a bad one is counted, logged (rate-limited) and skipped."""
        try:
            payload = fields.get(b"e") if isinstance(fields, dict) else None
            if payload is None:
                raise MalformedMessage("entry without its 'e' field")
            event = decode_event(payload)
        except MalformedMessage as exc:
            self.malformed += 1
            if self.malformed <= 10 or self.malformed % 1000 == 0:
                log.warning("redis reader: skipped a malformed entry in %s (%d so far): %s", stream[:120],
                            self.malformed, exc)
            return
        try:
            self._dispatch(event)
        except Exception as exc:  # a valid message the books cannot take must not end the reader either
            self.malformed += 1
            log.warning("redis reader: could not apply an entry of %s: %r", stream[:120], exc)

    def _dispatch(self, event: Any) -> None:
        self.events_read += 1
        cls = type(event)
        if cls is BookSnapshot or cls is BookDelta:
            self._apply_book(event)
        self._frameset.route(event)
        if self._callbacks:
            self._callback_watch.run(self._callbacks, event)

    def _apply_book(self, event: BookSnapshot | BookDelta) -> None:
        """Keep this reader's copy of the book (the frame set then records its top, as a Feed's does)."""
        key = (event.venue, event.symbol)
        book = self._books.get(key)
        if isinstance(event, BookSnapshot):
            if book is None:
                book = self._books[key] = OrderBook(*key)
            book.apply_snapshot(event.bids, event.asks, event.sequence)
        elif book is not None:  # else joined mid-stream: the book starts at the next snapshot
            book.apply_delta(event.bids, event.asks, event.sequence)
