"""A real feed against the OKX simulator: the local book equals the simulator's true book after start and after
every injected fault, and each recovery is counted in the stats."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from livefeed import ConnectionOptions, Feed
from livefeed.errors import UnknownSymbolError
from livefeed.sim.okx import OkxSim
from livefeed.venues.base import AdapterOptions, VenueEndpoints
from livefeed.venues.okx import OkxAdapter

from ..conftest import FAST, assert_books_exact, stat, synced, until

SYMBOLS = ("BTC-USDT", "ETH-USDT")


@pytest.fixture
async def sim() -> AsyncIterator[OkxSim]:
    async with OkxSim(symbols=SYMBOLS, seed=11, interval=0.01, send_queue=256) as server:
        yield server


@pytest.fixture
async def feed(sim: OkxSim) -> AsyncIterator[Feed]:
    subs = [f"okx:{s}" for s in SYMBOLS]
    async with Feed(subs, channels=["trades", "book", "ticker"], endpoints={"okx": sim}, connection=FAST) as f:
        yield f


def book_stat(feed: Feed, column: str) -> int:
    return int(feed.book_stats()[column].sum())


async def test_books_match_the_simulator(feed: Feed, sim: OkxSim) -> None:
    await assert_books_exact(feed, sim, "okx", SYMBOLS, last_sequence=sim.last_seq_id)
    await until(feed, lambda: len(feed.trades) > 0 and len(feed.tickers) > 0, what="trades and tickers")
    trades = feed.trades.to_pandas()
    assert set(trades["symbol"].astype(str)) <= set(SYMBOLS)
    assert set(trades["side"].astype(str)) <= {"buy", "sell"}
    tickers = feed.tickers.to_pandas()
    assert (tickers["ask_price"] > tickers["bid_price"]).all()
    assert stat(feed, "reconnects") == 0 and book_stat(feed, "gaps") == 0 and book_stat(feed, "checksum_failures") == 0


async def test_unknown_symbol_fails_early_with_close_matches(sim: OkxSim) -> None:
    with pytest.raises(UnknownSymbolError, match="BTC-USDT"):
        async with Feed(["okx:BTC-USDC"], endpoints={"okx": sim}, connection=FAST):
            pass


async def test_sequence_gap_resubscribes_without_reconnecting(feed: Feed, sim: OkxSim) -> None:
    await until(feed, lambda: synced(feed), what="books synced")
    sim.skip_updates(2)
    await until(feed, lambda: (feed.book_stats()["gaps"] >= 1).all(), what="gaps seen")
    await assert_books_exact(feed, sim, "okx", SYMBOLS, last_sequence=sim.last_seq_id)
    rows = feed.book_stats()
    assert (rows["resyncs"] >= 1).all() and (rows["snapshots"] >= 2).all()
    assert stat(feed, "reconnects") == 0  # the socket stayed up; only the channel was resubscribed


async def test_corrupt_checksum_resubscribes_without_reconnecting(feed: Feed, sim: OkxSim) -> None:
    await until(feed, lambda: synced(feed), what="books synced")
    sim.corrupt_checksum(1)
    await until(feed, lambda: book_stat(feed, "checksum_failures") == 1, what="checksum failure")
    await assert_books_exact(feed, sim, "okx", SYMBOLS, last_sequence=sim.last_seq_id)
    assert book_stat(feed, "resyncs") >= 1 and book_stat(feed, "gaps") == 0
    assert stat(feed, "reconnects") == 0
    assert sim.fault_counts["corrupt_checksum"] == 1


async def test_text_ping_keeps_a_quiet_connection_open() -> None:
    """With no market data at all, only the adapter's ``ping`` frames keep OKX's idle rule from closing it."""
    # a ping every 0.1 s against a 1 s idle limit: only a 0.9 s stall of a loaded machine could close it
    async with OkxSim(symbols=["BTC-USDT"], autostep=False, idle_timeout=1.0) as sim:
        adapter = OkxAdapter(
            ["BTC-USDT"], ["book"], lambda _event: None, endpoints=VenueEndpoints(sim.ws_url, sim.rest_url),
            options=AdapterOptions(connection=ConnectionOptions(stale_after=5.0, ping_interval=None)), ping_after=0.1,
        )
        task = asyncio.create_task(adapter.run())
        try:
            await sim.wait_for_connections(1)
            session = sim.sessions[0]
            async with asyncio.timeout(20):  # the condition: pings spanning 2.5 idle limits, checked each 0.1 s
                while session.pings < 25:
                    await asyncio.sleep(0.1)
            assert session.open and sim.fault_counts["idle_close"] == 0
            assert adapter.connections[0].stats.connects == 1 and adapter.sync["BTC-USDT"].snapshots == 1
        finally:
            await adapter.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
