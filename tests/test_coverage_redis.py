"""Coverage through Redis: a feed's ``RedisSink`` publishes each coverage change as a ``coverage`` message, and a
``RedisFeed`` in another process rebuilds the same ``coverage()`` intervals from them (a real ``redis-server``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from livefeed import Feed
from livefeed.coverage import CoverageChange
from livefeed.reader import RedisFeed
from livefeed.sim import BinanceSim
from livefeed.sinks.redis import MalformedMessage, RedisSink, decode_event, encode_event

from .conftest import FAST, free_port, synced, until
from .ops.conftest import RedisServer, need_binary


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(need_binary("redis-server"), free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def test_a_coverage_change_round_trips_and_bad_ones_are_refused() -> None:
    change = CoverageChange("kraken", "BTC-USD", "trades", "gap", "trade ids 5-7 missing (3)", 1_764_000_000_123_456_789)
    assert decode_event(encode_event(change)) == change
    for bad in (b'{"type":"coverage","venue":"kraken","symbol":"BTC-USD","stream":"tickers","state":"gap",'
                b'"reason":"","at":1}',
                b'{"type":"coverage","venue":"kraken","symbol":"BTC-USD","stream":"book","state":"broken",'
                b'"reason":"","at":1}',
                b'{"type":"coverage","venue":"kraken","symbol":"BTC-USD","stream":"book","state":"synced",'
                b'"reason":7,"at":1}',
                b'{"type":"coverage","venue":"kraken","symbol":"BTC-USD","stream":"book","state":"synced",'
                b'"reason":""}'):
        with pytest.raises(MalformedMessage):
            decode_event(bad)


async def test_the_reader_rebuilds_the_same_coverage(redis_server: RedisServer) -> None:
    sink = RedisSink(redis_server.url)
    async with BinanceSim(symbols=("BTC-USDT", "ETH-USDT"), seed=12, interval=0.01) as sim:
        feed = Feed(["binance:BTC-USDT", "binance:ETH-USDT"], channels=["trades", "book"],
                    endpoints={"binance": sim}, connection=FAST, sinks=[sink])
        async with feed:
            await until(feed, lambda: synced(feed), what="synced")
            sim.skip_updates(1)
            sim.skip_trade_ids(2)
            await until(feed, lambda: feed.book_stats()["gaps"].sum() >= 2
                        and feed.book_stats()["trade_gaps"].sum() >= 2, what="gaps")
            sim.drop_connections()
            await until(feed, lambda: int(feed.stats()["reconnects"].sum()) >= 1 and synced(feed),
                        what="synced again")
    published = feed.coverage()
    assert sink.dropped == 0 and {"gap", "disconnected", "resyncing"} <= set(published["state"].astype(str))

    async with RedisFeed(redis_server.url, ["binance:BTC-USDT", "binance:ETH-USDT"]) as remote:
        done = asyncio.Event()
        remote.add_callback(lambda _e: len(remote.coverage()) == len(published) and done.set())
        async with asyncio.timeout(20):
            await done.wait()
        rebuilt = remote.coverage()
    # one Redis stream per market: both streams of a market keep their order exactly
    key = ["venue", "symbol", "stream", "start"]
    ours = rebuilt.astype(str).sort_values(key).reset_index(drop=True)
    theirs = published.astype(str).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(ours, theirs)
    assert str(rebuilt["state"].dtype) == "category" and str(rebuilt["end"].dtype) == "datetime64[ns, UTC]"
