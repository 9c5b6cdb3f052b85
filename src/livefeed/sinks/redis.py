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
* coverage (kind ``coverage``: a stream's state changed, see :mod:`livefeed.coverage`): ``{"type": "coverage",
  "venue", "symbol", "stream": "book"|"trades", "state", "reason", "at"}``; a reader rebuilds the same
  ``coverage()`` intervals from them.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from typing import Any

import orjson

from ..connection import Backoff
from ..coverage import STREAMS, CoverageChange, CoverageState
from ..errors import MissingExtraError
from ..model import BookDelta, BookSnapshot, Event, Side, Ticker, Trade
from ..naming import parse_instrument
from ..redact import redact_text, redact_url
from ..registry import VENUES

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
except ImportError as exc:  # an optional dependency: the [redis] extra
    raise MissingExtraError.of("The Redis sink (livefeed.sinks.redis)", "redis", "redis") from exc

__all__ = ["RedisSink", "encode_event", "decode_event", "event_kind", "DEFAULT_PREFIX", "MalformedMessage", "KINDS"]

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "livefeed"
_KIND = {Trade: "trades", BookSnapshot: "book", BookDelta: "book", Ticker: "ticker", CoverageChange: "coverage"}
KINDS = ("trades", "book", "ticker", "coverage")
"""The kinds of stream a sink writes per market (``<prefix>:<kind>:<venue>:<symbol>``)."""
_STATES = frozenset(str(s) for s in CoverageState)


def event_kind(event: Event | CoverageChange) -> str | None:
    """``trades`` / ``book`` / ``ticker`` / ``coverage``, or None for events this schema does not carry."""
    return _KIND.get(type(event))


def encode_event(event: Event | CoverageChange) -> bytes:
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
    elif cls is CoverageChange:
        c: CoverageChange = event  # type: ignore[assignment]
        body = {"type": "coverage", "venue": c.venue, "symbol": c.symbol, "stream": c.stream, "state": c.state,
                "reason": c.reason, "at": c.at_ns}
    else:
        raise TypeError(f"no Redis schema for {cls.__name__} events")
    return orjson.dumps(body)


class MalformedMessage(ValueError):
    """A Redis entry that is not a livefeed message of the documented schema (counted and skipped by readers)."""


def decode_event(data: bytes | str) -> Event | CoverageChange:
    """The inverse of :func:`encode_event` (floats round-trip exactly); anything else is ``MalformedMessage``.

    Every field is checked, because a stream is writable by anyone who can reach Redis: the venue must be a known
    one and the symbol a canonical ``BASE-QUOTE`` name (it becomes a directory name on export).
    """
    try:
        m = orjson.loads(data)
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise MalformedMessage(f"not JSON ({exc})") from None
    if not isinstance(m, dict):
        raise MalformedMessage(f"not a JSON object: {str(m)[:80]!r}")
    kind = m.get("type")
    try:
        venue, symbol = _venue(m["venue"]), _symbol(m["symbol"])
        if kind == "coverage":
            return _coverage(venue, symbol, m)
        ts, receipt, seq = _time(m["ts"], True), _time(m["receipt_ts"]), _seq(m["seq"])
        if kind == "trade":
            side, trade_id = m["side"], m["trade_id"]
            if side not in ("buy", "sell") or not isinstance(trade_id, str | int) or isinstance(trade_id, bool):
                raise MalformedMessage(f"bad side {side!r} or trade_id {trade_id!r}")
            return Trade(venue, symbol, _price(m["price"]), _size(m["size"]), Side(side), str(trade_id), ts,
                         receipt, seq)
        if kind == "book_snapshot":
            return BookSnapshot(venue, symbol, _levels(m["bids"]), _levels(m["asks"]), ts, receipt, seq)
        if kind == "book_delta":
            return BookDelta(venue, symbol, _levels(m["bids"]), _levels(m["asks"]), ts, receipt, seq,
                             _seq(m["first_seq"]))
        if kind == "ticker":
            return Ticker(venue, symbol, _price(m["bid_price"]), _size(m["bid_size"]), _price(m["ask_price"]),
                          _size(m["ask_size"]), ts, receipt, seq)
    except KeyError as exc:
        raise MalformedMessage(f"{kind!r} message without its {exc.args[0]!r} field") from None
    if kind is None:
        raise MalformedMessage("message without a 'type' field")
    raise MalformedMessage(f"unknown livefeed message type {str(kind)[:40]!r}")


def _coverage(venue: str, symbol: str, m: dict[str, Any]) -> CoverageChange:
    stream, state, reason = m["stream"], m["state"], m["reason"]
    if stream not in STREAMS or state not in _STATES:
        raise MalformedMessage(f"bad coverage stream {str(stream)[:20]!r} or state {str(state)[:20]!r}")
    if not isinstance(reason, str) or len(reason) > 500:
        raise MalformedMessage("coverage reason is not a short text")
    return CoverageChange(venue, symbol, stream, state, reason, _time(m["at"]))


def _venue(value: object) -> str:
    if not isinstance(value, str) or value not in VENUES:
        raise MalformedMessage(f"unknown venue {str(value)[:40]!r}")
    return value


