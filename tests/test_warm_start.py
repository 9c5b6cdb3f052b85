"""Warm start (``Feed(history=...)``): each venue's REST history before live rows, each trade once, flagged."""

from __future__ import annotations

import asyncio
from typing import Any

import pandas as pd
import pytest

from livefeed import Feed
from livefeed.backfill import BackfillTrade, TradeGate, parse_history
from livefeed.errors import ConfigError
from livefeed.model import Event, Side, Trade
from livefeed.sim import SIMULATORS

from .conftest import FAST, until

MARKETS = {"binance": "BTC-USDT", "coinbase": "BTC-USD", "kraken": "BTC-USD", "bybit": "BTC-USDT", "okx": "BTC-USDT"}


def trade(trade_id: int, ts: int = 0) -> Trade:
    return Trade("binance", "BTC-USDT", 100.0, 1.0, Side.BUY, str(trade_id), ts or trade_id, 0, trade_id)


def sim_key(sim: Any) -> str:
    return next(iter(sim.trade_history._trades))


async def history_done(feed: Feed) -> None:
    assert await asyncio.to_thread(feed.wait_history, 30.0), "the warm start did not finish within 30 s"


# -- the gate, pure --------------------------------------------------------------------------------------------
def test_the_gate_holds_live_trades_and_lets_only_older_history_through_first() -> None:
    out: list[Event] = []
    gate = TradeGate(out.append, ["BTC-USDT"])
    gate(trade(12))
    gate(trade(13))
    assert out == []  # held until the history is in
    assert gate.release("BTC-USDT", [trade(i) for i in range(8, 14)]) == 4  # 8..11: 12 and 13 are live
    assert [(t.trade_id, type(t)) for t in out] == [
        *((str(i), BackfillTrade) for i in range(8, 12)), ("12", Trade), ("13", Trade)]
    assert gate.open


def test_history_before_any_live_trade_drops_live_duplicates_until_a_newer_trade_passes() -> None:
    out: list[Event] = []
    gate = TradeGate(out.append, ["BTC-USDT"])
    gate.release("BTC-USDT", [trade(i) for i in (5, 6, 7)])
    assert not gate.open
    for i in (6, 7, 8, 7):
        gate(trade(i))
    assert [t.trade_id for t in out] == ["5", "6", "7", "8", "7"]  # the last 7 is past the seam: not ours to judge
    assert gate.duplicates == 2 and gate.open


@pytest.mark.parametrize(("value", "ns"), [(None, None), (0, None), ("15min", 900 * 10**9), (90, 90 * 10**9)])
def test_history_takes_a_duration(value: object, ns: int | None) -> None:
    assert parse_history(value) == ns


@pytest.mark.parametrize("bad", ["25h", "soon", -5, True])
def test_history_outside_a_day_is_refused(bad: object) -> None:
    with pytest.raises(ConfigError, match="history must be a duration"):
        Feed(["binance:BTC-USDT"], history=bad)  # type: ignore[arg-type]


# -- against every venue's simulator -----------------------------------------------------------------------------
@pytest.mark.parametrize("venue", list(MARKETS))
async def test_history_comes_before_live_rows_once_each_and_flagged(venue: str) -> None:
    """Rule: the frame holds the venue's history (as its REST endpoint serves it) flagged ``backfill``, then the
    live trades; no trade id twice, none missing between the oldest history row and the newest live one."""
    symbol = MARKETS[venue]
    async with SIMULATORS[venue]([symbol], seed=11, interval=0.02) as sim:
        key = sim_key(sim)
        await sim_history(sim, key, 120)  # more than a venue re-sends on subscribing (Coinbase: 50)
        feed = Feed([f"{venue}:{symbol}"], channels=["trades"], endpoints={venue: sim}, connection=FAST,
                    history="10min")
        async with feed:
            await history_done(feed)
            await until(feed, lambda: (feed.trades.to_pandas()["origin"] == "live").sum() >= 10, what="live trades")
            sim.pause()
            trades = feed.trades.to_pandas()
            report = feed.history_report()
        printed = {s.trade_id: s.trade for s in sim.trade_history.all(key)}
    assert trades["origin"].dtype == "category" and set(trades["origin"]) == {"backfill", "live"}
    origin = trades["origin"].astype(str).tolist()
    assert origin.index("live") > max(i for i, o in enumerate(origin) if o == "backfill")
    ids = [int(i) for i in trades["trade_id"]]
    assert len(ids) == len(set(ids)), "a trade id twice at the seam"
    assert sorted(ids) == list(range(min(ids), max(ids) + 1)), "a trade missing between history and live"
    backfill = trades[trades["origin"] == "backfill"]
    first_live = min(int(i) for i in trades.loc[trades["origin"] == "live", "trade_id"])
    if venue == "bybit":  # recent-trade serves the newest 60 only: a run of them, up to the first live trade
        expected = list(range(first_live - len(backfill), first_live))
        assert 0 < len(backfill) <= 60
    else:  # everything the venue printed before the first live trade
        expected = [i for i in printed if i < first_live]
    assert [int(i) for i in backfill["trade_id"]] == expected
    for row in backfill.itertuples():
        t = printed[int(row.trade_id)]
        assert (row.price, row.size, row.side) == (float(t.price), float(t.qty), "sell" if t.buyer_is_maker else "buy")
    assert report.set_index("symbol").loc[symbol, "rows"] == len(backfill)


