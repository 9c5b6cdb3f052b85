"""A real feed against the Binance simulator: the local book stays equal to the simulator's true book through
every injected fault, and each recovery is counted in the stats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from livefeed import Feed
from livefeed.sim import BinanceSim

from .conftest import FAST, stat, synced, until

SYMBOLS = ("BTC-USDT", "ETH-USDT")


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSim]:
    async with BinanceSim(symbols=SYMBOLS, seed=7, interval=0.01, send_queue=256) as server:
        yield server


@pytest.fixture
async def feed(sim: BinanceSim) -> AsyncIterator[Feed]:
    subs = [f"binance:{s}" for s in SYMBOLS]
    async with Feed(subs, channels=["trades", "book", "ticker"], endpoints={"binance": sim}, connection=FAST) as f:
        yield f


async def assert_books_exact(feed: Feed, sim: BinanceSim) -> None:
    """Pause the market, let the feed catch up to the last update id, then compare every level."""
    await until(feed, lambda: synced(feed), what="books synced")
    sim.pause()
    for symbol in SYMBOLS:
        last = sim.last_update_id(symbol)
        await until(feed, lambda s=symbol, n=last: feed.books[("binance", s)].sequence == n,
                    what=f"{symbol} caught up to {last}")
        book = feed.book("binance", symbol)
        assert book.to_dict() == sim.true_book(symbol)
        assert not book.crossed
    sim.resume()


async def test_books_match_the_simulator(feed: Feed, sim: BinanceSim) -> None:
    await assert_books_exact(feed, sim)
    await until(feed, lambda: len(feed.trades) > 0 and len(feed.tickers) > 0, what="trades and tickers")
    trades = feed.trades.to_pandas()
    assert set(trades["symbol"].astype(str)) <= set(SYMBOLS)
    assert (trades["price"] > 0).all() and (trades["size"] > 0).all()
    assert set(trades["side"].astype(str)) <= {"buy", "sell"}
    top = feed.top_of_book.to_pandas()
    assert (top["ask_price"] > top["bid_price"]).all()
    assert stat(feed, "reconnects") == 0 and stat(feed, "gaps") == 0
    assert stat(feed, "lag_ms_max") < 60_000  # exchange times are real, so lag is measured


async def test_dropped_connection_reconnects_and_resyncs(feed: Feed, sim: BinanceSim) -> None:
    await until(feed, lambda: synced(feed), what="books synced")
    sim.drop_connections()
    await until(feed, lambda: stat(feed, "connects") >= 2, what="reconnect")
    await assert_books_exact(feed, sim)
    assert stat(feed, "reconnects") >= 1
    assert (feed.book_stats()["snapshots"] >= 2).all()  # rebuilt from a fresh snapshot after the reconnect


async def test_stall_trips_the_watchdog(feed: Feed, sim: BinanceSim) -> None:
    await until(feed, lambda: synced(feed), what="books synced")
    conn = feed.connections[0]
    sim.stall(True)
    async with asyncio.timeout(10):  # no events flow during a stall: follow the connection's own state instead
        while conn.stats.stale_timeouts < 1 or conn.stats.state != "connected":
            await conn.wait_state_change()
    assert sim.fault_counts["stall"] >= 1
    sim.stall(False)
    await assert_books_exact(feed, sim)
    assert conn.stats.reconnects >= 1


async def test_skipped_update_ids_resync_without_reconnecting(feed: Feed, sim: BinanceSim) -> None:
    await until(feed, lambda: synced(feed), what="books synced")
    sim.skip_updates(2)
    await until(feed, lambda: (feed.book_stats()["resyncs"] >= 1).all(), what="resync after gap")
    await assert_books_exact(feed, sim)
    rows = feed.book_stats()
    assert (rows["gaps"] >= 1).all()
    assert stat(feed, "reconnects") == 0  # the socket stayed up; only the book was rebuilt


async def test_malformed_frames_are_counted_not_fatal(feed: Feed, sim: BinanceSim) -> None:
    await until(feed, lambda: synced(feed), what="books synced")
    sim.send_malformed(3)
    await until(feed, lambda: stat(feed, "malformed") >= 3, what="malformed frames counted")
    # A garbled frame replaced a real one; if it was a diff, only the next diff can reveal the gap.
    applied = feed.book_stats()["deltas"].to_numpy()
    await until(feed, lambda: bool((feed.book_stats()["deltas"].to_numpy() >= applied + 2).all()), what="more diffs")
    assert stat(feed, "reconnects") == 0
    await assert_books_exact(feed, sim)


async def test_symbols_spread_over_connections_report_their_own_gaps(sim: BinanceSim) -> None:
    subs = [f"binance:{s}" for s in SYMBOLS]
    async with Feed(subs, channels=["trades", "book", "ticker"], endpoints={"binance": sim}, connection=FAST,
                    venue_options={"binance": {"streams_per_connection": 3}}) as feed:
        await until(feed, lambda: synced(feed), what="books synced")
        sim.skip_updates(2)
        await until(feed, lambda: (feed.book_stats()["resyncs"] >= 1).all(), what="resync after gap")
        stats, books = feed.stats(), feed.book_stats().set_index("symbol")
        assert list(stats.index) == ["binance-0", "binance-1"]  # 3 streams per symbol, 3 per connection
        assert stats.loc["binance-0", "gaps"] == books.loc["BTC-USDT", "gaps"]
        assert stats.loc["binance-1", "gaps"] == books.loc["ETH-USDT", "gaps"]
        await assert_books_exact(feed, sim)
