"""Fan-out through a real ``redis-server``: Streams and Pub/Sub carry every event, a reader in "another process"
rebuilds the same frames, and the feed rides out Redis being killed and restarted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import orjson
import pandas as pd
import pytest
import redis.asyncio as aioredis

from livefeed import Feed, Side, Trade
from livefeed.model import Event
from livefeed.reader import RedisFeed
from livefeed.sim import BinanceSim
from livefeed.sinks.redis import RedisSink, decode_event, encode_event

from ..conftest import TOLERANT, until
from .conftest import RedisServer

SYMBOLS = ("BTC-USDT", "ETH-USDT")


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSim]:
    async with BinanceSim(symbols=SYMBOLS, seed=3, interval=0.005, levels=50) as server:
        yield server


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical codes follow arrival order, which differs between processes; compare the values."""
    return frame.astype({c: object for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)})


def make_feed(sim: BinanceSim, sink: RedisSink) -> Feed:
    return Feed([f"binance:{s}" for s in SYMBOLS], channels=["trades", "book", "ticker"],
                endpoints={"binance": sim}, connection=TOLERANT, sinks=[sink])


async def test_reader_rebuilds_the_same_frames(sim: BinanceSim, redis_server: RedisServer) -> None:
    sink = RedisSink(redis_server.url, maxlen=1_000_000)
    feed = make_feed(sim, sink)
    async with feed:
        await until(feed, lambda: len(feed.trades) >= 200 and len(feed.top_of_book) >= 50, what="traffic")
    sim.pause()
    assert sink.sent > 0 and sink.dropped == 0 and sink.buffered == 0

    async with RedisFeed(redis_server.url, [f"binance:{s}" for s in SYMBOLS]) as remote:
        wanted = feed.trades.total
        done = asyncio.Event()
        remote.add_callback(lambda _e: remote.trades.total >= wanted and remote.tickers.total >= feed.tickers.total
                            and done.set())
        async with asyncio.timeout(20):
            await done.wait()
    for name in ("trades", "tickers"):  # one stream per symbol: order is exact within a symbol
        ours, theirs = plain(remote.frames[name].to_pandas()), plain(feed.frames[name].to_pandas())
        for symbol in SYMBOLS:
            pd.testing.assert_frame_equal(ours[ours["symbol"] == symbol].reset_index(drop=True),
                                          theirs[theirs["symbol"] == symbol].reset_index(drop=True))
    assert remote.malformed == 0, remote.malformed
    for symbol in SYMBOLS:
        assert remote.books[("binance", symbol)] == feed.books[("binance", symbol)]


async def test_pubsub_carries_the_documented_schema(redis_server: RedisServer) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    pubsub = client.pubsub()
    await pubsub.subscribe("trades:binance:BTC-USDT")
    assert (await pubsub.get_message(timeout=5.0))["type"] == "subscribe"  # type: ignore[index]
    sink = RedisSink(redis_server.url)
    await sink.start()
    trade = Trade("binance", "BTC-USDT", 60000.5, 0.25, Side.SELL, "42", 1_000_000, 2_000_000, 42)
    sink.on_event(trade)
    await sink.stop()
    message = await pubsub.get_message(timeout=5.0)
    assert message is not None and message["channel"] == b"trades:binance:BTC-USDT"
    assert orjson.loads(message["data"]) == {
        "type": "trade", "venue": "binance", "symbol": "BTC-USDT", "price": 60000.5, "size": 0.25, "side": "sell",
        "trade_id": "42", "ts": 1_000_000, "receipt_ts": 2_000_000, "seq": 42,
    }
    assert await client.xlen("livefeed:trades:binance:BTC-USDT") == 1
    await pubsub.aclose()
    await client.aclose()


async def test_feed_survives_redis_being_killed_and_restarted(sim: BinanceSim, redis_server: RedisServer) -> None:
    sink = RedisSink(redis_server.url, max_buffered=1_000_000, retry_cap=0.1)
    feed = make_feed(sim, sink)
    during_outage: set[str] = set()
    async with feed:
        await until(feed, lambda: sink.sent >= 100, what="events in redis")
        redis_server.kill()
        await until(feed, lambda: sink.errors > 0, what="the sink to notice")
        trades_at_kill = feed.trades.total

        def note(event: Event) -> None:
            if isinstance(event, Trade) and event.symbol == "BTC-USDT":
                during_outage.add(event.trade_id)

        feed.add_callback(note)
        await until(feed, lambda: len(during_outage) >= 50 and sink.buffered >= 100, what="buffering while down")
        assert feed.trades.total > trades_at_kill  # the feed never stopped
        redis_server.start()
        await until(feed, lambda: sink.reconnects >= 1 and sink.buffered < 100, what="reconnect and drain")
        feed.remove_callback(note)
    assert sink.dropped == 0 and sink.buffered == 0
    client = aioredis.Redis.from_url(redis_server.url)
    entries = await client.xrange("livefeed:trades:binance:BTC-USDT")
    await client.aclose()
    stored = {decode_event(fields[b"e"]).trade_id for _, fields in entries}  # type: ignore[union-attr]
    assert during_outage <= stored


