"""A real feed against the Binance simulator: the local book stays equal to the simulator's true book through
every injected fault, and each recovery is counted in the stats."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from livefeed import Feed
from livefeed.sim import BinanceSim

from .conftest import FAST, assert_books_exact, stat, synced, until

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


async def test_books_match_the_simulator(feed: Feed, sim: BinanceSim) -> None:
    await assert_books_exact(feed, sim, "binance", SYMBOLS, last_sequence=sim.last_update_id)
    await until(feed, lambda: len(feed.trades) > 0 and len(feed.tickers) > 0, what="trades and tickers")
    trades = feed.trades.to_pandas()
    assert set(trades["symbol"].astype(str)) <= set(SYMBOLS)
    assert (trades["price"] > 0).all() and (trades["size"] > 0).all()
    assert set(trades["side"].astype(str)) <= {"buy", "sell"}
    top = feed.top_of_book.to_pandas()
    assert (top["ask_price"] > top["bid_price"]).all()
    assert stat(feed, "reconnects") == 0 and stat(feed, "gaps") == 0
    assert stat(feed, "lag_ms_max") < 60_000  # exchange times are real, so lag is measured


async def test_skipped_update_ids_resync_without_reconnecting(feed: Feed, sim: BinanceSim) -> None:
    await until(feed, lambda: synced(feed), what="books synced")
    sim.skip_updates(2)
    await until(feed, lambda: (feed.book_stats()["resyncs"] >= 1).all(), what="resync after gap")
    await assert_books_exact(feed, sim, "binance", SYMBOLS, last_sequence=sim.last_update_id)
    rows = feed.book_stats()
    assert (rows["gaps"] >= 1).all()
    assert stat(feed, "reconnects") == 0  # the socket stayed up; only the book was rebuilt


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
        await assert_books_exact(feed, sim, "binance", SYMBOLS, last_sequence=sim.last_update_id)
