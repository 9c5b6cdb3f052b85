"""``from_redis`` against hostile stream entries: each is counted, logged (rate-limited) and skipped (issue 10)."""

from __future__ import annotations

import asyncio
import logging

import orjson
import pytest
import redis.asyncio as aioredis

from livefeed.reader import RedisFeed
from livefeed.sinks.redis import MalformedMessage, decode_event

from .conftest import RedisServer

STREAM = "livefeed:trades:binance:BTC-USDT"
TRAVERSAL = "x/../../../../elsewhere/TRAVERSED"


def trade(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {"type": "trade", "venue": "binance", "symbol": "BTC-USDT", "price": 100.5, "size": 2.0,
                               "side": "buy", "trade_id": "1", "ts": 1_000, "receipt_ts": 2_000, "seq": 1}
    body.update(changes)
    return body


def without(field: str) -> dict[str, object]:
    body = trade()
    del body[field]
    return body


HOSTILE: list[bytes] = [
    b"not json at all",
    b"\xff\xfe\x00binary",
    b"[1, 2, 3]",
    b'"a string"',
    b"{}",
    orjson.dumps(without("type")),
    orjson.dumps(trade(type="ransom")),
    orjson.dumps(without("price")),
    orjson.dumps(without("symbol")),
    orjson.dumps(trade(symbol=TRAVERSAL)),
    orjson.dumps(trade(symbol="btc-usdt")),
    orjson.dumps(trade(symbol="BTC-USDT/../x")),
    orjson.dumps(trade(symbol="")),
    orjson.dumps(trade(symbol=12)),
    orjson.dumps(trade(venue="../../etc")),
    orjson.dumps(trade(venue="nasdaq")),
    orjson.dumps(trade(price="100.5")),
    orjson.dumps(trade(price=-1.0)),
    orjson.dumps(trade(size=None)),
    orjson.dumps(trade(side="up")),
    orjson.dumps(trade(ts=True)),
    orjson.dumps(trade(receipt_ts=-5)),
    orjson.dumps(trade(seq="7")),
    b'{"type": "trade", "venue": "binance", "symbol": "BTC-USDT", "price": NaN}',
    orjson.dumps({"type": "book_snapshot", "venue": "binance", "symbol": "BTC-USDT", "bids": "x", "asks": [],
                  "ts": None, "receipt_ts": 1, "seq": 1}),
    orjson.dumps({"type": "book_delta", "venue": "binance", "symbol": "BTC-USDT", "bids": [[1.0]], "asks": [],
                  "ts": None, "receipt_ts": 1, "seq": 2, "first_seq": 2}),
    orjson.dumps({"type": "ticker", "venue": "binance", "symbol": "BTC-USDT"}),
]


@pytest.mark.parametrize("payload", HOSTILE, ids=range(len(HOSTILE)))
def test_decode_refuses_every_hostile_message(payload: bytes) -> None:
    with pytest.raises(MalformedMessage):
        decode_event(payload)


async def test_reader_counts_logs_and_skips_hostile_entries(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    good = 0
    for index, payload in enumerate(HOSTILE):
        await client.xadd(STREAM, {"e": orjson.dumps(trade(trade_id=str(index), seq=index))})
        good += 1
        await client.xadd(STREAM, {"e": payload})
    await client.xadd(STREAM, {"other": b"no e field"})
    for _ in range(40):  # a flood of bad entries: logged only 10 times
        await client.xadd(STREAM, {"e": b"garbage"})
    await client.xadd(STREAM, {"e": orjson.dumps(trade(trade_id="last"))})
    good += 1
    bad = len(HOSTILE) + 1 + 40
    await client.aclose()

    caplog.set_level(logging.WARNING, logger="livefeed.reader")
    async with RedisFeed(redis_server.url, ["binance:BTC-USDT"], block_ms=50) as remote:
        async with asyncio.timeout(20):
            while remote.trades.total + remote.malformed < good + bad:
                await asyncio.sleep(0.01)
        assert remote._task is not None and not remote._task.done()  # the reader is alive after all of it
    assert remote.malformed == bad
    assert remote.trades.total == good
    frame = remote.trades.to_pandas()
    assert set(frame["symbol"].astype(str)) == {"BTC-USDT"}
    assert frame["trade_id"].iloc[-1] == "last"
    warnings = [r for r in caplog.records if r.name == "livefeed.reader" and "malformed" in r.getMessage()]
    assert len(warnings) == 10  # rate-limited: the first ten, then every 1000th
    assert not any(TRAVERSAL in r.getMessage() and "symbol is not" not in r.getMessage() for r in caplog.records)
