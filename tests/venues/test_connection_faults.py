"""Connection-level faults every venue must survive the same way, run against each venue's simulator: refused
upgrades (backoff, then recover), a slow consumer dropped by the server, a dropped connection and a stalled one
(reconnect, resync), malformed frames (counted, not fatal). After each, every local book equals its simulator's
true book again. Venue-specific faults (sequence gaps, bad checksums) are in each venue's ``test_<venue>_feed.py``."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from livefeed import Feed
from livefeed.commands.demo import MARKET_VENUES, default_subscriptions
from livefeed.sim import SIMULATORS
from livefeed.sim.deribit import quarterly_expiries

from ..conftest import FAST, assert_books_exact, stat, synced, until

_EXPIRY = quarterly_expiries(dt.date.today())[0].strftime("%Y%m%d")
DERIVATIVES = {"binance-usdm": ("binance", ["BTC-USDT-PERP", "ETH-USDT-PERP"]),
               "bybit-linear": ("bybit", ["BTC-USDT-PERP", "ETH-USDT-PERP"]),
               "okx-swap": ("okx", ["BTC-USDT-PERP", "ETH-USDT-PERP"]),
               "deribit": ("deribit", ["BTC-USD-PERP", f"BTC-USD-{_EXPIRY}", f"BTC-USD-{_EXPIRY}-60000-C"])}
"""Derivatives sources under test: the venue their books are filed under and the instruments to follow."""
SOURCES = (*MARKET_VENUES, *DERIVATIVES)
SYMBOLS = {**default_subscriptions(MARKET_VENUES, "BTC,ETH"), **{s: i for s, (_, i) in DERIVATIVES.items()}}
DEPTH = {"kraken": 10, "bybit": 50, "bybit-linear": 50}
"""Venues whose books have a fixed depth: each side of a synced book has exactly that many levels."""
LAST_SEQUENCE = {"binance": "last_update_id", "bybit": "last_update_id", "okx": "last_seq_id",
                 "binance-usdm": "last_update_id", "bybit-linear": "last_update_id", "okx-swap": "last_seq_id",
                 "deribit": "last_change_id"}
"""Venues whose simulator names its last update id: a caught-up book's ``sequence`` equals it."""


def venue_of(source: str) -> str:
    return DERIVATIVES[source][0] if source in DERIVATIVES else source


async def books_exact(venue: str, sim: Any, feed: Feed) -> None:
    """:func:`assert_books_exact` with the venue's own depth and sequence checks (``venue``: the source)."""
    last = LAST_SEQUENCE.get(venue)
    await assert_books_exact(feed, sim, venue_of(venue), SYMBOLS[venue], depth=DEPTH.get(venue),
                             last_sequence=getattr(sim, last) if last else None)


@pytest.fixture(params=SOURCES)
async def venue_feed(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, Any, Feed]]:
    venue = request.param
    sim_class: Any = SIMULATORS[venue]
    async with sim_class(symbols=SYMBOLS[venue], seed=5, interval=0.01, send_queue=256) as sim:
        subs = [f"{venue_of(venue)}:{s}" for s in SYMBOLS[venue]]
        async with Feed(subs, channels=["trades", "book", "ticker"], endpoints={venue: sim}, connection=FAST) as feed:
            await until(feed, lambda: synced(feed), what=f"{venue} books synced")
            yield venue, sim, feed


async def test_refused_connections_back_off_then_recover(venue_feed: tuple[str, Any, Feed]) -> None:
    venue, sim, feed = venue_feed
    sim.refuse_connections(600)  # until ended below: no wall-clock window that a loaded machine could miss
    sim.drop_connections()
    conn = feed.connections[0]
    async with asyncio.timeout(20):  # two refused attempts: it backed off and tried again
        while sim.fault_counts["refuse_connections"] < 2 or "503" not in conn.stats.last_error:
            await conn.wait_state_change()
    assert "503" in feed.stats()["last_error"].iloc[0]
    n = len(feed.connections)  # a source may run several (Binance USD-M: a public and a market one)
    assert stat(feed, "connects") == n
    sim.refuse_connections(0)
    await until(feed, lambda: stat(feed, "connects") >= 2 * n, what="reconnect after refusals")
    await books_exact(venue, sim, feed)


async def test_slow_client_is_dropped_and_recovers(venue_feed: tuple[str, Any, Feed]) -> None:
    venue, sim, feed = venue_feed
    sim.slow_client(0.05)
    conn = feed.connections[0]
    async with asyncio.timeout(20):  # the drop comes from the server: follow the connection's own state
        while sim.fault_counts["slow_client"] < 1:
            await conn.wait_state_change()
    sim.slow_client(0)
    await until(feed, lambda: stat(feed, "connects") > len(feed.connections),
                what="reconnect after the slow-consumer drop")
    await books_exact(venue, sim, feed)


async def test_dropped_connection_reconnects_and_resyncs(venue_feed: tuple[str, Any, Feed]) -> None:
    venue, sim, feed = venue_feed
    sim.drop_connections()
    await until(feed, lambda: stat(feed, "connects") >= 2 * len(feed.connections), what="reconnect")
    await books_exact(venue, sim, feed)
    assert stat(feed, "reconnects") >= 1
    assert (feed.book_stats()["snapshots"] >= 2).all()  # rebuilt from the new connection's snapshot


async def test_stall_trips_the_watchdog(venue_feed: tuple[str, Any, Feed]) -> None:
    venue, sim, feed = venue_feed
    conn = feed.connections[0]
    sim.stall(True)
    async with asyncio.timeout(10):  # no events flow during a stall: follow the connection's own state
        while conn.stats.stale_timeouts < 1 or conn.stats.state != "connected":
            await conn.wait_state_change()
    assert sim.fault_counts["stall"] >= 1
    sim.stall(False)
    await books_exact(venue, sim, feed)
    assert conn.stats.reconnects >= 1


async def test_malformed_frames_are_counted_not_fatal(venue_feed: tuple[str, Any, Feed]) -> None:
    venue, sim, feed = venue_feed
    sim.send_malformed(3)
    await until(feed, lambda: stat(feed, "malformed") >= 3, what="malformed frames counted")
    if venue == "coinbase":
        # Coinbase numbers every frame of a connection: a garbled frame's number is missing, a gap for every book
        await until(feed, lambda: bool((feed.book_stats()["resyncs"] >= 1).all()), what="resync")
    else:
        # a garbled frame replaced a real one; if it was a book update, only the next update can reveal the gap
        applied = feed.book_stats()["deltas"].to_numpy()
        await until(feed, lambda: bool((feed.book_stats()["deltas"].to_numpy() >= applied + 2).all()),
                    what="more updates")
    assert stat(feed, "reconnects") == 0
    await books_exact(venue, sim, feed)
