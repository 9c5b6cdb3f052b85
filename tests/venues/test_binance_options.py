"""Binance's own venue options: ``snapshot_limit`` sets the REST depth snapshot's levels per side."""

from __future__ import annotations

import pytest

from livefeed import Feed
from livefeed.errors import ConfigError
from livefeed.model import BookSnapshot
from livefeed.sim import BinanceSim

from ..conftest import FAST, until


@pytest.mark.parametrize(("options", "limited"), [({"snapshot_limit": 100}, True), ({}, False)])
async def test_snapshot_limit_sets_the_levels_of_the_rest_snapshot(options: dict[str, int], limited: bool) -> None:
    async with BinanceSim(["BTC-USDT"], seed=3, levels=300) as sim:
        feed = Feed(["binance:BTC-USDT"], channels=["book"], endpoints={"binance": sim}, connection=FAST,
                    venue_options={"binance": options})
        snapshots: list[BookSnapshot] = []
        async with feed:
            feed.add_callback(lambda e: snapshots.append(e) if isinstance(e, BookSnapshot) else None)
            await until(feed, lambda: bool(snapshots), what="the first snapshot")
        sides = len(snapshots[0].bids), len(snapshots[0].asks)
        if limited:
            assert sides == (100, 100)
        else:  # the default, 5000, takes all the sim has (about 300 a side)
            assert min(sides) > 250


def test_a_snapshot_limit_binance_does_not_serve_is_refused_at_the_call() -> None:
    with pytest.raises(ConfigError, match=r"snapshot_limit must be one of \(5, 10, 20, 50, 100, 500, 1000, 5000\)"):
        Feed(["binance:BTC-USDT"], venue_options={"binance": {"snapshot_limit": 300}})
    with pytest.raises(ConfigError, match="unknown setting 'snapshot_limit'"):
        Feed(["okx:BTC-USDT"], venue_options={"okx": {"snapshot_limit": 100}})
