"""Fan-out to Redis: Pub/Sub for live watchers, Streams for consumers that must not miss anything.

Every event becomes one JSON message (schema below) published on ``<kind>:<venue>:<symbol>`` (``kind`` is
``trades``, ``book`` or ``ticker``) and appended with ``XADD ... MAXLEN ~ maxlen`` to the stream
``<prefix>:<kind>:<venue>:<symbol>``. ``on_event`` only encodes and appends to a bounded buffer; a task of the
sink's own sends batches in one pipelined round trip, so the feed loop never waits on Redis. When Redis goes
away the feed keeps running: the buffer holds up to ``max_buffered`` events (then the oldest are dropped and
counted), and the task reconnects with capped backoff and sends what it kept, in order.

Message schema (JSON object; times are integer ns since the epoch, ``ts`` may be null):

* trade: ``{"type": "trade", "venue", "symbol", "price", "size", "side": "buy"|"sell", "trade_id", "ts",
  "receipt_ts", "seq"}``
* book: ``{"type": "book_snapshot"|"book_delta", "venue", "symbol", "bids": [[price, size], ...], "asks",
  "ts", "receipt_ts", "seq", "first_seq"}`` (delta sizes are absolute; 0 removes the level)
* ticker: ``{"type": "ticker", "venue", "symbol", "bid_price", "bid_size", "ask_price", "ask_size", "ts",
  "receipt_ts", "seq"}``
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..connection import Backoff, redact_url
from ..model import BookDelta, BookSnapshot, Event, Side, Ticker, Trade

__all__ = ["RedisSink", "encode_event", "decode_event", "event_kind", "DEFAULT_PREFIX"]

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "livefeed"
_KIND = {Trade: "trades", BookSnapshot: "book", BookDelta: "book", Ticker: "ticker"}


def event_kind(event: Event) -> str | None:
    """``trades`` / ``book`` / ``ticker``, or None for events this schema does not carry."""
    return _KIND.get(type(event))


def encode_event(event: Event) -> bytes:
    """One event as the documented JSON message."""
    cls = type(event)
    if cls is Trade:
        t: Trade = event  # type: ignore[assignment]
        body: dict[str, Any] = {"type": "trade", "venue": t.venue, "symbol": t.symbol, "price": t.price,
                                "size": t.size, "side": t.side.value, "trade_id": t.trade_id, "ts": t.exchange_ts,
                                "receipt_ts": t.receipt_ts, "seq": t.sequence}
    elif cls is BookSnapshot or cls is BookDelta:
        b: BookSnapshot | BookDelta = event  # type: ignore[assignment]
        body = {"type": "book_snapshot" if cls is BookSnapshot else "book_delta", "venue": b.venue,
                "symbol": b.symbol, "bids": b.bids, "asks": b.asks, "ts": b.exchange_ts,
                "receipt_ts": b.receipt_ts, "seq": b.sequence, "first_seq": getattr(b, "first_sequence", None)}
    elif cls is Ticker:
        k: Ticker = event  # type: ignore[assignment]
        body = {"type": "ticker", "venue": k.venue, "symbol": k.symbol, "bid_price": k.bid_price,
                "bid_size": k.bid_size, "ask_price": k.ask_price, "ask_size": k.ask_size, "ts": k.exchange_ts,
                "receipt_ts": k.receipt_ts, "seq": k.sequence}
    else:
        raise TypeError(f"no Redis schema for {cls.__name__} events")
    return orjson.dumps(body)


def decode_event(data: bytes | str) -> Event:
    """The inverse of :func:`encode_event` (floats round-trip exactly)."""
    m = orjson.loads(data)
    kind = m["type"]
    if kind == "trade":
        return Trade(m["venue"], m["symbol"], m["price"], m["size"], Side(m["side"]), m["trade_id"], m["ts"],
                     m["receipt_ts"], m["seq"])
    if kind == "book_snapshot":
        return BookSnapshot(m["venue"], m["symbol"], [tuple(x) for x in m["bids"]], [tuple(x) for x in m["asks"]],
                            m["ts"], m["receipt_ts"], m["seq"])
    if kind == "book_delta":
        return BookDelta(m["venue"], m["symbol"], [tuple(x) for x in m["bids"]], [tuple(x) for x in m["asks"]],
                         m["ts"], m["receipt_ts"], m["seq"], m["first_seq"])
    if kind == "ticker":
        return Ticker(m["venue"], m["symbol"], m["bid_price"], m["bid_size"], m["ask_price"], m["ask_size"],
                      m["ts"], m["receipt_ts"], m["seq"])
    raise ValueError(f"unknown livefeed message type {kind!r}")


class RedisSink:
    """``Feed(..., sinks=[RedisSink("redis://127.0.0.1:6379/0")])``.

    ``pubsub`` / ``streams`` switch the two outputs; ``maxlen`` bounds each stream (approximately, ``MAXLEN ~``);
    ``batch`` events go per pipelined round trip. Counters: ``sent``, ``dropped``, ``errors``, ``reconnects``;
    ``buffered`` is the current queue depth and ``connected`` whether the last round trip succeeded.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        pubsub: bool = True,
        streams: bool = True,
        prefix: str = DEFAULT_PREFIX,
        maxlen: int = 100_000,
        max_buffered: int = 100_000,
        batch: int = 1000,
        stop_timeout: float = 5.0,
        retry_initial: float = 0.05,
        retry_cap: float = 2.0,
    ) -> None:
        if not (pubsub or streams):
            raise ValueError("RedisSink needs pubsub=True or streams=True (or both)")
        if maxlen <= 0 or max_buffered <= 0 or batch <= 0:
            raise ValueError("maxlen, max_buffered and batch must be positive")
        self.url = url
        self.pubsub = pubsub
        self.streams = streams
        self.prefix = prefix
        self.maxlen = maxlen
        self.max_buffered = max_buffered
        self.batch = batch
        self.stop_timeout = stop_timeout
        self.sent = 0
        self.dropped = 0
        self.errors = 0
        self.reconnects = 0
        self.connected = False
        self.last_error = ""
        self._buffer: deque[tuple[str, str, bytes]] = deque()
        self._backoff = Backoff(initial=retry_initial, cap=retry_cap)
        self._redis: aioredis.Redis | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return (f"<RedisSink {redact_url(self.url)} sent={self.sent} buffered={self.buffered} "
                f"dropped={self.dropped} connected={self.connected}>")

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    # -- Sink protocol ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        # No client-side retries: the sink's own loop retries, keeps order and counts what it drops.
        self._redis = aioredis.Redis.from_url(self.url, socket_connect_timeout=1.0, socket_timeout=5.0,
                                              retry=Retry(NoBackoff(), 0))
        self._wake, self._stopping = asyncio.Event(), asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="livefeed-redis-sink")

    def on_event(self, event: Event) -> None:
        kind = _KIND.get(type(event))
        if kind is None:
            return
        buffer = self._buffer
        if len(buffer) >= self.max_buffered:
            buffer.popleft()
            self.dropped += 1
        tail = f"{kind}:{event.venue}:{event.symbol}"
        buffer.append((tail, f"{self.prefix}:{tail}", encode_event(event)))
        self._wake.set()

    async def stop(self) -> None:
        """Send what is buffered (up to ``stop_timeout`` s if Redis is unreachable), then close."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, self.stop_timeout)
            except TimeoutError:
                self.dropped += len(self._buffer)
                log.warning("redis sink: %s unreachable at stop; %d buffered events dropped",
                            redact_url(self.url), len(self._buffer))
                self._buffer.clear()
            self._task = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    # -- sending ------------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            if not self._buffer:
                if self._stopping.is_set():
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            if await self._send_batch():
                continue
            with contextlib.suppress(TimeoutError):  # back off; a stop request still ends the wait early
                async with asyncio.timeout(self._backoff.next_delay()):
                    await self._stopping.wait()

    async def _send_batch(self) -> bool:
        assert self._redis is not None
        buffer = self._buffer
        n = min(self.batch, len(buffer))
        items = [buffer[i] for i in range(n)]
        pipe = self._redis.pipeline(transaction=False)
        for channel, stream, payload in items:
            if self.pubsub:
                pipe.publish(channel, payload)
            if self.streams:
                pipe.xadd(stream, {"e": payload}, maxlen=self.maxlen, approximate=True)
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            self.errors += 1
            if self.connected or self.errors == 1:
                log.warning("redis sink: %s: %s; buffering (%d events)", redact_url(self.url),
                            type(exc).__name__, len(buffer))
            self.connected = False
            self.last_error = type(exc).__name__
            return False
        # Only the items just sent leave the buffer; drops while awaiting took from the front, so count them.
        sent_ids = {id(item) for item in items}
        removed = 0
        while buffer and removed < n and id(buffer[0]) in sent_ids:
            buffer.popleft()
            removed += 1
        if not self.connected and self.errors:
            self.reconnects += 1
        self.connected = True
        self._backoff.reset()
        self.sent += n
        return True
