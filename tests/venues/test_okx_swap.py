"""OKX perpetual swaps: the adapter's pure pieces (instIds, subscription args, the SWAP listing with ``ctVal``,
mark + funding combined, liquidation-orders for the whole market), then a real ``Feed`` against ``OkxSwapSim``:
every channel arrives and equals the simulator's truth; the book (in contracts) stays exact through a ``prevSeqId``
gap, bad checksums and a funding roll."""

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
from livefeed.model import Side
from livefeed.registry import parse_subscription
from livefeed.sim.okx_swap import OkxSwapSim
from livefeed.venues.okx_swap import OkxSwapAdapter, listed_swaps, swap_inst_id

from ..conftest import FAST, assert_books_exact, stat, synced, until

SYMBOLS = ("BTC-USDT-PERP", "ETH-USDT-PERP")
CONN = type("Conn", (), {"stats": ConnectionStats("test", "ws://test")})()


# -- pure pieces ------------------------------------------------------------------------------------------------
def test_perpetuals_route_to_the_swap_source() -> None:
    sub = parse_subscription("okx:eth-usdt-perp")
    assert (sub.venue, sub.symbol, sub.source) == ("okx", "ETH-USDT-PERP", "okx-swap")
    assert swap_inst_id("ETH-USDT-PERP") == "ETH-USDT-SWAP"
    with pytest.raises(UnknownSymbolError, match="perpetual swaps"):
        OkxSwapAdapter.normalize_target("ETH-USDT")


def test_subscription_args_per_channel() -> None:
    adapter = OkxSwapAdapter(["BTC-USDT-PERP"], ["book"], lambda e: None)
    assert adapter.subscribe_args() == [
        {"channel": "books", "instId": "BTC-USDT-SWAP"}, {"channel": "mark-price", "instId": "BTC-USDT-SWAP"},
        {"channel": "funding-rate", "instId": "BTC-USDT-SWAP"}, {"channel": "open-interest", "instId": "BTC-USDT-SWAP"},
        {"channel": "liquidation-orders", "instType": "SWAP"},
    ]
    only = OkxSwapAdapter(["BTC-USDT-PERP"], ["trades", "open_interest"], lambda e: None)
    assert only.subscribe_args() == [{"channel": "trades", "instId": "BTC-USDT-SWAP"},
                                     {"channel": "open-interest", "instId": "BTC-USDT-SWAP"}]


def test_listing_keeps_live_swaps_with_their_contract_value() -> None:
    body = {"code": "0", "msg": "", "data": [
        {"instId": "BTC-USDT-SWAP", "ctVal": "0.01", "state": "live"},
        {"instId": "ETH-USDT-SWAP", "ctVal": "0.1", "state": "suspend"},
        {"instId": "BTC-USD-SWAP", "ctVal": "100", "state": "live"},
    ]}
    assert listed_swaps(body) == {"BTC-USDT-PERP": 0.01, "BTC-USD-PERP": 100.0}


def _frame(channel: str, item: dict[str, str]) -> bytes:
    return orjson.dumps({"arg": {"channel": channel, "instId": "BTC-USDT-SWAP"},
                         "data": [{"instId": "BTC-USDT-SWAP", "instType": "SWAP", **item}]})


def test_mark_and_funding_combine_and_open_interest_is_in_contracts() -> None:
    events: list[Any] = []
    adapter = OkxSwapAdapter(["BTC-USDT-PERP"], ["ticker"], events.append)
    rate = {"fundingRate": "0.0002", "fundingTime": "1744619149506", "nextFundingTime": "1744647949506",
            "ts": "1000"}
    adapter.on_frame(_frame("funding-rate", rate), 1, CONN)  # type: ignore[arg-type]
    assert events == []  # no mark yet: the first mark push emits both
    adapter.on_frame(_frame("mark-price", {"markPx": "65000.5", "ts": "1001"}), 2, CONN)  # type: ignore[arg-type]
    adapter.on_frame(_frame("funding-rate", {**rate, "fundingRate": "-0.0001", "ts": "1002"}), 3,
                     CONN)  # type: ignore[arg-type]
    adapter.on_frame(_frame("open-interest", {"oi": "2500", "oiCcy": "25", "oiUsd": "1625012.5", "ts": "1003"}), 4,
                     CONN)  # type: ignore[arg-type]
    ms = 1_000_000
    assert events == [
        Funding("okx", "BTC-USDT-PERP", 65000.5, None, 0.0002, 1744619149506 * ms, 1001 * ms, 2),
        Funding("okx", "BTC-USDT-PERP", 65000.5, None, -0.0001, 1744619149506 * ms, 1002 * ms, 3),
        OpenInterest("okx", "BTC-USDT-PERP", 2500.0, 1625012.5, 1003 * ms, 4),
    ]


