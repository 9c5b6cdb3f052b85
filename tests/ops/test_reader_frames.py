"""The Redis reader's frames against a real ``redis-server``: with no subscriptions it declares each venue's
adapter frames as that venue's first stream is discovered, the same frames a ``Feed`` of that venue has.

Only market events have a Redis schema (``livefeed.sinks.redis``): chain events are not published, so a chain
frame read back from Redis stays empty; what is checked here is that it exists with the Feed's columns."""

from __future__ import annotations

import asyncio

from livefeed import Feed, Side, Trade
from livefeed.frameset import BUILT_IN
from livefeed.reader import RedisFeed
from livefeed.sinks.redis import RedisSink

from .conftest import RedisServer


async def test_discovered_streams_bring_their_venues_frames(redis_server: RedisServer) -> None:
    sink = RedisSink(redis_server.url)
    await sink.start()
    async with RedisFeed(redis_server.url, block_ms=50) as remote:
        assert list(remote.frames) == list(BUILT_IN)
        read = asyncio.Event()
        remote.add_callback(lambda _e: read.set())
        sink.on_event(Trade("binance", "BTC-USDT", 100.0, 1.0, Side.BUY, "1", 1, 2, 3))
        async with asyncio.timeout(20):
            await read.wait()
        assert list(remote.frames) == list(BUILT_IN)  # binance declares no frames of its own

        read.clear()
        sink.on_event(Trade("eth", "ETH-USDC", 3000.0, 1.0, Side.SELL, "2", 4, 5, 6))
        async with asyncio.timeout(20):
            await read.wait()
        eth = Feed(["eth:newHeads"], validate=False)
        assert list(remote.frames) == list(eth.frames)
        assert all(remote.frames[n].kinds == frame.kinds for n, frame in eth.frames.items())
        assert remote.blocks is remote.frames["blocks"] and remote.trades.total == 2
    await sink.stop()
    assert remote.malformed == 0 and remote.errors == 0
