"""A ``Feed`` of Binance USD-M perpetuals and a dated future against ``BinanceUsdmSim``: every channel arrives, the
books equal the simulator's truth, the funding rate rolls at the funding time, and ``pu`` gaps and breaks resync
one book at a time without a reconnect. The shared connection faults are in ``test_connection_faults.py``."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import AsyncIterator

import pytest

from livefeed import ConnectionOptions, Feed
from livefeed.errors import UnknownSymbolError
from livefeed.model import Side
from livefeed.sim import BinanceSim, BinanceUsdmSim

from ..conftest import STEADY, assert_books_exact, stat, synced, until

SYMBOLS = ["BTC-USDT-PERP", "ETH-USDT-PERP", "BTC-USDT-20261225"]
FUNDING_INTERVAL = 2.0


@pytest.fixture
async def sim_feed() -> AsyncIterator[tuple[BinanceUsdmSim, Feed]]:
    async with BinanceUsdmSim(SYMBOLS, seed=7, interval=0.01, funding_interval=FUNDING_INTERVAL,
                              liquidation_prob=0.5) as sim:
        feed = Feed([f"binance:{s}" for s in SYMBOLS], channels=["trades", "book", "ticker"],
                    endpoints={"binance-usdm": sim}, connection=STEADY,
                    venue_options={"binance-usdm": {"open_interest_every": 0.3}})
        async with feed:
            await until(feed, lambda: synced(feed), what="books synced")
            yield sim, feed


async def books_exact(sim: BinanceUsdmSim, feed: Feed) -> None:
    await assert_books_exact(feed, sim, "binance", SYMBOLS, last_sequence=sim.last_update_id)


def per_symbol(frame: object, column: str = "symbol") -> set[str]:
    return set(frame.to_pandas()[column].astype(str))  # type: ignore[attr-defined]


async def test_every_channel_arrives_for_perpetuals_and_a_dated_future(sim_feed: tuple[BinanceUsdmSim, Feed]) -> None:
    sim, feed = sim_feed
    every = set(SYMBOLS)
    await until(feed, lambda: per_symbol(feed.trades) == every and per_symbol(feed.tickers) == every
                and per_symbol(feed.funding) == every and per_symbol(feed.open_interest) == every
                and per_symbol(feed.liquidations) == every, timeout=30, what="every channel of every symbol")
    await books_exact(sim, feed)
    assert [c.name for c in feed.connections] == ["binance-usdm-public-0", "binance-usdm-market-0"]
    routes = {s.route: {n.split("@", 1)[1] for n in s.subscriptions} for s in sim.sessions}
    assert routes == {"public": {"depth@100ms", "bookTicker"}, "market": {"aggTrade", "markPrice@1s", "forceOrder"}}
    trades = feed.trades.to_pandas()
    assert (trades["venue"] == "binance").all() and (trades["price"] > 0).all()
    tickers = feed.tickers.to_pandas()
    assert (tickers["bid_price"] < tickers["ask_price"]).all()
    funding = feed.funding.to_pandas()
    perp, future = funding[funding["symbol"] == "BTC-USDT-PERP"], funding[funding["symbol"] == "BTC-USDT-20261225"]
    assert perp["funding_rate"].notna().all() and perp["next_funding"].notna().all()
    assert future["funding_rate"].isna().all() and future["next_funding"].isna().all()  # a future has no funding
    assert (funding["mark_price"] > 0).all() and (funding["index_price"] > 0).all()
    assert (feed.open_interest.to_pandas()["open_interest"] > 0).all()
    liquidations = feed.liquidations.to_pandas()
    assert set(liquidations["side"].astype(str)) <= {Side.BUY.value, Side.SELL.value}
    assert (liquidations["size"] > 0).all()
    assert stat(feed, "malformed") == 0


async def test_funding_rate_rolls_at_the_funding_time(sim_feed: tuple[BinanceUsdmSim, Feed]) -> None:
    sim, feed = sim_feed

    def perp_rows() -> object:
        frame = feed.funding.to_pandas()
        return frame[frame["symbol"] == "ETH-USDT-PERP"]

    await until(feed, lambda: perp_rows()["next_funding"].nunique() >= 3, timeout=30,  # type: ignore[index]
                what="two funding rolls")
    rows = perp_rows()
    by_time = rows.groupby("next_funding")["funding_rate"].nunique()  # type: ignore[attr-defined]
    assert (by_time == 1).all(), "the rate changed between two funding times"
    times = sorted(rows["next_funding"].unique())  # type: ignore[index]
    steps = {(b - a).total_seconds() for a, b in itertools.pairwise(times)}
    assert steps == {FUNDING_INTERVAL}
    rates = rows.groupby("next_funding")["funding_rate"].first()  # type: ignore[attr-defined]
    assert rates.nunique() >= 2, "the rate never rolled"
    assert all(ts < nf for ts, nf in zip(rows["ts"], rows["next_funding"], strict=True))  # type: ignore[index]
    assert sim.funding_rolls >= 2
    current = sim.funding_rate("ETH-USDT-PERP")
    assert current is not None and math.isfinite(current)


async def test_skipped_diffs_show_as_a_pu_gap_and_each_book_resyncs(sim_feed: tuple[BinanceUsdmSim, Feed]) -> None:
    sim, feed = sim_feed
    sim.skip_updates(1)
    await until(feed, lambda: bool((feed.book_stats()["gaps"] >= 1).all()), what="a gap on every book")
    await books_exact(sim, feed)
    stats = feed.book_stats()
    assert (stats["resyncs"] >= 1).all() and (stats["snapshots"] >= 2).all()
    assert stat(feed, "reconnects") == 0  # the socket stays up: only the books are rebuilt
    assert sim.fault_counts["skip_updates"] == len(SYMBOLS)


async def test_a_pu_break_with_nothing_lost_still_resyncs_the_book(sim_feed: tuple[BinanceUsdmSim, Feed]) -> None:
    sim, feed = sim_feed
    sim.break_chain(1)
    await until(feed, lambda: bool((feed.book_stats()["gaps"] >= 1).all()), what="the break seen on every book")
    await books_exact(sim, feed)
    assert (feed.book_stats()["snapshots"] >= 2).all()
    assert stat(feed, "reconnects") == 0
    assert sim.fault_counts["break_chain"] == len(SYMBOLS)


async def test_open_interest_polling_off_makes_no_requests() -> None:
    async with BinanceUsdmSim(["BTC-USDT-PERP"], seed=2, interval=0.01) as sim:
        feed = Feed(["binance:BTC-USDT-PERP"], channels=["book"], endpoints={"binance-usdm": sim}, connection=STEADY,
                    venue_options={"binance-usdm": {"open_interest_every": 0}})
        async with feed:
            await until(feed, lambda: int(feed.book_stats()["deltas"].iloc[0]) >= 200, what="200 diffs")
            assert sim.rest_requests["/fapi/v1/openInterest"] == 0 and len(feed.open_interest) == 0
            assert sim.rest_requests["/fapi/v1/depth"] >= 1


async def test_an_unlisted_contract_is_refused_with_a_close_match() -> None:
    async with BinanceUsdmSim(["BTC-USDT-PERP", "BTC-USDT-20261225"], seed=2, interval=0.01) as sim:
        feed = Feed(["binance:BTC-USDT-20261226"], endpoints={"binance-usdm": sim})
        with pytest.raises(UnknownSymbolError, match=r"BTC-USDT-20261226.*did you mean BTC-USDT-20261225"):
            await feed.__aenter__()


async def test_unrouted_streams_share_the_legacy_stream_connection() -> None:
    async with BinanceUsdmSim(["BTC-USDT-PERP"], seed=3, interval=0.01) as sim:
        feed = Feed(["binance:BTC-USDT-PERP"], channels=["trades", "book", "ticker"], endpoints={"binance-usdm": sim},
                    connection=STEADY, venue_options={"binance-usdm": {"routed": False, "open_interest_every": 0}})
        async with feed:
            await until(feed, lambda: synced(feed) and len(feed.trades) > 0 and len(feed.funding) > 0,
                        what="book, trades and funding on one connection")
            assert [c.name for c in feed.connections] == ["binance-usdm-0"]
            assert [s.route for s in sim.sessions] == [""]
            await assert_books_exact(feed, sim, "binance", ["BTC-USDT-PERP"], last_sequence=sim.last_update_id)


async def test_a_silent_book_is_resubscribed_on_the_public_connection() -> None:
    options = ConnectionOptions(stale_after=60.0, book_stale_after=0.5, backoff_initial=0.05, backoff_cap=0.2,
                                ping_interval=None)
    async with BinanceUsdmSim(["BTC-USDT-PERP"], seed=6, interval=0.01) as sim:
        feed = Feed(["binance:BTC-USDT-PERP"], channels=["book"], endpoints={"binance-usdm": sim}, connection=options,
                    venue_options={"binance-usdm": {"open_interest_every": 0}})
        async with feed:
            # a slow first snapshot may count as silence and resubscribe: let that settle first
            await until(feed, lambda: synced(feed) and int(feed.book_stats()["deltas"].iloc[0]) >= 100,
                        what="synced, 100 diffs")
            before = feed.book_stats().iloc[0]
            sim.pause()
            async with asyncio.timeout(20):  # the market is paused: no feed events to wake on
                while int(feed.book_stats()["stale_resyncs"].iloc[0]) <= before["stale_resyncs"]:
                    await asyncio.sleep(0.02)
            snapshots = int(feed.book_stats()["snapshots"].iloc[0])
            assert snapshots == before["snapshots"] and not feed.book_stats()["synced"].iloc[0]
            sim.resume()
            await until(feed, lambda: synced(feed) and int(feed.book_stats()["snapshots"].iloc[0]) > snapshots,
                        what="synced again from a new snapshot")
            assert stat(feed, "connects") == 2  # the public and market connections, never reconnected
            assert stat(feed, "stale_timeouts") == 0
            unsubscribed = [s for s in sim.sessions if s.route == "public"]
            assert [list(s.subscriptions) for s in unsubscribed] == [["btcusdt@depth@100ms"]]  # subscribed again


async def test_spot_and_perpetual_of_one_venue_in_one_feed_keep_their_own_books() -> None:
    async with BinanceSim(["BTC-USDT"], seed=8, interval=0.01) as spot, \
            BinanceUsdmSim(["BTC-USDT-PERP"], seed=8, interval=0.01) as perp:
        feed = Feed(["binance:BTC-USDT", "binance:BTC-USDT-PERP"], channels=["trades", "book"], connection=STEADY,
                    endpoints={"binance": spot, "binance-usdm": perp},
                    venue_options={"binance-usdm": {"open_interest_every": 0}})
        async with feed:
            await until(feed, lambda: synced(feed) and len(feed.book_stats()) == 2, what="both books synced")
            await until(feed, lambda: per_symbol(feed.trades) == {"BTC-USDT", "BTC-USDT-PERP"}, what="both trade")
            await assert_books_exact(feed, spot, "binance", ["BTC-USDT"])
            await assert_books_exact(feed, perp, "binance", ["BTC-USDT-PERP"], last_sequence=perp.last_update_id)
            assert sorted(c.name for c in feed.connections) == [
                "binance-0", "binance-usdm-market-0", "binance-usdm-public-0"]
            assert set(feed.funding.to_pandas()["symbol"].astype(str)) <= {"BTC-USDT-PERP"}
