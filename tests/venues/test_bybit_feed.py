"""A real ``Feed`` against BybitSim: the local book equals the simulator's true ``orderbook.50`` view after start and
after each injected fault, and every recovery is counted in ``feed.stats()`` / ``feed.book_stats()``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from livefeed import Feed
from livefeed.errors import UnknownSymbolError
from livefeed.sim.bybit import BybitSim
from livefeed.venues.bybit import BybitAdapter

from ..conftest import FAST, assert_books_exact, stat, synced, until

SYMBOLS = ("BTC-USDT", "ETH-USDT")


@pytest.fixture
async def sim() -> AsyncIterator[BybitSim]:
    async with BybitSim(symbols=SYMBOLS, seed=11, interval=0.01, send_queue=256) as server:
        yield server


@pytest.fixture
async def feed(sim: BybitSim) -> AsyncIterator[Feed]:
    subs = [f"bybit:{s}" for s in SYMBOLS]
    async with Feed(subs, channels=["trades", "book", "ticker"], endpoints={"bybit": sim}, connection=FAST) as f:
        yield f


async def test_books_trades_and_tickers_match_the_simulator(feed: Feed, sim: BybitSim) -> None:
    await assert_books_exact(feed, sim, "bybit", SYMBOLS, depth=50, last_sequence=sim.last_update_id)
    await until(feed, lambda: len(feed.trades) > 0 and len(feed.tickers) > 0, what="trades and tickers")
    trades = feed.trades.to_pandas()
    assert set(trades["symbol"].astype(str)) <= set(SYMBOLS)
    assert set(trades["side"].astype(str)) <= {"buy", "sell"}
    tickers = feed.tickers.to_pandas()
    assert (tickers["ask_price"] > tickers["bid_price"]).all()
    assert stat(feed, "reconnects") == 0 and stat(feed, "gaps") == 0 and stat(feed, "malformed") == 0


async def test_ticker_is_the_level_one_top(feed: Feed, sim: BybitSim) -> None:
    await assert_books_exact(feed, sim, "bybit", SYMBOLS, depth=50, last_sequence=sim.last_update_id)
    sim.pause()
    try:
        await sim.step(1)  # one more push so the latest ticker reflects the paused market
        for symbol in SYMBOLS:
            book = sim.true_book(symbol)
            want = (max(book["bids"]), min(book["asks"]))
            await until(feed, lambda s=symbol, w=want: _last_ticker(feed, s) == w, what=f"{symbol} ticker")
    finally:
        sim.resume()


def _last_ticker(feed: Feed, symbol: str) -> tuple[float, float] | None:
    frame = feed.tickers.to_pandas()
    rows = frame[frame["symbol"].astype(str) == symbol]
    if not len(rows):
        return None
    return float(rows["bid_price"].iloc[-1]), float(rows["ask_price"].iloc[-1])


async def test_u_gap_resubscribes_without_reconnecting(feed: Feed, sim: BybitSim) -> None:
    await until(feed, lambda: synced(feed), what="books synced")
    sim.skip_updates(2)
    await until(feed, lambda: bool((feed.book_stats()["resyncs"] >= 1).all()), what="resync after gap")
    await assert_books_exact(feed, sim, "bybit", SYMBOLS, depth=50, last_sequence=sim.last_update_id)
    rows = feed.book_stats()
    assert (rows["gaps"] >= 1).all() and (rows["snapshots"] >= 2).all()
    assert stat(feed, "reconnects") == 0 and stat(feed, "connects") == 1  # the socket stayed up


async def test_service_restart_snapshot_overwrites_the_book(feed: Feed, sim: BybitSim) -> None:
    await until(feed, lambda: synced(feed), what="books synced")
    sim.restart_books()
    await until(feed, lambda: bool((feed.book_stats()["snapshots"] >= 2).all()), what="u=1 snapshots")
    await assert_books_exact(feed, sim, "bybit", SYMBOLS, depth=50, last_sequence=sim.last_update_id)
    assert stat(feed, "gaps") == 0 and stat(feed, "reconnects") == 0


async def test_heartbeat_keeps_an_idle_connection_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator drops clients silent for idle_timeout; the adapter's own pings must keep it connected."""
    monkeypatch.setattr(BybitAdapter, "heartbeat_interval", 0.05)
    async with (
        BybitSim(symbols=("BTC-USDT",), autostep=False, idle_timeout=0.3) as sim,
        Feed(["bybit:BTC-USDT"], channels=["book"], endpoints={"bybit": sim}, connection=FAST) as feed,
    ):
        await until(feed, lambda: feed.book_stats()["snapshots"].iloc[0] > 0, what="snapshot")
        await sim.wait_for_pings(12)  # ~0.6 s: two idle limits without a single market frame
        assert sim.fault_counts.get("idle_timeout", 0) == 0
        assert stat(feed, "connects") == 1 and feed.sources[0].pongs >= 10  # type: ignore[attr-defined]


async def test_unknown_symbol_fails_early_with_close_matches(sim: BybitSim) -> None:
    feed = Feed(["bybit:BTC-USDC"], endpoints={"bybit": sim})
    with pytest.raises(UnknownSymbolError, match="BTC-USDT"):
        await feed.__aenter__()