def _symbol(value: object) -> str:
    if not isinstance(value, str) or len(value) > 64:
        raise MalformedMessage(f"symbol is not an instrument name: {str(value)[:60]!r}")
    try:
        if str(parse_instrument(value)) == value:
            return value
    except ValueError:
        pass
    raise MalformedMessage(f"symbol is not an instrument name (BASE-QUOTE[-PERP|-YYYYMMDD[-STRIKE-C|P]]): "
                           f"{value[:60]!r}")


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedMessage(f"{what} is not a finite number: {str(value)[:40]!r}")
    return float(value)


def _price(value: object) -> float:
    price = _number(value, "price")
    if price < 0:
        raise MalformedMessage(f"negative price {price!r}")
    return price


def _size(value: object) -> float:
    size = _number(value, "size")
    if size < 0:
        raise MalformedMessage(f"negative size {size!r}")
    return size


def _time(value: object, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise MalformedMessage(f"time is not integer ns since the epoch: {str(value)[:40]!r}")
    return value


def _seq(value: object) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedMessage(f"sequence is not an integer: {str(value)[:40]!r}")
    return value


def _levels(value: object) -> list[tuple[float, float]]:
    if not isinstance(value, list):
        raise MalformedMessage("book side is not a list of [price, size]")
    levels = []
    for level in value:
        if not isinstance(level, list) or len(level) != 2:
            raise MalformedMessage(f"book level is not [price, size]: {str(level)[:40]!r}")
        levels.append((_price(level[0]), _size(level[1])))
    return levels


class RedisSink:
    """``Feed(..., sinks=[RedisSink("redis://127.0.0.1:6379/0")])``.

    ``pubsub`` / ``streams`` switch the two outputs; ``maxlen`` bounds each stream (approximately, ``MAXLEN ~``);
    ``batch`` events go per pipelined round trip. ``stop_timeout`` is the flush deadline: ``stop()`` keeps
    retrying (with backoff) for at most that long, then gives up. Counters: ``sent``, ``dropped`` (every event
    never delivered: pushed out of a full buffer, or still buffered when the flush deadline passed; the latter
    also in ``dropped_at_stop``), ``errors``, ``reconnects``; ``buffered`` is the current queue depth and
    ``connected`` whether the last round trip succeeded. However long Redis is down, the sink keeps retrying.
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
        if not (math.isfinite(stop_timeout) and stop_timeout >= 0):
            raise ValueError(f"stop_timeout (the flush deadline) must be >= 0 seconds, got {stop_timeout!r}")
        if not (0 < retry_initial <= retry_cap and math.isfinite(retry_cap)):
            raise ValueError("retry_initial and retry_cap must be seconds with 0 < retry_initial <= retry_cap")
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
        self.dropped_at_stop = 0
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
        self._accepting = True

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
        self._accepting = True
        self._task = asyncio.create_task(self._run(), name="livefeed-redis-sink")

    def on_event(self, event: Event | CoverageChange) -> None:
        kind = _KIND.get(type(event))
        if kind is None:
            return
        if not self._accepting:  # after stop(): nothing would ever send it
            self.dropped += 1
            return
        buffer = self._buffer
        if len(buffer) >= self.max_buffered:
            buffer.popleft()
            self.dropped += 1
        tail = f"{kind}:{event.venue}:{event.symbol}"
        buffer.append((tail, f"{self.prefix}:{tail}", encode_event(event)))
        self._wake.set()

    async def stop(self) -> None:
        """Send what is buffered, for at most ``stop_timeout`` s; count whatever is left as dropped; close."""
        self._accepting = False
        self._stopping.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=self.stop_timeout)
            if not done:
                task.cancel()
                await asyncio.wait({task})
            elif not task.cancelled() and task.exception() is not None:
                log.error("redis sink: the sending task failed: %r", task.exception())
        left = len(self._buffer)
        if left:
            self.dropped += left
            self.dropped_at_stop += left
            self._buffer.clear()
            log.warning("redis sink: %s unreachable at stop (%s); %d buffered events dropped",
                        redact_url(self.url), self.last_error or "no answer", left)
        client, self._redis = self._redis, None
        if client is not None:
            try:
                async with asyncio.timeout(2.0):
                    await client.aclose()
            except (TimeoutError, RedisError, OSError) as exc:
                log.info("redis sink: closing the client: %r", exc)

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
            delay = self._backoff.next_delay()
            if self._stopping.is_set():
                await asyncio.sleep(delay)  # flushing at stop: still pace the retries (stop() bounds the total)
            else:
                try:  # back off; a stop request ends the wait early for one last prompt attempt
                    async with asyncio.timeout(delay):
                        await self._stopping.wait()
                except TimeoutError:
                    pass

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
        except Exception as exc:  # RedisError, OSError or anything else: the sink keeps buffering, never dies
            self.errors += 1
            self.last_error = redact_text(f"{type(exc).__name__}: {exc}"[:300])
            if self.connected or self.errors == 1:
                log.warning("redis sink: %s: %s; buffering (%d events)", redact_url(self.url),
                            self.last_error, len(buffer))
            self.connected = False
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
