"""Live views against a real feed on the simulator: figures are named, sources fill in batches and stay bounded."""

from __future__ import annotations

import numpy as np
import pytest
from bokeh.document import Document
from bokeh.models import ColumnDataSource

from livefeed import Feed
from livefeed.frames import RollingFrame
from livefeed.sim import BinanceSim
from livefeed.viz import DepthView, Flusher, ImbalanceView, OnchainView, SpreadView, TradesView, source_name
from livefeed.viz.figures import depth_figure, spread_figure, trades_figure
from tests.conftest import STEADY, until


def test_each_call_builds_new_models_with_stable_names() -> None:
    a, b = depth_figure("binance", "BTC-USDT"), depth_figure("binance", "BTC-USDT")
    assert a.layout is not b.layout and a.sources["meta"] is not b.sources["meta"]
    assert a.sources["meta"].name == "depth-meta:binance:BTC-USDT" == source_name("depth-meta", "binance", "BTC-USDT")
    # each view in its own document: a model may belong to one document only
    Document().add_root(a.layout)
    Document().add_root(b.layout)
    # every named source is reachable from the layout, so it lands in the document (and in BokehJS)
    assert a.layout.document.get_model_by_name("depth-meta:binance:BTC-USDT") is a.sources["meta"]
    for built in (spread_figure("binance", "ETH-USDT"), trades_figure("binance", "ETH-USDT")):
        assert all(isinstance(s, ColumnDataSource) and s.name.endswith(":binance:ETH-USDT")
                   for s in built.sources.values())


def test_bad_options_fail_at_the_call() -> None:
    feed = Feed("binance:BTC-USDT", validate=False)
    with pytest.raises(ValueError, match="band"):
        DepthView(feed, "binance", "BTC-USDT", band=5)
    with pytest.raises(ValueError, match="rollover"):
        SpreadView(feed, "binance", "BTC-USDT", rollover=0)
    with pytest.raises(ValueError, match="does not subscribe to binance:DOGE-USDT"):
        feed.plot.depth("binance", "DOGE-USDT")
    with pytest.raises(ValueError, match="refresh period"):
        Flusher(period=0)
    with pytest.raises(ValueError, match="no transfers, blocks frame"):
        feed.plot.onchain()


async def test_views_stream_batches_and_stay_bounded() -> None:
    async with (
        BinanceSim(symbols=("BTC-USDT",), seed=5, interval=0.005) as sim,
        Feed("binance:BTC-USDT", channels=["trades", "book"], endpoints={"binance": sim}, connection=STEADY) as feed,
    ):
        views = [DepthView(feed, "binance", "BTC-USDT", band=0.005),
                 SpreadView(feed, "binance", "BTC-USDT", rollover=50),
                 TradesView(feed, "binance", "BTC-USDT", rollover=20),
                 ImbalanceView(feed, "binance", "BTC-USDT", rollover=3)]
        docs = [Document() for _ in views]
        for doc, view in zip(docs, views, strict=True):
            doc.add_root(view.layout)
        streamed: list[str] = []
        for doc in docs:
            doc.on_change(lambda event: streamed.append(type(event).__name__))
        flusher = Flusher(period=0.05)
        for view in views:
            flusher.add(view)
        await until(feed, lambda: len(feed.trades) > 60 and len(feed.top_of_book) > 120, what="traffic")
        before = flusher.ticks
        await until(feed, lambda: flusher.ticks >= before + 6, what="six refreshes")
        flusher.stop()
        await flusher.flush()

        depth, spread, trades, imbalance = (v.sources for v in views)
        bids, asks, meta = depth["bids"].data, depth["asks"].data, depth["meta"].data
        assert len(bids["price"]) > 0 and len(asks["price"]) > 0
        assert np.all(np.diff(bids["price"]) <= 0) and np.all(np.diff(asks["price"]) >= 0)  # best first
        assert np.all(np.diff(bids["cum"]) >= 0) and np.all(np.diff(asks["cum"]) >= 0)
        mid = meta["mid"][0]
        assert meta["bid"][0] < mid < meta["ask"][0] and meta["ts"][0] > 0
        assert bids["price"][-1] >= mid * (1 - 0.005) and asks["price"][-1] <= mid * (1 + 0.005)
        # rollover bounds every streamed source however much arrived
        assert len(spread["spread"].data["ts"]) == 50
        assert len(trades["trades"].data["ts"]) == 20
        assert 1 <= len(imbalance["imbalance"].data["ts"]) <= 3
        assert all(-1 <= x <= 1 for x in imbalance["imbalance"].data["imbalance"])
        ts = np.asarray(spread["spread"].data["ts"])
        assert np.all(np.diff(ts) >= 0)
        buys = set(np.asarray(trades["trades"].data["buy"]).tolist())
        assert buys <= {0, 1}
        # batches: far fewer document changes than events (one per source per refresh at most)
        events = len(feed.trades) + len(feed.top_of_book)
        assert 0 < streamed.count("ColumnsStreamedEvent") <= 3 * flusher.ticks < events


