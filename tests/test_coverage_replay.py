"""``livefeed replay`` rebuilds the coverage of a captured session: the same states with the same reasons in the same
order per stream (wall times differ: they are the replaying process's), when replayed at the captured pace (as fast
as possible, a gap can reach the client before the snapshot it was captured after, and be healed by a later one).
The capture holds frames, not connection drops, so a session's disconnects are not replayed (README, "Data quality:
coverage")."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from livefeed import Feed
from livefeed.replay import CaptureReplay
from livefeed.sim import BinanceSim
from livefeed.sinks.raw_capture import RawCapture

from .conftest import TOLERANT, synced, until

SUBS = ["binance:BTC-USDT"]


def transitions(coverage: pd.DataFrame) -> list[tuple[str, str, str]]:
    return [(str(r.stream), str(r.state), str(r.reason)) for r in coverage.itertuples()]


async def test_replay_rebuilds_the_same_coverage(tmp_path: Path) -> None:
    capture = RawCapture(tmp_path / "cap")
    async with (BinanceSim(symbols=["BTC-USDT"], seed=14, interval=0.01) as sim,
                Feed(SUBS, endpoints={"binance": sim}, connection=TOLERANT, raw_capture=capture) as live):
        await until(live, lambda: synced(live), what="synced")
        sim.skip_updates(1)
        await until(live, lambda: live.book_stats()["gaps"].sum() >= 1, what="the gap")
        await until(live, lambda: synced(live), what="synced again")
        sim.skip_trade_ids(3)
        await until(live, lambda: live.book_stats()["trade_gaps"].sum() >= 1, what="the trade hole")
        last_trade, last_update = live.trades.total, live.book_stats()["last_sequence"].iloc[0]
    recorded = transitions(live.coverage())
    assert ("book", "resyncing") in [t[:2] for t in recorded] and ("trades", "gap") in [t[:2] for t in recorded]

    async with (CaptureReplay(tmp_path / "cap", speed=1.0) as replay,  # at the captured pace, as it happened
                Feed(SUBS, endpoints={"binance": replay}, connection=TOLERANT) as again):
        await until(again, lambda: again.trades.total >= last_trade
                    and (again.book_stats()["last_sequence"].iloc[0] or 0) >= last_update,
                    what="the replay to catch up")
    replayed = transitions(again.coverage())
    assert replayed == recorded, "\n".join(map(str, recorded)) + "\n--\n" + "\n".join(map(str, replayed))
