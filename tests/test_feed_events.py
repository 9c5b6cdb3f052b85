"""The README's script form, ``async for event in feed.events()``, against the Binance simulator: every event in
arrival order, a slow consumer's bounded queue that drops its OLDEST events and counts them, the end of the
iteration at stop, and a callback that raises (the feed keeps running, the error is logged)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator

import pytest

from livefeed import Feed, FeedNotRunningError, Trade
from livefeed.model import Event
from livefeed.sim import BinanceSim

from .conftest import FAST, sim_on_own_thread, until

SUBS = ["binance:BTC-USDT", "binance:ETH-USDT"]


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSim]:
    async with BinanceSim(symbols=("BTC-USDT", "ETH-USDT"), seed=21, interval=0.005, levels=50) as server:
        yield server


def make_feed(sim: BinanceSim, **kwargs: object) -> Feed:
    return Feed(SUBS, channels=["trades", "book", "ticker"], endpoints={"binance": sim}, connection=FAST,
                **kwargs)  # type: ignore[arg-type]


async def test_events_yields_every_event_in_arrival_order(sim: BinanceSim) -> None:
    """What ``events()`` yields is exactly what reached the frames, in the same order, with no gap."""
    got: list[Trade] = []
    async with make_feed(sim) as feed:
        async for event in feed.events():
            if isinstance(event, Trade):
                got.append(event)
                if len(got) == 200:
                    break
        frame = feed.trades.to_pandas()
    assert feed.dropped_events == 0
    ids = [(str(s), str(t)) for s, t in zip(frame["symbol"], frame["trade_id"], strict=True)]
    first = ids.index((got[0].symbol, got[0].trade_id))
    assert [(t.symbol, t.trade_id) for t in got] == ids[first:first + 200]
    assert [t.price for t in got] == frame["price"].tolist()[first:first + 200]


async def test_a_slow_consumer_loses_its_oldest_events_and_they_are_counted(sim: BinanceSim) -> None:
    """Rule: a consumer more than ``event_queue_size`` behind keeps the NEWEST events (a live view wants the
    present), and every event it lost is in ``dropped_events``."""
    size = 5
    async with make_feed(sim, event_queue_size=size) as feed:
        events = feed.events()
        await anext(events)  # registers this consumer's queue, then the consumer stalls
        dropped_before, waiting_before = feed.dropped_events, feed.queue_depths[0]
        emitted: list[Event] = []
        recent: deque[Event] = deque(maxlen=size)

        def note(event: Event) -> None:  # callbacks run after the queues are fed, so this sees the same events
            emitted.append(event)
            recent.append(event)

        feed.add_callback(note)
        await until(feed, lambda: feed.dropped_events >= dropped_before + 100, what="a hundred drops")
        # No await from here on: nothing can be emitted while the queue is read (a non-empty queue never waits).
        newest = list(recent)
        assert feed.queue_depths == (size,)
        assert feed.dropped_events - dropped_before == waiting_before + len(emitted) - size
        kept = [await anext(events) for _ in range(size)]
        assert kept == newest
        feed.remove_callback(note)
        await events.aclose()
        assert feed.queue_depths == ()  # a consumer that stopped iterating leaves no queue behind


async def test_events_ends_when_the_feed_stops_even_with_a_full_queue(sim: BinanceSim) -> None:
    """Rule: stopping the feed ends every ``async for`` over ``events()``, after what it still holds; a consumer
    whose queue was full must not wait for ever."""
    size = 5
    feed = make_feed(sim, event_queue_size=size)
    async with feed:
        events = feed.events()
        await anext(events)
        await until(feed, lambda: feed.queue_depths == (size,), what="a full queue")
    async with asyncio.timeout(5):  # a hang guard: the end marker must not be lost on a full queue
        rest = [event async for event in events]
    assert len(rest) == size - 1  # the end marker took the oldest event's place


async def test_events_needs_a_running_feed(sim: BinanceSim) -> None:
    feed = make_feed(sim)
    with pytest.raises(FeedNotRunningError, match="not running"):
        await anext(feed.events())


def test_events_is_refused_on_a_loop_other_than_the_feeds() -> None:
    """A feed started in the notebook form runs on the shared loop thread: iterating its events() from another loop
    would read an asyncio queue across loops, so it is refused with the way to do it."""
    with sim_on_own_thread(seed=4) as sim:
        feed = Feed(["binance:BTC-USDT"], endpoints={"binance": sim}, connection=FAST).start()
        try:
            with pytest.raises(RuntimeError, match=r"events\(\) must be iterated on the feed's loop"):
                asyncio.run(anext(feed.events()))  # type: ignore[arg-type]
        finally:
            feed.stop()


async def test_a_callback_that_raises_is_logged_and_the_feed_keeps_running(
    sim: BinanceSim, caplog: pytest.LogCaptureFixture
) -> None:
    """Rule: a failing callback never ends the feed nor stops the callbacks after it; its failures are counted
    and logged at ERROR with the traceback, naming the callback: the first 10, then every 1,000th (not one
    traceback per event on the feed's loop)."""
    calls = 0
    after: list[Event] = []

    def broken(event: Event) -> None:
        nonlocal calls
        calls += 1
        raise ValueError(f"callback bug #{calls}")

    async with make_feed(sim) as feed:
        feed.add_callback(broken)
        feed.add_callback(after.append)
        await until(feed, lambda: len(after) >= 100 and feed.trades.total >= 20, what="events past the bad callback")
        assert feed.running and feed.ended_sources == ()
        assert calls >= len(after) >= 100  # it ran for every event, and so did the one after it
        feed.remove_callback(broken)
        feed.remove_callback(after.append)
    failures = [r for r in caplog.records if r.name == "livefeed.feed" and r.levelno == logging.ERROR
                and "event callback" in r.getMessage() and "broken" in r.getMessage()]
    logged = [n for n in range(1, calls + 1) if n <= 10 or n % 1000 == 0]
    assert [r.getMessage().rsplit("(", 1)[1] for r in failures] == [f"{n} callback failures so far)" for n in logged]
    assert all(r.exc_info is not None for r in failures)
    assert "callback bug #1" in str(failures[0].exc_info[1])  # type: ignore[index]
