"""The notebook's traffic budget, as structure (the figures are in bench/notebook.py): one flush sends at most one
message per live widget, the browser sends nothing back unless a view of a widget goes, and a widget nobody sees any
more is released and no longer refreshed."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from livefeed import Feed
from livefeed.sim import BinanceSim
from livefeed.viz import Flusher, widget
from livefeed.viz.notebook import LivePlot, Plots
from livefeed.viz.views import binned_depth, market_status, with_gaps
from tests.conftest import STEADY, until


def record_comm(plot: LivePlot) -> list[dict[str, Any]]:
    """Every comm message the plot's widget publishes towards the browser, as sent on the wire."""
    sent: list[dict[str, Any]] = []
    comm = plot.widget.comm
    publish = comm.publish_msg

    def spy(msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any) -> None:
        sent.append({"type": msg_type, "data": data, "buffers": buffers or []})
        publish(msg_type, data, metadata, buffers, **keys)

    comm.publish_msg = spy
    return sent


async def test_one_flush_sends_at_most_one_message_per_live_widget() -> None:
    async with (
        BinanceSim(symbols=("BTC-USDT",), seed=5, interval=0.005) as sim,
        Feed("binance:BTC-USDT", channels=["trades", "book"], endpoints={"binance": sim}, connection=STEADY) as feed,
    ):
        flusher = Flusher(period=60)  # ticks only when the test flushes
        plots = Plots(feed, flusher)
        shown = [plots.depth("binance", "BTC-USDT"), plots.spread("binance", "BTC-USDT"),
                 plots.trades("binance", "BTC-USDT"), plots.imbalance("binance", "BTC-USDT")]
        flusher.stop()  # no ticks of its own: this test makes each one
        wires = [record_comm(p) for p in shown]
        flushes = 6
        for _ in range(flushes):
            seen = len(feed.trades) + len(feed.top_of_book)
            await until(feed, lambda s=seen: len(feed.trades) + len(feed.top_of_book) > s + 20, what="traffic")
            counts = [len(w) for w in wires]
            await flusher.flush()
            # each widget: zero or one message for the whole tick, however many sources and rows changed
            assert all(len(w) - c <= 1 for w, c in zip(wires, counts, strict=True)), [len(w) for w in wires]
        for plot, wire in zip(shown, wires, strict=True):
            patches = [m for m in wire if m["type"] == "comm_msg" and m["data"]["method"] == "custom"]
            assert patches == wire  # nothing but patches: no state syncs per refresh
            assert 1 <= len(patches) <= flushes, plot
            content = patches[-1]["data"]["content"]
            assert content["kind"] == "patch" and len(content["ids"]) == len(patches[-1]["buffers"])
            events = json.loads(content["content"])["events"]
            assert events, plot
        # the depth widget's last message carries both sides' bars and the meta patch together
        kinds = {e["kind"] for e in json.loads(wires[0][-1]["data"]["content"]["content"])["events"]}
        assert {"ColumnDataChanged", "ColumnsPatched"} <= kinds
        for plot in shown:
            plot.close()
        assert flusher.views == []


async def test_a_view_whose_output_is_gone_is_released(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(widget, "RELEASE_AFTER", 0.01)
    async with (
        BinanceSim(symbols=("BTC-USDT",), seed=6, interval=0.01) as sim,
        Feed("binance:BTC-USDT", channels=["book"], endpoints={"binance": sim}, connection=STEADY) as feed,
    ):
        flusher = Flusher(period=60)
        plots = Plots(feed, flusher)
        depth, spread = plots.depth("binance", "BTC-USDT"), plots.spread("binance", "BTC-USDT")
        flusher.stop()
        assert flusher.views == [depth, spread]
        # the front end reports a view shown, then (output cleared / replaced) removed
        depth.widget._on_front_end_message(None, {"event": "view", "shown": True}, [])
        depth.widget._on_front_end_message(None, {"event": "view", "shown": False}, [])
        released = feed  # wait on the kernel loop for the release timer
        await until(released, lambda: depth.closed, what="release after the view went")
        assert flusher.views == [spread] and depth.widget.comm is None
        # the comm closed by the front end (kernel reconnect, notebook closed) releases too
        spread.widget.comm.handle_close({"content": {"data": {}}})
        assert spread.closed and flusher.views == []


async def test_plots_say_when_the_feed_is_stopped_or_paused() -> None:
    async with BinanceSim(symbols=("BTC-USDT",), seed=8, interval=0.01) as sim:
        feed = Feed("binance:BTC-USDT", channels=["trades", "book"], endpoints={"binance": sim}, connection=STEADY)
        async with feed:
            await until(feed, lambda: len(feed.top_of_book) > 5, what="book")
            flusher = Flusher(period=60)
            plot = Plots(feed, flusher).spread("binance", "BTC-USDT")
            flusher.stop()
            await flusher.flush()
            assert market_status(feed, "binance", "BTC-USDT") == ""
            assert not any(label.visible for label in plot.view.built.labels)
            flusher.pause()
            await flusher.flush()
            assert {label.text for label in plot.view.built.labels} == {"PLOTS PAUSED"}
            flusher.pause(False)
            await flusher.flush()
            assert not any(label.visible for label in plot.view.built.labels)
        await flusher.flush()
        assert all(label.visible and label.text == "FEED STOPPED" for label in plot.view.built.labels)
        plot.close()


def test_gaps_break_lines_instead_of_bridging_them() -> None:
    cols = {"ts": np.array([1_000.0, 2_000.0, 30_000.0]), "mid": np.array([1.0, 2.0, 3.0])}
    out = with_gaps(cols, last_ms=0.0, gap_ms=5_000.0)
    assert np.isnan(out["mid"]).tolist() == [False, False, True, False]
    assert out["ts"].tolist() == [1_000.0, 2_000.0, 29_999.0, 30_000.0]
    # a silence since the last row already shown breaks the line too
    again = with_gaps({"ts": np.array([40_000.0]), "mid": np.array([4.0])}, last_ms=30_000.0, gap_ms=5_000.0)
    assert np.isnan(again["mid"][0]) and again["mid"][1] == 4.0
    assert with_gaps(cols, last_ms=0.0, gap_ms=60_000.0) is cols


def test_binned_depth_is_the_book_depth_at_each_bin_edge() -> None:
    depth = {"bid_price": np.array([99.9, 99.5, 99.0, 98.2]), "bid_cum": np.array([1.0, 3.0, 6.0, 10.0]),
             "ask_price": np.array([100.1, 100.4, 101.0]), "ask_cum": np.array([2.0, 4.0, 9.0])}
    out = binned_depth(depth, mid=100.0, band=0.02, bins=4)  # bins of 0.5 around mid 100
    assert out["bid_price"].tolist() == [99.75, 99.25, 98.75, 98.25]
    assert out["bid_cum"].tolist() == [3.0, 6.0, 6.0, 10.0]  # all levels at or above 99.5, 99.0, 98.5, 98.0
    assert out["ask_price"].tolist() == [100.25, 100.75, 101.25, 101.75]
    assert out["ask_cum"].tolist() == [4.0, 9.0, 9.0, 9.0]
    assert float(out["width"]) == 0.5