async def test_depth_band_change_applies_on_next_refresh() -> None:
    async with (
        BinanceSim(symbols=("BTC-USDT",), seed=2, interval=0.01) as sim,
        Feed("binance:BTC-USDT", channels=["book"], endpoints={"binance": sim}, connection=STEADY) as feed,
    ):
        view = DepthView(feed, "binance", "BTC-USDT", band=0.0002, bins=50)
        await until(feed, lambda: len(feed.top_of_book) > 5, what="book")
        await view.refresh()
        bids = view.sources["bids"].data
        narrow_span, narrow_depth = bids["price"][0] - bids["price"][-1], float(bids["cum"][-1])
        view.set_band(0.02)
        await view.refresh()
        bids = view.sources["bids"].data
        assert len(bids["price"]) == 50  # always the same number of bins, whatever the band
        assert bids["price"][0] - bids["price"][-1] == pytest.approx(100 * narrow_span)
        assert float(bids["cum"][-1]) > narrow_depth  # a wider band holds more of the (several % deep) book
        assert view.sources["meta"].data["band"][0] == 0.02


async def test_flusher_pause_freezes_plots_not_the_feed() -> None:
    async with (
        BinanceSim(symbols=("BTC-USDT",), seed=4, interval=0.005) as sim,
        Feed("binance:BTC-USDT", channels=["book"], endpoints={"binance": sim}, connection=STEADY) as feed,
    ):
        view = SpreadView(feed, "binance", "BTC-USDT")
        flusher = Flusher(period=0.05)
        flusher.add(view)
        flusher.pause()
        start = len(feed.top_of_book)
        await until(feed, lambda: len(feed.top_of_book) > start + 20, what="book traffic")
        assert view.sources["spread"].data["ts"] == []
        assert {label.text for label in view.built.labels} == {"PLOTS PAUSED"}
        flusher.pause(False)
        flusher.set_period(0.05)
        ticks = flusher.ticks
        await until(feed, lambda: flusher.ticks > ticks, what="a refresh after resume")
        flusher.stop()
        assert len(view.sources["spread"].data["ts"]) > 20


async def test_onchain_view_reads_the_eth_frames() -> None:
    events = pytest.importorskip("livefeed.chain.events")
    feed = Feed("binance:BTC-USDT", validate=False)
    for name in ("transfers", "blocks"):
        feed.frames[name] = RollingFrame(events.FRAMES[name].columns, 100)
    t0 = 1_764_115_200 * 10**9
    a, b = "0x" + "a" * 40, "0x" + "b" * 40
    log = (0, "0xblock", 0, "0xtx")
    feed.frames["transfers"].append((t0, t0, "0xtoken", "USDC", a, b, 5.0, "5000000", float("nan"), *log, 0))
    feed.frames["transfers"].append((None, t0 + 10**9, "0xtoken", "USDC", b, a, 2.0, "2000000", float("nan"), *log, 0))
    feed.frames["transfers"].append((t0, t0, "0xtoken", "USDC", a, b, 5.0, "5000000", float("nan"), *log, 1))  # reorg
    feed.frames["blocks"].append((t0, t0, 1, "0xh", "0xp", 12e9, 1, 2, 3, 0))
    view = OnchainView(feed)
    await view.refresh()
    assert view.sources["transfers"].data["value"].tolist() == [5.0, 2.0]
    assert view.sources["transfers"].data["ts"].tolist() == [t0 / 1e6, (t0 + 10**9) / 1e6]  # receipt time fallback
    net = dict(zip(view.sources["netflow"].data["address"], view.sources["netflow"].data["net"], strict=True))
    assert net == {"0xaaaaaa..aaaa": 2.0, "0xbbbbbb..bbbb": -2.0}  # the retracted 5.0 is undone
    assert view.sources["blocks"].data["base_fee"].tolist() == [12.0]


async def test_retarget_shows_the_other_market_in_the_same_figures() -> None:
    async with (
        BinanceSim(symbols=("BTC-USDT", "ETH-USDT"), seed=3, interval=0.01) as sim,
        Feed(["binance:BTC-USDT", "binance:ETH-USDT"], channels=["trades", "book"], endpoints={"binance": sim},
             connection=STEADY) as feed,
    ):
        await until(feed, lambda: len(feed.top_of_book) > 100 and len(feed.trades) > 20, what="traffic")
        spread, depth = SpreadView(feed, "binance", "BTC-USDT"), DepthView(feed, "binance", "BTC-USDT")
        for view in (spread, depth):
            await view.refresh()
        btc_mid = spread.sources["spread"].data["mid"][-1]
        source, title = spread.sources["spread"], spread.layout.children[0].title
        for view in (spread, depth):
            view.retarget("binance", "ETH-USDT")
            await view.refresh()
        eth = feed.book("binance", "ETH-USDT").mid
        assert spread.sources["spread"] is source and source.name == "spread:binance:ETH-USDT"
        assert title.text == "binance ETH-USDT best bid / ask / mid"
        mids = np.asarray(source.data["mid"], dtype=float)
        assert len(mids) > 0 and np.all(np.abs(mids[~np.isnan(mids)] / eth - 1) < 0.05) and btc_mid > 10 * eth
        assert depth.sources["meta"].data["mid"][0] == pytest.approx(eth, rel=0.05)
