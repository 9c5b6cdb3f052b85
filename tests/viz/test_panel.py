"""The control panel drives the real feed and flusher: picker, toggles, sliders, pause, status line."""

from __future__ import annotations

from livefeed import Feed
from livefeed.sim import BinanceSim
from livefeed.viz import Dashboard, DepthView
from tests.conftest import STEADY, until


async def test_controls_act_on_views_flusher_and_feed() -> None:
    async with (
        BinanceSim(symbols=("BTC-USDT", "ETH-USDT"), seed=9, interval=0.01) as sim,
        Feed(["binance:BTC-USDT", "binance:ETH-USDT"], channels=["trades", "book"], endpoints={"binance": sim},
             connection=STEADY) as feed,
    ):
        dash = feed.dashboard(band=0.002, period=0.05)
        assert isinstance(dash, Dashboard) and [v.kind for v in dash.views] == [
            "depth", "spread", "trades", "imbalance"]
        assert {(v.venue, v.symbol) for v in dash.views} == {("binance", "BTC-USDT")}
        assert len(dash.plots.children) == 1  # one widget for the four views: one message per refresh
        first = dash.plot
        spread, trades, imbalance = dash.views[1:]
        assert spread.x_range is trades.x_range is imbalance.x_range  # one shared time window

        dash.picker.value = "binance:ETH-USDT"  # a new market builds new views (and new figures)
        assert {(v.symbol) for v in dash.views} == {"ETH-USDT"} and dash.flusher.views == [dash.plot]
        assert dash.plot is first and not first.closed  # the same figures, pointed at the new market
        assert dash.depth.sources["meta"].name == "depth-meta:binance:ETH-USDT"
        assert dash.views[1].layout.children[0].title.text == "binance ETH-USDT best bid / ask / mid"
        dash.band.value = 0.01
        assert isinstance(dash.depth, DepthView) and dash.depth.band == 0.01
        dash.rate.value = 5
        assert dash.flusher.period == 0.2
        dash.pause_button.value = True
        assert dash.flusher.paused
        dash.pause_button.value = False
        dash.channels["ticker"].value = True
        assert feed.channels == ["trades", "book", "ticker"]  # applied on the next start

        ticks = dash.flusher.ticks
        await until(feed, lambda: dash.flusher.ticks > ticks + 2 and "msg/s" in dash.status.value,
                    what="status line")  # refreshed at most once a second
        assert "<td>binance-0</td>" in dash.status.value and "reconnects" in dash.status.value
        assert "feed running" in dash.status.value
        dash.window.value = 120
        assert all(v.window == 120 for v in dash.views)
        assert all(t.disabled for t in dash.channels.values())  # no channel edits while running
        assert len(dash.depth.sources["bids"].data["price"]) > 0
        dash.close()
        assert not dash.flusher.running
