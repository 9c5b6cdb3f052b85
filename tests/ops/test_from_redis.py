"""``livefeed.from_redis()`` against a real ``redis-server`` written by a real ``RedisSink``: the function itself
(on the shared loop thread, as in a notebook), a Redis outage seen by the reader, and joining mid-stream."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable

import redis

from livefeed import BookDelta, BookSnapshot, Side, Trade, from_redis
from livefeed.model import Event
from livefeed.reader import RedisFeed
from livefeed.sinks.redis import RedisSink

from .conftest import RedisServer

SYMBOL = "BTC-USDT"


def a_trade(n: int, symbol: str = SYMBOL) -> Trade:
    return Trade("binance", symbol, 100.0 + n, 1.0 + n / 10, Side.BUY if n % 2 else Side.SELL, str(n), 1_000 + n,
                 2_000 + n, n)


def snapshot(seq: int, bid: float, ask: float) -> BookSnapshot:
    return BookSnapshot("binance", SYMBOL, [(bid, 1.0), (bid - 1, 2.0)], [(ask, 1.5), (ask + 1, 2.5)], 10 + seq,
                        20 + seq, seq)


def delta(seq: int, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> BookDelta:
    return BookDelta("binance", SYMBOL, bids, asks, 10 + seq, 20 + seq, seq, seq)


def publish(url: str, events: Iterable[Event]) -> None:
    """Write ``events`` through a real RedisSink (on a loop of its own) and wait until all are in Redis."""

    async def run() -> None:
        sink = RedisSink(url, pubsub=False)
        await sink.start()
        for event in events:
            sink.on_event(event)
        await sink.stop()
        assert sink.dropped == 0, sink.last_error

    asyncio.run(run())


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Wait for a reader running on another thread to reach a state (checked every 10 ms, with a deadline)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def trade_ids(remote: RedisFeed) -> list[str]:
    return [str(t) for t in remote.trades.to_pandas()["trade_id"]]


def test_from_redis_starts_on_the_shared_loop_and_rebuilds_trades_exactly(redis_server: RedisServer) -> None:
    trades = [a_trade(n) for n in range(50)]
    publish(redis_server.url, trades)
    remote = from_redis(redis_server.url, ["binance:BTC-USDT"])
    try:
        wait_for(lambda: remote.trades.total == 50, "50 trades read")
        frame = remote.trades.to_pandas()
        assert trade_ids(remote) == [t.trade_id for t in trades]
        assert frame["price"].tolist() == [t.price for t in trades]
        assert frame["size"].tolist() == [t.size for t in trades]
        assert remote.events_read == 50 and remote.errors == 0 and remote.malformed == 0
    finally:
        remote.stop()
    assert "stopped" in repr(remote)


def test_from_redis_without_subscriptions_discovers_every_stream(redis_server: RedisServer) -> None:
    publish(redis_server.url, [a_trade(1, "BTC-USDT"), a_trade(2, "ETH-USDT")])
    remote = from_redis(redis_server.url)
    try:
        wait_for(lambda: remote.trades.total == 2, "a trade of each symbol")
        assert sorted(str(s) for s in remote.trades.to_pandas()["symbol"]) == ["BTC-USDT", "ETH-USDT"]
    finally:
        remote.stop()


def test_from_redis_start_false_does_not_start(redis_server: RedisServer) -> None:
    remote = from_redis(redis_server.url, ["binance:BTC-USDT"], start=False)
    assert "stopped" in repr(remote) and remote.trades.total == 0


def test_joining_mid_stream_the_book_starts_at_the_next_snapshot(redis_server: RedisServer) -> None:
    """Rule: deltas read before the reader's first snapshot of a book are skipped (applying them to an empty book
    would invent levels); from the snapshot on, every delta applies."""
    publish(redis_server.url, [
        delta(1, [(90.0, 5.0)], []),  # before any snapshot: must not create a book
        delta(2, [], [(111.0, 5.0)]),
        snapshot(3, bid=100.0, ask=101.0),
        delta(4, [(100.0, 0.0), (99.5, 3.0)], [(101.0, 0.5)]),
        a_trade(5),
    ])
    remote = from_redis(redis_server.url, ["binance:BTC-USDT"])
    try:
        wait_for(lambda: remote.trades.total == 1, "the trade after the book events")
        book = remote.book("binance", SYMBOL)
        assert book.to_dict() == {"bids": {99.5: 3.0, 99.0: 2.0}, "asks": {101.0: 0.5, 102.0: 2.5}}
        tops = remote.top_of_book.to_pandas()
        assert tops["bid_price"].tolist() == [100.0, 99.5] and tops["ask_size"].tolist() == [1.5, 0.5]
        assert remote.events_read == 5 and remote.malformed == 0  # skipped deltas are not malformed
    finally:
        remote.stop()


def wait_until_reader_blocks(url: str) -> None:
    """A reader with ``from_start=False`` reads what arrives after its first XREAD: wait until Redis shows it
    blocked there (CLIENT LIST names the command), not for a fixed time."""
    client = redis.Redis.from_url(url)
    try:
        wait_for(lambda: any(c.get("cmd") == "xread" for c in client.client_list()), "the reader to block in XREAD")
    finally:
        client.close()


def test_from_start_false_skips_what_the_streams_already_hold(redis_server: RedisServer) -> None:
    publish(redis_server.url, [a_trade(n) for n in range(10)])
    remote = from_redis(redis_server.url, ["binance:BTC-USDT"], from_start=False)
    try:
        wait_until_reader_blocks(redis_server.url)
        publish(redis_server.url, [a_trade(n) for n in range(10, 13)])
        wait_for(lambda: remote.trades.total >= 3, "the new trades")
        assert trade_ids(remote) == ["10", "11", "12"]
    finally:
        remote.stop()


def test_a_redis_outage_is_reported_by_the_reader_which_resumes_where_it_left_off(redis_server: RedisServer) -> None:
    """Rule: the reader survives Redis going away (counts and names the error, keeps retrying) and, once Redis is
    back, reads on from its last entry: nothing twice, nothing written after the restart missed."""
    publish(redis_server.url, [a_trade(n) for n in range(5)])
    remote = RedisFeed(redis_server.url, ["binance:BTC-USDT"], block_ms=50, retry_initial=0.01, retry_cap=0.05)
    seen: list[str] = []
    got_all = threading.Event()

    def note(event: Event) -> None:
        if isinstance(event, Trade):
            seen.append(event.trade_id)
            if len(seen) == 5 or len(seen) == 8:
                got_all.set()

    remote.add_callback(note)
    remote.start()
    try:
        assert got_all.wait(20), "the first five trades"
        got_all.clear()
        redis_server.kill()
        wait_for(lambda: remote.errors >= 3, "the reader to see the outage")
        assert "ConnectionError" in remote.last_error and str(redis_server.port) in remote.last_error
        redis_server.start()  # an empty server (no persistence): the stream starts again from id 0
        publish(redis_server.url, [a_trade(n) for n in range(5, 8)])
        assert got_all.wait(20), "the trades written after the restart"
    finally:
        remote.stop()
    assert seen == [str(n) for n in range(8)]
    assert trade_ids(remote) == seen


def test_from_start_false_misses_nothing_written_while_its_reads_were_failing(redis_server: RedisServer) -> None:
    """Rule: ``from_start=False`` skips what the streams held when the reader started, not what arrives later.

    The reader's own XREADs are refused for a while (a Redis ACL takes the command away from its user, so the
    outage is the reader's alone and ends exactly when the test says); trades written meanwhile must be read once
    it may read again. A reader that kept ``$`` ("only what arrives after this call") as its position would
    lose them."""
    admin = redis.Redis.from_url(redis_server.url)
    admin.acl_setuser("watcher", enabled=True, passwords=["+s3cret"], keys=["*"], commands=["+@all"])
    url = f"redis://watcher:s3cret@127.0.0.1:{redis_server.port}/0"
    publish(redis_server.url, [a_trade(n) for n in range(3)])  # before the reader: skipped
    remote = RedisFeed(url, ["binance:BTC-USDT"], from_start=False, block_ms=50, retry_initial=0.01, retry_cap=0.05)
    remote.start()
    try:
        wait_until_reader_blocks(redis_server.url)
        admin.acl_setuser("watcher", commands=["-xread"])
        wait_for(lambda: remote.errors >= 2, "the reader's XREADs to be refused")
        assert "NoPermissionError" in remote.last_error and "s3cret" not in remote.last_error
        publish(redis_server.url, [a_trade(n) for n in range(3, 6)])  # while the reader cannot read
        admin.acl_setuser("watcher", commands=["+xread"])
        publish(redis_server.url, [a_trade(n) for n in range(6, 8)])  # once it may read again
        wait_for(lambda: "7" in trade_ids(remote), "the last trade")
        assert trade_ids(remote) == [str(n) for n in range(3, 8)]
    finally:
        remote.stop()
        admin.close()
