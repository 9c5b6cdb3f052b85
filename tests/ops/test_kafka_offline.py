"""``KafkaSink``'s own logic (buffering, encoding, drop-oldest, retries, flush and close) without a broker.

Why a stand-in here, and only here: Kafka cannot run on this machine (no broker binary, no JVM), and
tests/ops/test_kafka.py runs against a real broker only when ``LIVEFEED_KAFKA_BOOTSTRAP`` names one. What this file
replaces is the smallest piece, ``AIOKafkaProducer``: an in-process class with the same four coroutine methods the
sink calls (``start``, ``send`` -> a future, ``flush``, ``stop``) that records what it was given and raises
aiokafka's own error types while the "broker" is down. Everything else is the real sink and the real schema.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

import livefeed.sinks.kafka as kafka_module
from livefeed import BookDelta, BookSnapshot, Side, Ticker, Trade
from livefeed.chain.events import Block
from livefeed.sinks.kafka import KafkaSink
from livefeed.sinks.redis import decode_event, encode_event


@dataclass
class Broker:
    """What the stand-in producers talk to: ``down`` makes them fail as aiokafka does."""

    down: bool = False
    records: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    producers: list[StandInProducer] = field(default_factory=list)
    starts: int = 0

    async def until(self, predicate: Any, what: str, timeout: float = 10.0) -> None:
        """Wait for a sink counter (it has no event of its own: checked every 10 ms, with a deadline)."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await asyncio.sleep(0.01)
        except TimeoutError:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


class StandInProducer:
    broker: Broker

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.started = self.stopped = False
        self.flushes = 0
        self.broker.producers.append(self)

    async def start(self) -> None:
        self.broker.starts += 1
        await asyncio.sleep(0)
        if self.broker.down:
            raise KafkaConnectionError(f"Unable to bootstrap from {self.kwargs['bootstrap_servers']}")
        self.started = True

    async def send(self, topic: str, value: bytes, key: bytes | None = None) -> asyncio.Future[None]:
        assert self.started and not self.stopped
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.broker.down:
            future.set_exception(KafkaTimeoutError())
        else:
            assert key is not None
            self.broker.records.append((topic, key, value))
            future.set_result(None)
        return future

    async def flush(self) -> None:
        self.flushes += 1

    async def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Broker:
    state = Broker()
    producer = type("Producer", (StandInProducer,), {"broker": state})
    monkeypatch.setattr(kafka_module, "AIOKafkaProducer", producer)
    return state


def trade(n: int, symbol: str = "BTC-USDT") -> Trade:
    return Trade("binance", symbol, 100.0 + n, 0.5, Side.SELL, str(n), 1_000 + n, 2_000 + n, n)


async def test_every_kind_goes_to_its_topic_keyed_by_symbol_in_the_redis_schema(broker: Broker) -> None:
    sink = KafkaSink("127.0.0.1:9092", prefix="lf", compression_type="zstd")
    events = [
        trade(1),
        BookSnapshot("okx", "ETH-USDT", [(3000.0, 1.0)], [(3001.0, 2.0)], 5, 6, 7),
        BookDelta("okx", "ETH-USDT", [(3000.0, 0.0)], [], 8, 9, 10, 8),
        Ticker("kraken", "BTC-USD", 99.0, 1.0, 100.0, 2.0, 11, 12, 13),
        trade(2, "ETH-USDT"),
    ]
    await sink.start()
    sink.on_event(Block(1, "0xab", "0xaa", 1, 7, 21_000, 30_000_000, 1, 2))  # no schema for it: not sent, not a drop
    for event in events:
        sink.on_event(event)
    await sink.stop()
    assert [(topic, key) for topic, key, _ in broker.records] == [
        ("lf.trades", b"binance:BTC-USDT"), ("lf.book", b"okx:ETH-USDT"), ("lf.book", b"okx:ETH-USDT"),
        ("lf.ticker", b"kraken:BTC-USD"), ("lf.trades", b"binance:ETH-USDT"),
    ]
    assert [value for _, _, value in broker.records] == [encode_event(e) for e in events]
    assert [decode_event(value) for _, _, value in broker.records] == events
    assert (sink.sent, sink.dropped, sink.errors, sink.buffered) == (5, 0, 0, 0)
    (producer,) = broker.producers
    assert producer.kwargs == {"bootstrap_servers": "127.0.0.1:9092", "compression_type": "zstd", "linger_ms": 5}
    assert producer.flushes == 1 and producer.stopped  # stop() flushes, then closes the producer


async def test_a_full_buffer_drops_the_oldest_and_delivers_the_newest_once_the_broker_is_back(broker: Broker) -> None:
    """Rule: while the brokers are unreachable the sink keeps the newest ``max_buffered`` events, counts the
    rest in ``dropped`` and, once a producer starts, delivers what it kept in order."""
    broker.down = True
    sink = KafkaSink("127.0.0.1:9092", max_buffered=5, batch=2)
    await sink.start()
    for n in range(20):
        sink.on_event(trade(n))
    assert (sink.buffered, sink.dropped) == (5, 15)
    await broker.until(lambda: sink.errors >= 1, "a failed connect")
    broker.down = False
    await broker.until(lambda: sink.sent == 5, "delivery", timeout=20)  # after the backoff (0.1 s first)
    await sink.stop()
    assert [decode_event(v).trade_id for _, _, v in broker.records] == [str(n) for n in range(15, 20)]
    assert (sink.dropped, sink.buffered) == (15, 0)
    assert all(p.stopped for p in broker.producers)  # those whose start failed too: nothing half-open is left


async def test_a_failed_send_keeps_the_batch_and_retries_it(broker: Broker) -> None:
    """Rule: events leave the buffer only once the producer acknowledged them; a failed batch is sent again."""
    sink = KafkaSink("127.0.0.1:9092", batch=3)
    await sink.start()
    sink.on_event(trade(0))
    await broker.until(lambda: sink.sent == 1, "the first event")
    broker.down = True
    for n in range(1, 4):
        sink.on_event(trade(n))
    await broker.until(lambda: sink.errors >= 1, "a failed batch")
    assert sink.buffered == 3 and sink.sent == 1
    broker.down = False
    await broker.until(lambda: sink.sent == 4, "the retried batch", timeout=20)
    await sink.stop()
    assert [decode_event(v).trade_id for _, _, v in broker.records] == ["0", "1", "2", "3"]
    assert len(broker.producers) == 1  # the started producer is kept across a failed send


async def test_stop_with_the_brokers_down_is_bounded_paced_and_counts_what_is_left(broker: Broker) -> None:
    """Rule: ``stop()`` returns within ``stop_timeout`` when the brokers are unreachable, counts every event it
    could not deliver as dropped, and does not hammer the brokers meanwhile (retries stay paced by the backoff)."""
    broker.down = True
    sink = KafkaSink("127.0.0.1:9092", stop_timeout=0.5)
    await sink.start()
    for n in range(7):
        sink.on_event(trade(n))
    await broker.until(lambda: sink.errors >= 1, "a failed connect")
    starts_before_stop = broker.starts
    async with asyncio.timeout(10):  # a hang guard, not a timing assertion
        await sink.stop()
    assert (sink.sent, sink.dropped, sink.buffered) == (0, 7, 0)
    assert broker.starts - starts_before_stop <= 10, broker.starts - starts_before_stop
