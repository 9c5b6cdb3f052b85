"""The dashboard page's document: a market picker over every venue, one market's views, cross-venue views when the
feed has several venues, the status table and the 'feed is gone' banner."""

from __future__ import annotations

from bokeh.document import Document

from livefeed import Feed
from livefeed.sim import BinanceSim, BybitSim
from livefeed.viz.server import dashboard_document
from tests.conftest import STEADY, until


async def test_page_of_a_two_venue_feed_has_picker_views_and_cross_venue_views() -> None:
    async with (
        BinanceSim(symbols=("BTC-USDT",), seed=4, interval=0.01) as binance,
        BybitSim(symbols=("BTC-USDT",), seed=4, interval=0.01) as bybit,
        Feed(["binance:BTC-USDT", "bybit:BTC-USDT"], channels=["trades", "book"],
             endpoints={"binance": binance, "bybit": bybit}, connection=STEADY) as feed,
    ):
        await until(feed, lambda: len(feed.top_of_book) > 50, what="both books")
        doc = Document()
        views = dashboard_document(feed, doc)
        picker = doc.get_model_by_name("market")
        assert picker.options == ["binance:BTC-USDT", "bybit:BTC-USDT"] and picker.value == "binance:BTC-USDT"
        assert [v.kind for v in views] == ["depth", "spread", "trades", "imbalance"]
        for name in ("mids:multi:BTC", "consolidated:multi:BTC-USD", "status", "gone"):
            assert doc.get_model_by_name(name) is not None, name
        assert not doc.get_model_by_name("gone").visible
        # picking the other market rebuilds the views in place
        picker.value = "bybit:BTC-USDT"
        assert {(v.venue, v.symbol) for v in views} == {("bybit", "BTC-USDT")}
        assert doc.get_model_by_name("spread:bybit:BTC-USDT") is not None
