"""Live OHLCV bars from the trade stream: exact against the trades they came from, closed bars final."""

from __future__ import annotations

import pandas as pd
import pytest

from livefeed import Feed
from livefeed.bars import Bars, interval_label, parse_interval
from livefeed.errors import ConfigError
from livefeed.model import Side, Trade
from livefeed.sim import BinanceSim

from .conftest import FAST, until

S = 1_000_000_000


def trade(price: float, size: float, side: Side, ts: int, symbol: str = "BTC-USDT") -> Trade:
    return Trade("binance", symbol, price, size, side, str(ts), ts, ts + 1)


def test_a_bar_closes_when_a_trade_reaches_the_next_interval_and_is_final() -> None:
    bars = Bars("1s", capacity=100)
    for t in (trade(100, 1, Side.BUY, 10 * S), trade(103, 2, Side.SELL, 10 * S + 5),
              trade(99, 1, Side.BUY, 10 * S + 9), trade(101, 4, Side.SELL, 11 * S + 1)):
        bars.add(t)
    closed = bars.to_pandas(closed_only=True)
    assert len(closed) == 1
    row = closed.iloc[0]
    assert row.ts == pd.Timestamp(10 * S, unit="ns", tz="UTC")
    assert (row.open, row.high, row.low, row.close, row.volume, row.trades) == (100, 103, 99, 99, 4, 3)
    assert row.vwap == pytest.approx((100 + 206 + 99) / 4) and (row.buy_volume, row.sell_volume) == (2, 2)
    everything = bars.to_pandas()
    assert list(everything["closed"]) == [True, False]
    assert (everything.iloc[1].open, everything.iloc[1].volume) == (101, 4)  # the open bar, still updating


def test_markets_have_their_own_bars_and_empty_intervals_make_none() -> None:
    bars = Bars("1s", capacity=100)
    bars.add(trade(100, 1, Side.BUY, 1 * S))
    bars.add(trade(10, 1, Side.BUY, 1 * S, symbol="ETH-USDT"))
    bars.add(trade(101, 1, Side.BUY, 5 * S))  # 2 s, 3 s and 4 s had no trade
    frame = bars.to_pandas()
    assert [(r.symbol, r.ts.value // S, r.closed) for r in frame.itertuples()] == [
        ("BTC-USDT", 1, True), ("ETH-USDT", 1, False), ("BTC-USDT", 5, False)]


def test_a_late_trade_joins_the_open_bar_and_is_counted() -> None:
    bars = Bars("1s", capacity=100)
    bars.add(trade(100, 1, Side.BUY, 2 * S))
    bars.add(trade(90, 3, Side.SELL, 1 * S))  # older than the open bar: the venue interleaved
    row = bars.to_pandas().iloc[0]
    assert (bars.late_trades, row.volume, row.low, len(bars.frame)) == (1, 4, 90, 0)


@pytest.mark.parametrize(("text", "ns", "label"), [("250ms", 250_000_000, "250ms"), ("1s", S, "1s"),
                                                   ("5min", 300 * S, "5min"), ("1h", 3600 * S, "1h")])
def test_intervals_parse_and_name_their_frames(text: str, ns: int, label: str) -> None:
    assert (parse_interval(text), interval_label(ns)) == (ns, label)


@pytest.mark.parametrize("bad", ["0s", "25h", "soon", "-1s", "500us"])
def test_an_interval_outside_1ms_to_1day_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="must be a duration from 1 ms to 1 day"):
        parse_interval(bad)


async def test_feed_bars_equal_bars_computed_from_the_trades_frame() -> None:
    """Rule: the bars (the history the frame held when asked, then every live trade) are exactly the trades
    resampled: pandas' own OHLCV of ``feed.trades`` gives the same numbers."""
    async with BinanceSim(["BTC-USDT"], seed=5, interval=0.01) as sim:
        feed = Feed(["binance:BTC-USDT"], channels=["trades"], endpoints={"binance": sim}, connection=FAST)
        async with feed:
            await until(feed, lambda: len(feed.trades) >= 50, what="some trades")
            bars = feed.bars("250ms")  # built from the history, then live
            assert feed.bars("250ms") is bars and "bars_250ms" in feed.frames
            await until(feed, lambda: len(bars.frame) >= 8, what="eight closed bars")
            sim.pause()
            trades = feed.trades.to_pandas()
            ours = bars.to_pandas()
    grouped = trades.set_index("ts").groupby(pd.Grouper(freq="250ms"))
    expected = pd.DataFrame({"open": grouped["price"].first(), "high": grouped["price"].max(),
                             "low": grouped["price"].min(), "close": grouped["price"].last(),
                             "volume": grouped["size"].sum(), "trades": grouped["price"].count()}).query("trades > 0")
    ours = ours.set_index("ts")[["open", "high", "low", "close", "volume", "trades"]]
    pd.testing.assert_frame_equal(ours, expected.loc[ours.index], check_freq=False, check_dtype=False,
                                  check_names=False)
    assert bars.late_trades == 0
