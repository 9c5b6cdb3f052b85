"""The live plots shade unsynced stretches: the spread view (book coverage), the trade tape and the candles (trade
coverage) hold one strip per interval that was not synced, placed where the coverage says, redrawn only when the
coverage changed (nothing is sent otherwise)."""

from __future__ import annotations

import pytest
from bokeh.document import Document

from livefeed import Feed
from livefeed.sim import BinanceSim
from livefeed.viz.candles import CandlesView
from livefeed.viz.figures import UNSYNCED_COLOURS
from livefeed.viz.views import SpreadView, TradesView, View

from .conftest import FAST, synced, until


def unsynced(feed: Feed, stream: str) -> list[tuple[str, str]]:
    cov = feed.coverage()
    rows = cov[(cov["stream"] == stream) & (cov["state"] != "synced")]
    return [(str(state), reason) for state, reason in zip(rows["state"], rows["reason"], strict=True)]


@pytest.mark.parametrize("make", [
    lambda feed: SpreadView(feed, "binance", "BTC-USDT"),
    lambda feed: TradesView(feed, "binance", "BTC-USDT"),
    lambda feed: CandlesView(feed, "binance", "BTC-USDT", interval="1s"),
], ids=["spread", "trades", "candles"])
async def test_unsynced_stretches_are_shaded_and_redrawn_only_on_change(make: object) -> None:
    async with (BinanceSim(["BTC-USDT"], seed=8, interval=0.01) as sim,
                Feed(["binance:BTC-USDT"], channels=["trades", "book"], endpoints={"binance": sim},
                     connection=FAST) as feed):
        await until(feed, lambda: synced(feed), what="synced")
        view: View = make(feed)  # type: ignore[operator]
        stream = "trades" if view.kind in ("trades", "candles") else "book"
        doc = Document()
        doc.add_root(view.layout)
        sim.drop_connections()
        await until(feed, lambda: int(feed.stats()["reconnects"].sum()) >= 1, what="the reconnect")
        await until(feed, lambda: synced(feed) and feed.coverage_log.unsynced("binance", "BTC-USDT", "book")[-1][1]
                    is not None, what="synced again")
        await view.refresh()
        strips = view.sources["coverage"].data
        assert list(strips["label"]) == [f"{state}: {reason}" for state, reason in unsynced(feed, stream)]
        assert any(label.startswith("disconnected: disconnected: connection lost") for label in strips["label"])
        assert list(strips["colour"]) == [UNSYNCED_COLOURS[label.split(":")[0]] for label in strips["label"]]
        cov = feed.coverage()
        gaps = cov[(cov["stream"] == stream) & (cov["state"] != "synced")]
        offset = strips["left"][0] - gaps["start"].iloc[0].value / 1e6  # exchange minus receipt time, in ms
        assert abs(offset) < 1_000
        for left, right, start, end in zip(strips["left"], strips["right"], gaps["start"], gaps["end"], strict=True):
            assert left == pytest.approx(start.value / 1e6 + offset) and right == pytest.approx(end.value / 1e6 + offset)
        changes: list[object] = []
        doc.on_change(lambda event: changes.append(event) if "coverage" in str(getattr(event, "model", "")) else None)
        before = feed.coverage_log.version
        await view.refresh()
        if feed.coverage_log.version == before:  # no transition in between (none is due): nothing redrawn
            assert changes == []
