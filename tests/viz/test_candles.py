"""The candlestick view against a real feed: its sources hold exactly the feed's bars, the open bar redrawn only
when it changed."""

from __future__ import annotations

import numpy as np
from bokeh.document import Document

from livefeed import Feed
from livefeed.sim import BinanceSim
from livefeed.viz.candles import CandlesView
from tests.conftest import STEADY, until


async def test_candles_show_the_bars_closed_then_open() -> None:
    async with BinanceSim(["BTC-USDT"], seed=8, interval=0.01) as sim:
        feed = Feed(["binance:BTC-USDT"], channels=["trades"], endpoints={"binance": sim}, connection=STEADY)
        async with feed:
            view = CandlesView(feed, "binance", "BTC-USDT", interval="250ms")
            doc = Document()
            doc.add_root(view.layout)
            await until(feed, lambda: len(view.bars.frame) >= 5, what="five closed bars")
            # The feed runs on this loop and refresh() never awaits: no trade lands between these two reads.
            await view.refresh()
            bars = view.bars.to_pandas()
            changes: list[object] = []
            doc.on_change(changes.append)
            await view.refresh()  # nothing new: nothing sent
            assert changes == []
    closed, current = view.sources["candles"].data, view.sources["open-candle"].data
    expected = bars[bars["closed"]]
    assert len(closed["ts"]) == len(expected)
    np.testing.assert_allclose(closed["close"], expected["close"])
    np.testing.assert_allclose(closed["volume"], expected["volume"])
    centres = (expected["ts"].astype("int64") + 125_000_000) / 1e6  # bar centres in ms
    np.testing.assert_allclose(closed["ts"], centres)
    assert list(closed["up"]) == [int(c >= o) for o, c in zip(expected["open"], expected["close"], strict=True)]
    last = bars[~bars["closed"]].iloc[0]
    assert (current["open"], current["close"], current["trades"]) == ([last.open], [last.close], [last.trades])
