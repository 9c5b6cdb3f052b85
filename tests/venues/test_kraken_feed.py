"""A real Feed against the Kraken v2 simulator: the local depth-10 books equal the simulator's top-10 view after
start and after every injected fault, with each recovery counted in the stats."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from livefeed import Feed
from livefeed.sim.kraken import KrakenSim
from livefeed.venues.kraken import KrakenAdapter

from ..conftest import FAST, assert_books_exact, stat, synced, until

SYMBOLS = ("BTC-USD", "ETH-USD")


@pytest.fixture
async def sim() -> AsyncIterator[KrakenSim]:
    async with KrakenSim(symbols=SYMBOLS, seed=11, interval=0.01, send_queue=256) as server:
        yield server


@pytest.fixture
async def feed(sim: KrakenSim) -> AsyncIterator[Feed]:
    subs = [f"kraken:{s}" for s in SYMBOLS]
    async with Feed(subs, channels=["trades", "book", "ticker"], endpoints={"kraken": sim}, connection=FAST) as f:
        yield f


def adapter(feed: Feed) -> KrakenAdapter:
    (only,) = feed.sources
    assert isinstance(only, KrakenAdapter)
    return only


def book_stat(feed: Feed, column: str) -> list[int]:
    return [int(v) for v in feed.book_stats()[column]]


async def test_books_match_the_simulator(feed: Feed, sim: KrakenSim) -> None:
    await assert_books_exact(feed, sim, "kraken", SYMBOLS, depth=10)
    await until(feed, lambda: len(feed.trades) > 0 and len(feed.tickers) > 0, what="trades and tickers")
    trades = feed.trades.to_pandas()
    assert set(trades["symbol"].astype(str)) <= set(SYMBOLS)
    assert (trades["price"] > 0).all() and (trades["size"] > 0).all()
    assert set(trades["side"].astype(str)) <= {"buy", "sell"}
    tickers = feed.tickers.to_pandas()
    assert (tickers["ask_price"] > tickers["bid_price"]).all()
    integrity = adapter(feed).integrity.values()
    await until(feed, lambda: all(i.checked > 10 for i in integrity), what="checksums compared")
    assert book_stat(feed, "checksum_failures") == [0, 0]
    assert stat(feed, "reconnects") == 0 and stat(feed, "malformed") == 0
    assert stat(feed, "lag_ms_max") < 60_000


async def test_skipped_updates_resync_without_reconnecting(feed: Feed, sim: KrakenSim) -> None:
    await until(feed, lambda: synced(feed), what="books synced")
    sim.skip_updates(2)
    await until(feed, lambda: all(n >= 1 for n in book_stat(feed, "resyncs")), what="resync after skipped updates")
    await assert_books_exact(feed, sim, "kraken", SYMBOLS, depth=10)
    assert all(n >= 1 for n in book_stat(feed, "checksum_failures"))
    assert all(n >= 2 for n in book_stat(feed, "snapshots"))
    assert stat(feed, "reconnects") == 0  # the socket stayed up; only the book was resubscribed


async def test_corrupt_checksum_resubscribes_the_book(feed: Feed, sim: KrakenSim) -> None:
    await until(feed, lambda: synced(feed), what="books synced")
    sim.corrupt_checksum(1)
    await until(feed, lambda: all(n >= 1 for n in book_stat(feed, "checksum_failures")), what="checksum failure")
    await until(feed, lambda: all(n >= 2 for n in book_stat(feed, "snapshots")), what="fresh snapshots")
    await assert_books_exact(feed, sim, "kraken", SYMBOLS, depth=10)
    assert book_stat(feed, "checksum_failures") == [1, 1] and book_stat(feed, "resyncs") == [1, 1]
    assert stat(feed, "reconnects") == 0
    assert sim.requests["unsubscribe:book"] == 2 and sim.requests["subscribe:book"] == 3  # one each, per symbol


async def test_app_level_pings_are_answered(sim: KrakenSim, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(KrakenAdapter, "app_ping_interval", 0.02)
    async with Feed(["kraken:BTC-USD"], channels=["trades"], endpoints={"kraken": sim}, connection=FAST) as feed:
        await until(feed, lambda: sim.requests["ping"] >= 3, what="three pings")
        assert stat(feed, "malformed") == 0  # the pongs were understood
        assert sim.requests["subscribe:instrument"] == 1 and sim.requests["subscribe:trade"] == 1
