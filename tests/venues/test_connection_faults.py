"""Connection-level faults every venue must survive the same way, run against each venue's simulator: refused
upgrades (backoff, then recover) and a slow consumer dropped by the server (reconnect, resync). After each, every
local book equals its simulator's true book again. Venue-specific faults (sequence gaps, bad checksums, malformed
frames, stalls) are in each venue's own ``test_<venue>_feed.py``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from livefeed import Feed
from livefeed.commands.demo import MARKET_VENUES, default_subscriptions
from livefeed.sim import SIMULATORS

from ..conftest import FAST, assert_books_exact, stat, synced, until

SYMBOLS = default_subscriptions(MARKET_VENUES, "BTC,ETH")


@pytest.fixture(params=MARKET_VENUES)
async def venue_feed(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, Any, Feed]]:
    venue = request.param
    sim_class: Any = SIMULATORS[venue]
    async with sim_class(symbols=SYMBOLS[venue], seed=5, interval=0.01, send_queue=256) as sim:
        subs = [f"{venue}:{s}" for s in SYMBOLS[venue]]
        async with Feed(subs, channels=["trades", "book", "ticker"], endpoints={venue: sim}, connection=FAST) as feed:
            await until(feed, lambda: synced(feed), what=f"{venue} books synced")
            yield venue, sim, feed


async def test_refused_connections_back_off_then_recover(venue_feed: tuple[str, Any, Feed]) -> None:
    venue, sim, feed = venue_feed
    sim.refuse_connections(600)  # until ended below: no wall-clock window that a loaded machine could miss
    sim.drop_connections()
    conn = feed.connections[0]
    async with asyncio.timeout(20):  # two refused attempts: it backed off and tried again
        while sim.fault_counts["refuse_connections"] < 2:
            await conn.wait_state_change()
    assert "503" in feed.stats()["last_error"].iloc[0]
    assert stat(feed, "connects") == 1
    sim.refuse_connections(0)
    await until(feed, lambda: stat(feed, "connects") >= 2, what="reconnect after refusals")
    await assert_books_exact(feed, sim, venue, SYMBOLS[venue])


async def test_slow_client_is_dropped_and_recovers(venue_feed: tuple[str, Any, Feed]) -> None:
    venue, sim, feed = venue_feed
    sim.slow_client(0.05)
    conn = feed.connections[0]
    async with asyncio.timeout(20):  # the drop comes from the server: follow the connection's own state
        while sim.fault_counts["slow_client"] < 1:
            await conn.wait_state_change()
    sim.slow_client(0)
    await until(feed, lambda: stat(feed, "connects") >= 2, what="reconnect after the slow-consumer drop")
    await assert_books_exact(feed, sim, venue, SYMBOLS[venue])
