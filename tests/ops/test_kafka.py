"""The Kafka sink against a real broker: only when ``LIVEFEED_KAFKA_BOOTSTRAP`` names one (no fake broker)."""

from __future__ import annotations

import os
import uuid

import orjson
import pytest

from livefeed import Side, Trade
from livefeed.sinks.kafka import KafkaSink

BOOTSTRAP = os.environ.get("LIVEFEED_KAFKA_BOOTSTRAP")
pytestmark = pytest.mark.skipif(not BOOTSTRAP, reason="set LIVEFEED_KAFKA_BOOTSTRAP=host:port to run against a broker")


async def test_events_reach_the_topic_keyed_by_symbol() -> None:
    from aiokafka import AIOKafkaConsumer

    assert BOOTSTRAP is not None
    prefix = f"livefeed-test-{uuid.uuid4().hex[:8]}"
    sink = KafkaSink(BOOTSTRAP, prefix=prefix)
    await sink.start()
    trades = [Trade("binance", "BTC-USDT", 100.0 + i, 1.0, Side.BUY, str(i), i, i + 1, i) for i in range(20)]
    for trade in trades:
        sink.on_event(trade)
    await sink.stop()
    assert (sink.sent, sink.dropped) == (20, 0)
    consumer = AIOKafkaConsumer(f"{prefix}.trades", bootstrap_servers=BOOTSTRAP, auto_offset_reset="earliest",
                                consumer_timeout_ms=10_000)
    await consumer.start()
    try:
        got = []
        async for record in consumer:
            assert record.key == b"binance:BTC-USDT"
            got.append(orjson.loads(record.value)["trade_id"])
            if len(got) == 20:
                break
    finally:
        await consumer.stop()
    assert got == [str(i) for i in range(20)]
