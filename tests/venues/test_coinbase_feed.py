"""A real ``Feed`` against the Coinbase simulator: the local books equal the simulator's true books after start and
after every injected fault, and each recovery is counted in ``feed.stats()`` / ``feed.book_stats()``."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from livefeed import Feed
from livefeed.errors import UnknownSymbolError
from livefeed.sim.coinbase import CoinbaseSim

from ..conftest import FAST, STEADY, assert_books_exact, stat, synced, until

SYMBOLS = ("BTC-USD", "ETH-USD")


@pytest.fixture
async def sim() -> AsyncIterator[CoinbaseSim]:
    async with CoinbaseSim(symbols=SYMBOLS, seed=7, interval=0.01, send_queue=256) as server:
        yield server


@pytest.fixture
async def feed(sim: CoinbaseSim) -> AsyncIterator[Feed]:
    subs = [f"coinbase:{s}" for s in SYMBOLS]
    async with Feed(subs, channels=["trades", "book", "ticker"], endpoints={"coinbase": sim}, connection=FAST) as f:
        yield f


async def test_books_trades_and_tickers_match_the_simulator(feed: Feed, sim: CoinbaseSim) -> None:
    await assert_books_exact(feed, sim, "coinbase", SYMBOLS)
    await until(feed, lambda: len(feed.trades) > 0 and len(feed.tickers) > 0, what="trades and tickers")
    trades = feed.trades.to_pandas()
    assert set(trades["symbol"].astype(str)) <= set(SYMBOLS)
    assert set(trades["side"].astype(str)) <= {"buy", "sell"} and (trades["size"] > 0).all()
    tickers = feed.tickers.to_pandas()
    assert (tickers["ask_price"] > tickers["bid_price"]).all()
    assert stat(feed, "reconnects") == 0 and stat(feed, "gaps") == 0 and stat(feed, "malformed") == 0


async def test_trade_sides_are_taker_sides(feed: Feed, sim: CoinbaseSim) -> None:
    """Coinbase prints the maker's side; every trade the feed shows must carry the opposite (taker) side."""
    await until(feed, lambda: len(feed.trades) >= 20, what="20 trades")
    sim.pause()
    sent = {t["trade_id"]: t["side"] for s in SYMBOLS for t in sim.recent_trades(s)}
    trades = feed.trades.to_pandas()
    seen = trades[trades["trade_id"].astype(str).isin(list(sent))]
    assert len(seen) >= 10
    for trade_id, side in zip(seen["trade_id"].astype(str), seen["side"].astype(str), strict=True):
        assert side == {"BUY": "sell", "SELL": "buy"}[sent[trade_id]], trade_id
    assert set(seen["side"].astype(str)) == {"buy", "sell"}


async def test_sequence_gap_resyncs_without_reconnecting(feed: Feed, sim: CoinbaseSim) -> None:
    await until(feed, lambda: synced(feed), what="books synced")
    sim.skip_updates(2)
    await until(feed, lambda: bool((feed.book_stats()["resyncs"] >= 1).all()), what="resync after the gap")
    await assert_books_exact(feed, sim, "coinbase", SYMBOLS)
    rows = feed.book_stats()
    assert (rows["gaps"] >= 1).all() and (rows["snapshots"] >= 2).all()
    assert stat(feed, "reconnects") == 0  # the socket stayed up; level2 was unsubscribed and resubscribed


async def test_a_new_connection_numbers_its_frames_from_zero_again(feed: Feed, sim: CoinbaseSim) -> None:
    """``sequence_num`` counts per connection: after a reconnect the first frame is 0 again, which is in sequence
    (not a late frame to ignore), so the new connection's snapshots rebuild the books."""
    await until(feed, lambda: synced(feed), what="books synced")
    (adapter,) = feed.sources
    sim.drop_connections()
    await until(feed, lambda: stat(feed, "connects") >= 2 and synced(feed), what="reconnected and synced")
    assert adapter.tracker.out_of_order == 0 and adapter.tracker.gaps == 0  # type: ignore[attr-defined]
    assert (feed.book_stats()["snapshots"] >= 2).all()
    await assert_books_exact(feed, sim, "coinbase", SYMBOLS)


async def test_multi_megabyte_snapshot_through_the_feed() -> None:
    # Building, sending and parsing a 25,000-level snapshot can take seconds on a loaded machine (or under
    # coverage): the watchdog, not under test here, must not take that silence for a stall.
    patient = dataclasses.replace(STEADY, stale_after=30.0)
    async with (
        CoinbaseSim(symbols=["BTC-USD"], seed=1, levels=25_000, interval=0.05) as big,
        Feed(["coinbase:BTC-USD"], channels=["book"], endpoints={"coinbase": big}, connection=patient) as feed,
    ):
        await until(feed, lambda: synced(feed), what="the full-depth book")
        big.pause()
        book = feed.books[("coinbase", "BTC-USD")]
        await until(feed, lambda: book.to_dict() == big.true_book("BTC-USD"), timeout=5, what="equal books")
        assert len(book) > 35_000 and stat(feed, "bytes") > 4 * 2**20


async def test_unknown_product_fails_early_with_close_matches(sim: CoinbaseSim) -> None:
    with pytest.raises(UnknownSymbolError, match="BTC-USD"):
        async with Feed(["coinbase:BTC-USDX"], endpoints={"coinbase": sim}):
            pass
