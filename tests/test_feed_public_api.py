"""Feed's public read API (sources, connections, ended_sources, queue_depths) on real simulators, and a guard that
nothing outside feed.py reaches into a feed's underscore attributes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from livefeed import Feed, live
from livefeed.metrics import FeedCollector
from livefeed.sim import BinanceSim, OkxSim

from .conftest import FAST, synced, until

ROOT = Path(__file__).resolve().parent.parent
PRIVATE_ACCESS = re.compile(r"\b(feed|live|again|f)\._[a-z]")
"""A private attribute read through the names feeds go by in this repository (``feed``, ``f``, ``live``,
``again``); dunders (``feed.__aenter__``) are protocol, not internals, so they do not match."""

QUEUE_SIZE = 16


def private_accesses() -> list[str]:
    own = ROOT / "src" / "livefeed" / "feed.py"
    found = []
    for top in ("src", "tests", "bench"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if path == own:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if PRIVATE_ACCESS.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def test_nothing_outside_feed_py_reads_a_feeds_private_attributes() -> None:
    assert private_accesses() == []


def test_the_guard_catches_a_private_read_and_spares_dunders() -> None:
    dot_ = "._"  # split so that this file's own samples do not trip the scan
    assert PRIVATE_ACCESS.search(f"n = len(feed{dot_}adapters)")
    assert PRIVATE_ACCESS.search(f"(only,) = f{dot_}queues")
    assert not PRIVATE_ACCESS.search("await feed.__aenter__()")
    assert not PRIVATE_ACCESS.search("feed.sources[0]._tasks")  # an adapter's internals are its own business


@pytest.fixture
async def sims() -> AsyncIterator[tuple[BinanceSim, OkxSim]]:
    async with (BinanceSim(symbols=["BTC-USDT", "ETH-USDT"], seed=3, interval=0.01) as binance,
                OkxSim(symbols=["BTC-USDT"], seed=3, interval=0.01) as okx):
        yield binance, okx


def two_venue_feed(sims: tuple[BinanceSim, OkxSim]) -> Feed:
    binance, okx = sims
    return Feed(["binance:BTC-USDT", "binance:ETH-USDT", "okx:BTC-USDT"], channels=["trades", "book"],
                endpoints={"binance": binance, "okx": okx}, connection=FAST, event_queue_size=QUEUE_SIZE)


async def test_sources_and_connections_follow_the_run(sims: tuple[BinanceSim, OkxSim]) -> None:
    feed = two_venue_feed(sims)
    assert (feed.sources, feed.connections, feed.ended_sources, feed.queue_depths) == ((), (), (), ())
    async with feed:
        await until(feed, lambda: synced(feed), what="books synced")
        assert [source.name for source in feed.sources] == ["binance", "okx"]
        assert {symbol for source in feed.sources for symbol in source.sync} == {"BTC-USDT", "ETH-USDT"}
        conns = feed.connections
        assert list(conns) == [c for source in feed.sources for c in source.connections]
        assert all(conn.connected for conn in conns)
        assert sorted(conn.stats.name for conn in conns) == sorted(feed.stats().index)
        assert isinstance(feed.sources, tuple) and feed.sources is not feed.sources  # a copy: nothing to mutate
        assert feed.ended_sources == ()
    assert feed.ended_sources == () and feed.queue_depths == ()
    assert [source.name for source in feed.sources] == ["binance", "okx"]  # the last run, for post-mortems
    assert not any(conn.connected for conn in feed.connections)


def okx_frames(feed: Feed) -> int:
    return sum(conn.stats.messages for source in feed.sources if source.name == "okx" for conn in source.connections)


async def test_a_source_that_stops_underneath_is_reported_and_the_other_runs_on(
        sims: tuple[BinanceSim, OkxSim]) -> None:
    async with two_venue_feed(sims) as feed:
        await until(feed, lambda: synced(feed), what="books synced")
        binance = feed.sources[0]
        await binance.close()  # its connections end, so its task ends while the feed still runs
        await until(feed, lambda: feed.ended_sources == ("binance",), what="binance reported as ended")
        okx_messages = okx_frames(feed)
        await until(feed, lambda: okx_frames(feed) > okx_messages, what="okx still delivering")
        assert feed.health("binance")["state"] != "connected" and feed.health("okx")["state"] == "connected"


async def test_queue_depths_count_what_a_slow_consumer_has_not_read(sims: tuple[BinanceSim, OkxSim]) -> None:
    async with two_venue_feed(sims) as feed:
        collector = FeedCollector(feed)
        assert feed.queue_depths == ()
        events = feed.events()
        await anext(events)  # the consumer is registered and then stops reading
        await until(feed, lambda: feed.queue_depths == (QUEUE_SIZE,) and feed.dropped_events > 0,
                    what="the slow consumer's queue full")
        depth = {sample.labels["queue"]: sample.value for family in collector.collect()
                 if family.name == "livefeed_queue_depth" for sample in family.samples}
        assert depth["feed-consumer-0"] == QUEUE_SIZE
        await anext(events)  # one read, nothing emitted in between: the feed runs on this loop
        assert feed.queue_depths == (QUEUE_SIZE - 1,)
        await events.aclose()
        assert feed.queue_depths == ()
        feed.remove_callback(collector.observe)


def test_the_live_registry_lists_its_objects_by_kind() -> None:
    """What bench/notebook.py pauses its dashboards through, instead of the registry's private table."""

    class Thing:
        pass

    dashboard, plot = Thing(), Thing()
    live.register(dashboard, "dashboard", lambda: None)
    live.register(plot, "plot", lambda: None)
    try:
        assert dashboard in live.objects("dashboard") and plot not in live.objects("dashboard")
        assert plot in live.objects("plot")
    finally:
        live.unregister(dashboard)
        live.unregister(plot)
    assert dashboard not in live.objects("dashboard")