def test_liquidation_orders_keep_subscribed_instruments_only() -> None:
    events: list[Any] = []
    adapter = OkxSwapAdapter(["BTC-USDT-PERP"], ["trades"], events.append)
    frame = orjson.dumps({"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": [
        {"details": [{"bkLoss": "0", "bkPx": "64000.1", "ccy": "", "posSide": "long", "side": "sell", "sz": "13",
                      "ts": "1692266434010"}], "instFamily": "BTC-USDT", "instId": "BTC-USDT-SWAP",
         "instType": "SWAP", "uly": "BTC-USDT"},
        {"details": [{"bkLoss": "0", "bkPx": "0.007831", "ccy": "", "posSide": "short", "side": "buy", "sz": "13",
                      "ts": "1692266434010"}], "instFamily": "IOST-USDT", "instId": "IOST-USDT-SWAP",
         "instType": "SWAP", "uly": "IOST-USDT"},
    ]})
    adapter.on_frame(frame, 7, CONN)  # type: ignore[arg-type]
    assert events == [Liquidation("okx", "BTC-USDT-PERP", Side.SELL, 64000.1, 13.0, 1692266434010 * 10**6, 7)]


# -- against the simulator ----------------------------------------------------------------------------------------
@pytest.fixture
async def sim() -> AsyncIterator[OkxSwapSim]:
    async with OkxSwapSim(symbols=SYMBOLS, seed=23, interval=0.01, send_queue=256, funding_every=20) as server:
        yield server


@pytest.fixture
async def feed(sim: OkxSwapSim) -> AsyncIterator[Feed]:
    subs = [f"okx:{s}" for s in SYMBOLS]
    async with Feed(subs, channels=["trades", "book", "ticker"], endpoints={"okx-swap": sim}, connection=FAST) as f:
        yield f


def _last(frame: Any, symbol: str) -> pd.Series | None:
    rows = frame.to_pandas()
    rows = rows[rows["symbol"].astype(str) == symbol]
    return rows.iloc[-1] if len(rows) else None


def _agrees(feed: Feed, sim: OkxSwapSim, symbol: str) -> bool:
    """The feed's latest funding and open interest equal the simulator's state now (OI in contracts)."""
    perp = sim.perp(symbol)
    funding, oi = _last(feed.funding, symbol), _last(feed.open_interest, symbol)
    if funding is None or oi is None or perp.next_funding_ms is None:
        return False
    return (
        (funding["mark_price"], funding["funding_rate"]) == (float(perp.mark), perp.funding_rate)
        and funding["next_funding"] == pd.Timestamp(perp.next_funding_ms, unit="ms", tz="UTC")
        and oi["open_interest"] == float(perp.open_interest)
    )


async def test_every_channel_arrives_and_equals_the_simulator(feed: Feed, sim: OkxSwapSim) -> None:
    await assert_books_exact(feed, sim, "okx", SYMBOLS, last_sequence=sim.last_seq_id)
    assert all(feed.sources[0].contract_values[s] == float(sim.contract_value(s)) for s in SYMBOLS)  # type: ignore
    sim.liquidate("ETH-USDT-PERP", "buy")
    frames = (feed.trades, feed.tickers, feed.funding, feed.open_interest, feed.liquidations)
    await until(feed, lambda: all(len(f) for f in frames), what="every channel")
    liquidations = feed.liquidations.to_pandas()
    assert set(liquidations["symbol"].astype(str)) <= set(SYMBOLS) and (liquidations["size"] > 0).all()
    sim.pause()
    try:
        await sim.step(1)
        for symbol in SYMBOLS:
            await until(feed, lambda s=symbol: _agrees(feed, sim, s), what=f"{symbol} funding and open interest")
    finally:
        sim.resume()
    assert stat(feed, "reconnects") == 0 and stat(feed, "gaps") == 0 and stat(feed, "malformed") == 0


async def test_a_funding_roll_reaches_the_funding_frame(feed: Feed, sim: OkxSwapSim) -> None:
    await until(feed, lambda: _last(feed.funding, "BTC-USDT-PERP") is not None, what="funding")
    before = sim.perp("BTC-USDT-PERP").next_funding_ms
    assert before is not None
    sim.roll_funding()
    after = pd.Timestamp(before + sim.perp("BTC-USDT-PERP").funding_interval_ms, unit="ms", tz="UTC")
    await until(feed, lambda: _last(feed.funding, "BTC-USDT-PERP")["next_funding"] == after,  # type: ignore[index]
                what="the rolled funding time")


async def test_a_seq_gap_and_bad_checksums_resync_to_an_exact_book(feed: Feed, sim: OkxSwapSim) -> None:
    await until(feed, lambda: synced(feed), what="synced")
    sim.skip_updates(1)
    await until(feed, lambda: stat(feed, "gaps") >= len(SYMBOLS), what="gaps seen")
    await assert_books_exact(feed, sim, "okx", SYMBOLS, last_sequence=sim.last_seq_id)
    sim.corrupt_checksum(2)
    await until(feed, lambda: int(feed.book_stats()["checksum_failures"].sum()) >= 2, what="checksum failures")
    await assert_books_exact(feed, sim, "okx", SYMBOLS, last_sequence=sim.last_seq_id)
    assert stat(feed, "reconnects") == 0


async def test_validation_names_unlisted_swaps(sim: OkxSwapSim) -> None:
    feed = Feed(["okx:BTC-USDT-PERP", "okx:SOL-USDT-PERP"], endpoints={"okx-swap": sim}, connection=FAST)
    with pytest.raises(UnknownSymbolError, match="SOL-USDT-PERP"):
        async with feed:
            pass