async def sim_history(sim: Any, key: str, trades: int) -> None:
    """Let the simulator print ``trades`` trades before any client connects."""
    async with asyncio.timeout(20):
        while len(sim.trade_history.all(key)) < trades:
            await asyncio.sleep(0.05)


async def test_bars_include_the_history_whether_asked_before_or_after_the_start() -> None:
    """Rule: backfill reaches bars like live trades: bars asked before the start (fed as trades arrive) and after
    the history is in (built from the frame) both equal pandas' OHLCV of the whole trades frame."""
    async with SIMULATORS["binance"](["BTC-USDT"], seed=12, interval=0.02) as sim:
        await sim_history(sim, sim_key(sim), 150)
        feed = Feed(["binance:BTC-USDT"], channels=["trades"], endpoints={"binance": sim}, connection=FAST,
                    history="10min")
        early = feed.bars("250ms")
        async with feed:
            await history_done(feed)
            late = feed.bars("500ms")
            await until(feed, lambda: len(late.frame) >= 6 and len(early.frame) >= 12, what="closed bars")
            sim.pause()
            trades = feed.trades.to_pandas()
            frames = {"250ms": early.to_pandas(closed_only=True), "500ms": late.to_pandas(closed_only=True)}
    assert (trades["origin"] == "backfill").sum() >= 150
    for interval, ours in frames.items():
        grouped = trades.set_index("ts").groupby(pd.Grouper(freq=interval))
        expected = pd.DataFrame({"open": grouped["price"].first(), "high": grouped["price"].max(),
                                 "low": grouped["price"].min(), "close": grouped["price"].last(),
                                 "volume": grouped["size"].sum(), "trades": grouped["price"].count()})
        ours = ours.set_index("ts")[["open", "high", "low", "close", "volume", "trades"]]
        assert ours.index.min() < trades.loc[trades["origin"] == "live", "ts"].min()  # bars from the history
        pd.testing.assert_frame_equal(ours, expected.loc[ours.index], check_freq=False, check_dtype=False,
                                      check_names=False)
    assert early.late_trades == 0 and late.late_trades == 0


async def test_a_venue_that_refuses_history_still_streams_live_trades() -> None:
    async with SIMULATORS["binance"](["BTC-USDT"], seed=13, interval=0.02) as sim:
        sim.handle_rest = _refusing(sim.handle_rest)  # type: ignore[method-assign]
        feed = Feed(["binance:BTC-USDT"], channels=["trades"], endpoints={"binance": sim}, connection=FAST,
                    history="5min", validate=False)
        async with feed:
            await history_done(feed)
            await until(feed, lambda: len(feed.trades) >= 5, what="live trades")
            report = feed.history_report()
            assert set(feed.trades.to_pandas()["origin"]) == {"live"}
    assert report.loc[0, "rows"] == 0 and "HTTP 500" in report.loc[0, "error"]


def _refusing(handle: Any) -> Any:
    from livefeed.sim.base import json_response

    def refuse(path: str, params: dict[str, str]) -> Any:
        if "Trades" in path:
            return json_response(500, {"code": -1000, "msg": "An unknown error occurred."})
        return handle(path, params)

    return refuse


# -- trade-id holes after a reconnect, filled from REST ------------------------------------------------------------
@pytest.mark.parametrize("venue", ["binance", "kraken", "okx"])
async def test_trades_lost_in_an_outage_are_filled_from_rest_and_flagged(venue: str) -> None:
    """Rule: trades the venue printed while the stream was down come back from its REST endpoint after the
    reconnect, flagged ``gapfill``: afterwards every id from the first to the last is in the frame exactly once."""
    symbol = MARKETS[venue]
    async with SIMULATORS[venue]([symbol], seed=21, interval=0.02) as sim:
        feed = Feed([f"{venue}:{symbol}"], channels=["trades"], endpoints={venue: sim}, connection=FAST)
        async with feed:
            await until(feed, lambda: len(feed.trades) >= 10, what="live trades")
            reconnects = sum(c.stats.reconnects for c in feed.connections)
            sim.stall(True)  # trades go on being printed, none is sent: the socket looks dead after 1 s
            await until_true(lambda: sum(c.stats.reconnects for c in feed.connections) > reconnects, "a reconnect")
            sim.stall(False)
            await until(feed, lambda: (feed.trades.to_pandas()["origin"] == "gapfill").any(), what="filled trades")
            await until(feed, lambda: feed.book_stats()["trade_gaps"].sum() >= 1, what="the hole counted")
            stats = feed.book_stats().iloc[0]
            filler = feed.sources[0].hole_filler  # type: ignore[attr-defined]
            await until_true(lambda: filler.filled >= stats["missing_trades"] or filler.failed, "the fill to finish")
            sim.pause()
            trades = feed.trades.to_pandas()
        printed = {s.trade_id: s.trade for s in sim.trade_history.all(sim_key(sim))}
    ids = [int(i) for i in trades["trade_id"]]
    assert len(ids) == len(set(ids)) and sorted(ids) == list(range(min(ids), max(ids) + 1))
    filled = trades[trades["origin"] == "gapfill"]
    assert len(filled) == stats["missing_trades"] == filler.filled and filler.failed == 0
    for row in filled.itertuples():
        t = printed[int(row.trade_id)]
        assert (row.price, row.size) == (float(t.price), float(t.qty))


async def until_true(predicate: Any, what: str, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)
