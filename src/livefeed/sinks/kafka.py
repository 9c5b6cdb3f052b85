"""Fan-out to Kafka (aiokafka), behind the same sink interface and JSON schema as :mod:`livefeed.sinks.redis`.

Events go to topic ``<prefix>.<kind>`` (``livefeed.trades``, ``livefeed.book``, ``livefeed.ticker``) keyed by
``venue:symbol``, so one partition carries one symbol in order. ``on_event`` only appends to a bounded buffer
(drop-oldest, counted); a task hands batches to the producer, which batches and compresses on its own. If the
brokers are unreachable the feed keeps running and the task retries with capped backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from ..connection import Backoff
from ..errors import MissingExtraError
from ..model import Event
from .redis import encode_event, event_kind

try:
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError
except ImportError as exc:  # an optional dependency: the [kafka] extra
    raise MissingExtraError.of("The Kafka sink (livefeed.sinks.kafka)", "aiokafka", "kafka") from exc

__all__ = ["KafkaSink"]

log = logging.getLogger(__name__)


class KafkaSink:
    """``Feed(..., sinks=[KafkaSink("127.0.0.1:9092")])``; counters ``sent``, ``dropped``, ``errors``."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        prefix: str = "livefeed",
        max_buffered: int = 100_000,
        batch: int = 1000,
        stop_timeout: float = 10.0,
        compression_type: str | None = None,
    ) -> None:
        if max_buffered <= 0 or batch <= 0:
            raise ValueError("max_buffered and batch must be positive")
        self.bootstrap_servers = bootstrap_servers
        self.prefix = prefix
        self.max_buffered = max_buffered
        self.batch = batch
        self.stop_timeout = stop_timeout
        self.compression_type = compression_type
        self.sent = 0
        self.dropped = 0
        self.errors = 0
        self._buffer: deque[tuple[str, bytes, bytes]] = deque()
        self._producer: AIOKafkaProducer | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<KafkaSink {self.bootstrap_servers} sent={self.sent} buffered={self.buffered} dropped={self.dropped}>"

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    async def start(self) -> None:
        self._wake, self._stopping = asyncio.Event(), asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="livefeed-kafka-sink")

    def on_event(self, event: Event) -> None:
        kind = event_kind(event)
        if kind is None:
            return
        if len(self._buffer) >= self.max_buffered:
            self._buffer.popleft()
            self.dropped += 1
        self._buffer.append((f"{self.prefix}.{kind}", f"{event.venue}:{event.symbol}".encode(),
                             encode_event(event)))
        self._wake.set()

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, self.stop_timeout)
            except TimeoutError:
                self.dropped += len(self._buffer)
                self._buffer.clear()
            self._task = None
        if self._producer is not None:
            with contextlib.suppress(KafkaError):
                await self._producer.stop()
            self._producer = None

    async def _run(self) -> None:
        backoff = Backoff(initial=0.1, cap=5.0)
        while True:
            if not self._buffer:
                if self._stopping.is_set():
                    if self._producer is not None:
                        await self._producer.flush()
                    return
                await self._wake.wait()
                self._wake.clear()
                continue
            try:
                if self._producer is None:
                    producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers,
                                                compression_type=self.compression_type, linger_ms=5)
                    try:
                        await producer.start()
                    except BaseException:  # a half-started producer holds connections and tasks: close it
                        with contextlib.suppress(Exception):
                            await producer.stop()
                        raise
                    self._producer = producer
                n = min(self.batch, len(self._buffer))
                futures = [await self._producer.send(topic, value, key=key)
                           for topic, key, value in (self._buffer[i] for i in range(n))]
                await asyncio.gather(*futures)
            except (KafkaError, OSError) as exc:
                self.errors += 1
                log.warning("kafka sink: %s: %s; buffering (%d events)", self.bootstrap_servers,
                            type(exc).__name__, len(self._buffer))
                delay = backoff.next_delay()
                if self._stopping.is_set():
                    await asyncio.sleep(delay)  # flushing at stop: still pace the retries (stop() bounds the total)
                else:
                    with contextlib.suppress(TimeoutError):  # back off; a stop request ends the wait early
                        async with asyncio.timeout(delay):
                            await self._stopping.wait()
                continue
            for _ in range(n):
                self._buffer.popleft()
            self.sent += n
            backoff.reset()