async def test_bounded_buffer_drops_oldest_and_counts(redis_server: RedisServer) -> None:
    """Rule: a full buffer drops its OLDEST event, so what reaches Redis after an outage is the newest
    ``max_buffered`` events, in order, and every event pushed out is counted in ``dropped``."""
    sink = RedisSink(redis_server.url, max_buffered=20, retry_initial=0.01, retry_cap=0.05)
    await sink.start()
    redis_server.kill()
    for n in range(100):  # on_event never awaits: the sending task cannot take any of them in between
        sink.on_event(a_trade(n))
    assert sink.buffered == 20 and sink.dropped == 80
    await eventually(lambda: sink.errors > 0, "the sink to find Redis down")
    redis_server.start()
    await eventually(lambda: sink.sent == 20, "delivery once Redis is back")
    await sink.stop()
    assert sink.dropped == 80 and sink.dropped_at_stop == 0 and sink.buffered == 0
    client = aioredis.Redis.from_url(redis_server.url)
    entries = await client.xrange("livefeed:trades:binance:BTC-USDT")
    await client.aclose()
    assert [decode_event(fields[b"e"]).trade_id for _, fields in entries] == [str(n) for n in range(80, 100)]


def test_schema_round_trips_exactly() -> None:
    from livefeed import BookDelta

    trade = Trade("binance", "BTC-USDT", 0.1 + 0.2, 1e-9, Side.BUY, "7", None, 123, 7)
    delta = BookDelta("binance", "BTC-USDT", [(1.5, 2.0)], [(1.6, 0.0)], 5, 6, 10, 9)
    assert decode_event(encode_event(trade)) == trade
    assert decode_event(encode_event(delta)) == delta
    with pytest.raises(ValueError, match="needs pubsub"):
        RedisSink(pubsub=False, streams=False)


# -- long outages and stopping while Redis is down (issue 10) ------------------------------------------------------

LONG_OUTAGE = 1_100
"""Failed round trips to ride out: more than the 1,025 after which the old backoff overflowed and the task died."""


async def eventually(predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Wait for a counter that has no event of its own to reach a value (checked every 10 ms)."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


def a_trade(n: int) -> Trade:
    return Trade("binance", "BTC-USDT", 100.0 + n, 1.0, Side.BUY, str(n), 1_000 + n, 2_000 + n, n)


async def test_sink_rides_out_a_long_outage_and_delivers_afterwards(redis_server: RedisServer) -> None:
    sink = RedisSink(redis_server.url, retry_initial=1e-4, retry_cap=1e-4)
    await sink.start()
    redis_server.kill()
    for n in range(5):
        sink.on_event(a_trade(n))
    await eventually(lambda: sink.errors >= LONG_OUTAGE, "a long run of failed round trips")
    assert sink._task is not None and not sink._task.done()  # still retrying, not dead
    redis_server.start()
    await eventually(lambda: sink.sent == 5, "delivery once Redis is back")
    await sink.stop()
    assert sink.dropped == 0 and sink.buffered == 0 and sink.reconnects == 1
    client = aioredis.Redis.from_url(redis_server.url)
    assert await client.xlen("livefeed:trades:binance:BTC-USDT") == 5
    await client.aclose()


async def test_reader_rides_out_a_long_outage(redis_server: RedisServer) -> None:
    redis_server.kill()
    async with RedisFeed(redis_server.url, ["binance:BTC-USDT"], block_ms=50, retry_initial=1e-4,
                         retry_cap=1e-4) as remote:
        await eventually(lambda: remote.errors >= LONG_OUTAGE, "a long run of failed reads")
        assert remote._task is not None and not remote._task.done()
        redis_server.start()
        sink = RedisSink(redis_server.url)
        await sink.start()
        sink.on_event(a_trade(1))
        await sink.stop()
        await eventually(lambda: remote.trades.total == 1, "the reader to read again")
    assert remote.last_error


class CountingSink(RedisSink):
    """Counts every event the feed hands to the sink."""

    offered = 0

    def on_event(self, event: Event) -> None:
        self.offered += 1
        super().on_event(event)


async def test_stop_while_redis_is_down_is_bounded_and_counts_every_undelivered_event(
    sim: BinanceSim, redis_server: RedisServer
) -> None:
    flush_deadline = 1.0
    sink = CountingSink(redis_server.url, stop_timeout=flush_deadline, retry_initial=0.05, retry_cap=2.0)
    feed = make_feed(sim, sink)
    async with asyncio.timeout(flush_deadline + 30):  # a hang guard, not a timing assertion
        async with feed:
            await until(feed, lambda: sink.sent >= 100, what="events in redis")
            redis_server.kill()
            await until(feed, lambda: sink.buffered >= 300, what="events buffered while redis is down")
            errors_before_stop = sink.errors
    # Retries during the flush are paced by the backoff (the old code spun: hundreds of attempts per second).
    assert sink.errors - errors_before_stop <= 10
    assert sink.buffered == 0
    assert sink.dropped_at_stop >= 300
    assert sink.sent + sink.dropped == sink.offered  # every event is either delivered or counted
    assert sink.last_error
