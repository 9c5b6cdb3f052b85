"""Bybit linear perpetuals: the adapter's pure pieces (names, topics, listing pages, the merged ticker, liquidation
sides), then a real ``Feed`` against ``BybitLinearSim``: every channel arrives and equals the simulator's truth,
the book equals its ``orderbook.N`` view after a gap, a service restart and a funding roll."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pandas as pd
import pytest

from livefeed import Feed
from livefeed.connection import ConnectionStats
from livefeed.derivatives import Funding, Liquidation, OpenInterest
from livefeed.errors import UnknownSymbolError
from livefeed.model import Side, Ticker
from livefeed.registry import parse_subscription
from livefeed.sim.bybit_linear import BybitLinearSim
from livefeed.venues.bybit_linear import BybitLinearAdapter, linear_name, listed_perpetuals

from ..conftest import FAST, assert_books_exact, stat, synced, until

SYMBOLS = ("BTC-USDT-PERP", "ETH-USDT-PERP")
CONN = type("Conn", (), {"stats": ConnectionStats("test", "ws://test")})()


# -- pure pieces ------------------------------------------------------------------------------------------------
def test_perpetuals_route_to_the_linear_source() -> None:
    sub = parse_subscription("bybit:btc-usdt-perp")
    assert (sub.venue, sub.symbol, sub.source) == ("bybit", "BTC-USDT-PERP", "bybit-linear")
    assert parse_subscription("bybit:BTC-USDT").source == "bybit"
    with pytest.raises(UnknownSymbolError, match="perpetuals"):
        BybitLinearAdapter.normalize_target("BTC-USDT")
    assert linear_name("ETH-USDT-PERP") == "ETHUSDT"


def test_topics_follow_the_channels_and_depth() -> None:
    adapter = BybitLinearAdapter(["BTC-USDT-PERP"], ["book"], lambda e: None, depth=200)
    assert adapter.topics("BTCUSDT") == ["orderbook.200.BTCUSDT", "tickers.BTCUSDT", "allLiquidation.BTCUSDT"]
    trades_only = BybitLinearAdapter(["BTC-USDT-PERP"], ["trades", "liquidations"], lambda e: None)
    assert trades_only.topics("BTCUSDT") == ["publicTrade.BTCUSDT", "allLiquidation.BTCUSDT"]
    with pytest.raises(ValueError, match="linear book depths"):
        BybitLinearAdapter(["BTC-USDT-PERP"], ["book"], lambda e: None, depth=25)


def test_listing_keeps_trading_perpetuals_and_the_next_cursor() -> None:
    body = {"retCode": 0, "result": {"nextPageCursor": "abc", "list": [
        {"symbol": "BTCUSDT", "baseCoin": "BTC", "quoteCoin": "USDT", "contractType": "LinearPerpetual",
         "status": "Trading"},
        {"symbol": "BTC-26DEC26", "baseCoin": "BTC", "quoteCoin": "USDT", "contractType": "LinearFutures",
         "status": "Trading"},
        {"symbol": "OLDUSDT", "baseCoin": "OLD", "quoteCoin": "USDT", "contractType": "LinearPerpetual",
         "status": "Closed"},
    ]}}
    assert listed_perpetuals(body) == ({"BTC-USDT-PERP": "BTCUSDT"}, "abc")


def _push(adapter: BybitLinearAdapter, kind: str, data: dict[str, str], cs: int, ts: int = 1_000) -> None:
    frame = orjson.dumps({"topic": "tickers.BTCUSDT", "type": kind, "data": data, "cs": cs, "ts": ts})
    adapter.on_frame(frame, 5, CONN)  # type: ignore[arg-type]


def test_ticker_deltas_merge_into_ticker_funding_and_open_interest() -> None:
    events: list[Any] = []
    adapter = BybitLinearAdapter(["BTC-USDT-PERP"], ["ticker"], events.append)
    _push(adapter, "snapshot", {"symbol": "BTCUSDT", "markPrice": "100.5", "indexPrice": "100.4",
                                "fundingRate": "0.0001", "nextFundingTime": "1786320000000", "openInterest": "5.5",
                                "openInterestValue": "552.75", "bid1Price": "100.4", "bid1Size": "2",
                                "ask1Price": "100.6", "ask1Size": "3"}, cs=7)
    assert [type(e) for e in events] == [Ticker, Funding, OpenInterest]
    assert events[0].bid_price == 100.4 and events[0].ask_size == 3.0 and events[0].sequence == 7
    assert events[1] == Funding("bybit", "BTC-USDT-PERP", 100.5, 100.4, 0.0001, 1786320000000 * 10**6,
                                10**9, 5)
    events.clear()
    _push(adapter, "delta", {"symbol": "BTCUSDT", "bid1Size": "4"}, cs=8)  # only the top moved
    assert [type(e) for e in events] == [Ticker]
    assert (events[0].bid_price, events[0].bid_size, events[0].ask_price) == (100.4, 4.0, 100.6)
    events.clear()
    _push(adapter, "delta", {"symbol": "BTCUSDT", "markPrice": "101"}, cs=9)  # the rest is kept from before
    assert events == [Funding("bybit", "BTC-USDT-PERP", 101.0, 100.4, 0.0001, 1786320000000 * 10**6, 10**9, 5)]


def test_all_liquidation_side_is_the_closing_order() -> None:
    events: list[Any] = []
    adapter = BybitLinearAdapter(["BTC-USDT-PERP"], ["trades"], events.append)
    frame = ('{"topic":"allLiquidation.BTCUSDT","type":"snapshot","ts":1739502303204,"data":['
             '{"T":1739502302929,"s":"BTCUSDT","S":"Buy","v":"0.5","p":"65000.10"},'
             '{"T":1739502302930,"s":"BTCUSDT","S":"Sell","v":"2","p":"65100"}]}')
    adapter.on_frame(frame, 9, CONN)  # type: ignore[arg-type]
    assert events == [Liquidation("bybit", "BTC-USDT-PERP", Side.SELL, 65000.10, 0.5, 1739502302929 * 10**6, 9),
                      Liquidation("bybit", "BTC-USDT-PERP", Side.BUY, 65100.0, 2.0, 1739502302930 * 10**6, 9)]


# -- against the simulator ----------------------------------------------------------------------------------------
@pytest.fixture
async def sim() -> AsyncIterator[BybitLinearSim]:
    async with BybitLinearSim(symbols=SYMBOLS, seed=21, interval=0.01, send_queue=256) as server:
        yield server


@pytest.fixture
async def feed(sim: BybitLinearSim) -> AsyncIterator[Feed]:
    subs = [f"bybit:{s}" for s in SYMBOLS]
    async with Feed(subs, channels=["trades", "book", "ticker"], endpoints={"bybit-linear": sim},
                    connection=FAST) as f:
        yield f


def _last(frame: Any, symbol: str) -> pd.Series | None:
    rows = frame.to_pandas()
    rows = rows[rows["symbol"].astype(str) == symbol]
    return rows.iloc[-1] if len(rows) else None


def _agrees(feed: Feed, sim: BybitLinearSim, symbol: str) -> bool:
    """The feed's latest ticker, funding and open interest equal the simulator's merged ticker now."""
    truth = sim.ticker(symbol)
    ticker, funding, oi = (_last(f, symbol) for f in (feed.tickers, feed.funding, feed.open_interest))
    if ticker is None or funding is None or oi is None:
        return False
    return (
        (ticker["bid_price"], ticker["bid_size"], ticker["ask_price"], ticker["ask_size"])
        == tuple(float(truth[k]) for k in ("bid1Price", "bid1Size", "ask1Price", "ask1Size"))
        and (funding["mark_price"], funding["index_price"], funding["funding_rate"])
        == tuple(float(truth[k]) for k in ("markPrice", "indexPrice", "fundingRate"))
        and funding["next_funding"] == pd.Timestamp(int(truth["nextFundingTime"]), unit="ms", tz="UTC")
        and (oi["open_interest"], oi["value"]) == (float(truth["openInterest"]), float(truth["openInterestValue"]))
    )


async def test_every_channel_arrives_and_equals_the_simulator(feed: Feed, sim: BybitLinearSim) -> None:
    await assert_books_exact(feed, sim, "bybit", SYMBOLS, depth=50, last_sequence=sim.last_update_id)
    sim.liquidate("BTC-USDT-PERP", "sell")
    frames = (feed.trades, feed.tickers, feed.funding, feed.open_interest, feed.liquidations)
    await until(feed, lambda: all(len(f) for f in frames), what="every channel")
    liquidations = feed.liquidations.to_pandas()
    assert set(liquidations["side"].astype(str)) <= {"buy", "sell"} and (liquidations["price"] > 0).all()
    sim.pause()
    try:
        for symbol in SYMBOLS:
            await until(feed, lambda s=symbol: _agrees(feed, sim, s), what=f"{symbol} ticker state")
    finally:
        sim.resume()
    assert stat(feed, "reconnects") == 0 and stat(feed, "gaps") == 0 and stat(feed, "malformed") == 0


async def test_a_funding_roll_reaches_the_funding_frame(feed: Feed, sim: BybitLinearSim) -> None:
    await until(feed, lambda: _last(feed.funding, "BTC-USDT-PERP") is not None, what="funding")
    before = sim.perp("BTC-USDT-PERP").next_funding_ms
    assert before is not None
    sim.roll_funding()
    after = pd.Timestamp(before + sim.perp("BTC-USDT-PERP").funding_interval_ms, unit="ms", tz="UTC")
    await until(feed, lambda: _last(feed.funding, "BTC-USDT-PERP")["next_funding"] == after,  # type: ignore[index]
                what="the rolled funding time")
    assert sim.fault_counts["funding_roll"] >= 2


async def test_a_sequence_gap_resubscribes_and_the_book_is_exact_again(feed: Feed, sim: BybitLinearSim) -> None:
    await until(feed, lambda: synced(feed), what="synced")
    sim.skip_updates(1)
    await until(feed, lambda: stat(feed, "gaps") >= len(SYMBOLS), what="gaps seen")
    await assert_books_exact(feed, sim, "bybit", SYMBOLS, depth=50, last_sequence=sim.last_update_id)
    assert stat(feed, "reconnects") == 0


async def test_a_service_restart_snapshot_replaces_the_book(feed: Feed, sim: BybitLinearSim) -> None:
    await until(feed, lambda: synced(feed), what="synced")
    sim.restart_books()
    await until(feed, lambda: bool((feed.book_stats()["snapshots"] >= 2).all()), what="u=1 snapshots")
    await assert_books_exact(feed, sim, "bybit", SYMBOLS, depth=50, last_sequence=sim.last_update_id)
    assert (feed.book_stats()["snapshots"] >= 2).all() and stat(feed, "gaps") == 0


async def test_a_deeper_book_by_venue_options(sim: BybitLinearSim) -> None:
    async with Feed([f"bybit:{s}" for s in SYMBOLS], channels=["book"], endpoints={"bybit-linear": sim},
                    venue_options={"bybit-linear": {"depth": 200}}, connection=FAST) as feed:
        await until(feed, lambda: synced(feed), what="books synced")
        sim.pause()
        try:
            for symbol in SYMBOLS:
                book = feed.books[("bybit", symbol)]
                await until(feed, lambda b=book, s=symbol: b.to_dict() == sim.true_book(s, 200),
                            what=f"{symbol} orderbook.200")
                assert book.bid_count > 50 and book.ask_count > 50  # deeper than the default view
        finally:
            sim.resume()


async def test_validation_names_unlisted_perpetuals(sim: BybitLinearSim) -> None:
    feed = Feed(["bybit:BTC-USDT-PERP", "bybit:BTC-USDC-PERP"], endpoints={"bybit-linear": sim}, connection=FAST)
    with pytest.raises(UnknownSymbolError, match="BTC-USDC-PERP"):
        async with feed:
            pass
