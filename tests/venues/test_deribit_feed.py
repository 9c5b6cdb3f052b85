"""A feed of Deribit's perpetual, a dated future and options against ``DeribitSim``: every channel arrives, books
equal the simulator's truth (and its last ``change_id``), a ``prev_change_id`` break resubscribes the books,
heartbeats are answered (the simulator closes a client that does not), and ``livefeed.instruments`` lists the
simulated chain. The shared connection faults run on Deribit in test_connection_faults.py."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

import livefeed
from livefeed import Feed, UnknownSymbolError
from livefeed.discovery import fetch_instruments
from livefeed.errors import ConfigError, LivefeedError
from livefeed.runtime import LoopThread
from livefeed.sim import SIMULATORS, DeribitSim
from livefeed.sim.deribit import quarterly_expiries

from ..conftest import FAST, assert_books_exact, stat, synced, until

EXPIRY = quarterly_expiries(dt.date.today())[0].strftime("%Y%m%d")
OPTIONS = [f"BTC-USD-{EXPIRY}-{strike}-{right}" for strike in (55000, 60000, 65000) for right in ("C", "P")]
SYMBOLS = ["BTC-USD-PERP", f"BTC-USD-{EXPIRY}", *OPTIONS[:3]]
CHANNELS = ["trades", "book", "ticker"]
QUICK_HEARTBEAT = {"deribit": {"heartbeat_interval": 0.3}}


async def books_exact(sim: DeribitSim, feed: Feed, symbols: list[str] = SYMBOLS) -> None:
    await assert_books_exact(feed, sim, "deribit", symbols, last_sequence=sim.last_change_id)


@pytest.fixture
async def sim_feed() -> AsyncIterator[tuple[DeribitSim, Feed]]:
    async with (
        DeribitSim(SYMBOLS, seed=5, interval=0.01, send_queue=256) as sim,
        Feed([f"deribit:{s}" for s in SYMBOLS], channels=CHANNELS, endpoints={"deribit": sim}, connection=FAST) as feed,
    ):
        await until(feed, lambda: synced(feed), what="deribit books synced")
        yield sim, feed


def test_the_simulator_is_registered_under_its_source() -> None:
    assert SIMULATORS["deribit"] is DeribitSim


async def test_every_channel_arrives_and_books_equal_the_truth(sim_feed: tuple[DeribitSim, Feed]) -> None:
    sim, feed = sim_feed

    def arrived() -> bool:
        return (set(feed.trades.to_pandas()["symbol"]) >= set(SYMBOLS)
                and set(feed.tickers.to_pandas()["symbol"]) >= set(SYMBOLS)
                and set(feed.options.to_pandas()["symbol"]) == set(OPTIONS[:3])
                and set(feed.open_interest.to_pandas()["symbol"]) == set(SYMBOLS[:2])
                and set(feed.funding.to_pandas()["symbol"]) == {"BTC-USD-PERP"})

    await until(feed, arrived, what="trades, tickers, options, open interest and funding of every instrument")
    await books_exact(sim, feed)
    options = feed.options.to_pandas()
    assert options["mark_iv"].between(0.2, 3).all()  # fractions: the simulator sends percents, as Deribit does
    calls, puts = options[options["symbol"].str.endswith("-C")], options[options["symbol"].str.endswith("-P")]
    assert calls["delta"].between(0, 1).all() and puts["delta"].between(-1, 0).all()
    smile = sim.smile("BTC")
    last = options.groupby("symbol", observed=True).last()
    for symbol, row in last.iterrows():
        strike = float(str(symbol).split("-")[3])
        assert row["mark_iv"] == pytest.approx(smile.iv(strike, row["underlying_price"]), abs=1e-3)
    funding = feed.funding.to_pandas()
    assert funding["funding_rate"].notna().all() and funding["next_funding"].isna().all()
    assert stat(feed, "malformed") == 0


async def test_a_prev_change_id_break_resubscribes_the_books(sim_feed: tuple[DeribitSim, Feed]) -> None:
    sim, feed = sim_feed
    sim.skip_updates(2)
    await until(feed, lambda: bool((feed.book_stats()["gaps"] >= 1).all()), what="a gap in every book")
    await books_exact(sim, feed)
    stats = feed.book_stats()
    assert (stats["snapshots"] >= 2).all() and (stats["resyncs"] >= 1).all()
    assert stat(feed, "reconnects") == 0  # the books resubscribed, the connection kept
    assert sim.fault_counts["skip_updates"] == 2 * len(SYMBOLS)
    # the books that broke together were resubscribed together (Deribit limits the request rate)
    assert 1 <= sim.sessions[0].methods["public/unsubscribe"] < len(SYMBOLS)


async def test_heartbeats_are_answered_and_keep_the_connection() -> None:
    async with (
        DeribitSim(SYMBOLS[:1], seed=2, interval=0.02, min_heartbeat=0.2) as sim,
        Feed(["deribit:BTC-USD-PERP"], channels=["book"], endpoints={"deribit": sim}, venue_options=QUICK_HEARTBEAT,
             connection=FAST) as feed,
    ):
        session = sim.sessions[0]
        await until(feed, lambda: session.tests_received >= 3, what="three test_requests answered")
        assert session.heartbeat_interval == 0.3 and session.test_requests_sent >= 3
        assert sim.fault_counts["heartbeat_close"] == 0 and stat(feed, "connects") == 1


async def test_the_simulator_closes_a_client_that_does_not_answer() -> None:
    async with DeribitSim(SYMBOLS[:1], seed=2, interval=0.05, min_heartbeat=0.2) as sim:
        async with connect(sim.ws_url) as ws:
            await ws.send(orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "public/set_heartbeat",
                                        "params": {"interval": 0.1}}).decode())
            assert orjson.loads(await ws.recv())["error"]["message"] == "Invalid params"  # below the least
            await ws.send(orjson.dumps({"jsonrpc": "2.0", "id": 2, "method": "public/set_heartbeat",
                                        "params": {"interval": 0.2}}).decode())
            assert orjson.loads(await ws.recv())["result"] == "ok"
            asked = orjson.loads(await ws.recv())
            assert asked == {"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}}
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(10):
                    while True:
                        await ws.recv()
        assert sim.fault_counts["heartbeat_close"] == 1


async def test_subscriptions_are_batched() -> None:
    strikes = range(40_000, 80_000, 1_000)
    symbols = [f"BTC-USD-{EXPIRY}-{k}-C" for k in strikes]  # 40 instruments x 3 channels: two requests
    async with (
        DeribitSim(symbols, seed=3, interval=0.05, levels=12) as sim,
        Feed([f"deribit:{s}" for s in symbols], channels=CHANNELS, endpoints={"deribit": sim}, connection=FAST) as feed,
    ):
        await until(feed, lambda: synced(feed), what="40 option books synced")
        assert sim.sessions[0].methods["public/subscribe"] == 2
        assert len(sim.sessions[0].channels) == 120


async def test_an_unlisted_instrument_is_refused_with_close_matches() -> None:
    async with DeribitSim(SYMBOLS, seed=1, autostep=False) as sim:
        with pytest.raises(UnknownSymbolError, match=f"did you mean BTC-USD-{EXPIRY}-55000-C"):
            async with Feed([f"deribit:BTC-USD-{EXPIRY}-55001-C"], endpoints={"deribit": sim}):
                pass


async def test_instruments_lists_the_chain_of_one_expiry() -> None:
    async with DeribitSim(["BTC-USD-PERP", "ETH-USD-PERP", f"BTC-USD-{EXPIRY}", *OPTIONS], seed=1,
                          autostep=False) as sim:
        chain = await fetch_instruments("deribit", kind="option", underlying="btc", expiry=EXPIRY,
                                        endpoints={"deribit": sim})
        assert list(chain["symbol"]) == sorted(OPTIONS, key=lambda s: (int(s.split("-")[3]), s[-1]))
        assert list(chain.columns) == list(livefeed.discovery.COLUMNS)
        assert (chain["kind"] == "option").all() and set(chain["right"]) == {"C", "P"}
        assert (chain["expiry"].dt.strftime("%Y%m%d") == EXPIRY).all() and str(chain["expiry"].dt.tz) == "UTC"
        assert list(chain["subscription"]) == [f"deribit:{s}" for s in chain["symbol"]]
        everything = await fetch_instruments("deribit", endpoints=sim)
        assert list(everything["kind"]) == ["perp", "future", *["option"] * 6, "perp"]
        perps = await fetch_instruments("deribit", kind="perp", endpoints=sim)
        assert list(perps["symbol"]) == ["BTC-USD-PERP", "ETH-USD-PERP"] and perps["expiry"].isna().all()


async def test_instruments_refuses_bad_arguments_and_venues_without_a_listing() -> None:
    with pytest.raises(LivefeedError, match="cannot list instruments of 'kraken'"):
        await fetch_instruments("kraken")
    with pytest.raises(ConfigError, match="kind must be one of perp, future, option"):
        await fetch_instruments("deribit", kind="swap")
    with pytest.raises(ConfigError, match="expiry must be a date"):
        await fetch_instruments("deribit", expiry="next friday")


@pytest.fixture
def sim_thread() -> Iterator[DeribitSim]:
    """A simulator on a loop of its own, standing in for the exchange while a notebook cell calls the sync API."""
    runner = LoopThread(name="deribit-sim-loop")
    sim = DeribitSim(SYMBOLS, seed=4, autostep=False)
    runner.run(sim.start(), timeout=10)
    try:
        yield sim
    finally:
        runner.run(sim.stop(), timeout=10)
        runner.stop()


def test_instruments_is_a_plain_call_without_a_loop(sim_thread: DeribitSim) -> None:
    chain = livefeed.instruments("deribit", kind="option", endpoints={"deribit": sim_thread})
    assert list(chain["symbol"]) == OPTIONS[:3]


async def test_instruments_from_a_thread_whose_loop_runs(sim_thread: DeribitSim) -> None:
    """As in a Jupyter cell: the kernel's loop is running, so the call goes to livefeed's loop thread."""
    futures = livefeed.instruments("deribit", kind="future", endpoints=sim_thread)
    assert list(futures["symbol"]) == [f"BTC-USD-{EXPIRY}"]


def test_a_spot_pair_stands_for_its_perpetual_in_the_simulator() -> None:
    """``livefeed sim BTC-USDT`` starts every simulator with spot pairs; Deribit's serves the base's perpetual."""
    sim = DeribitSim(["BTC-USDT", "ETH-USD-PERP", "ETH-USDC"], seed=1, autostep=False)
    assert sim.names == {"BTC-USD-PERP": "BTC-PERPETUAL", "ETH-USD-PERP": "ETH-PERPETUAL"}
