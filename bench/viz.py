"""Figures for the viz path (prints them; not a test): refresh cost, messages per refresh, export throughput.

    .venv/bin/python bench/viz.py

Belongs in ``bench/`` (kept here because this session may only touch tests/viz); move it as ``bench/viz.py``.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time

from bokeh.document import Document

from livefeed import Feed
from livefeed.export import export_frames
from livefeed.feed import TRADE_COLUMNS
from livefeed.frames import RollingFrame
from livefeed.sim import BinanceSim
from livefeed.viz import DepthView, Flusher, ImbalanceView, SpreadView, TradesView


async def refresh_cost(seconds: float = 10.0, period: float = 0.25) -> None:
    async with (
        BinanceSim(symbols=("BTC-USDT", "ETH-USDT"), seed=1, interval=0.002) as sim,
        Feed(["binance:BTC-USDT", "binance:ETH-USDT"], endpoints={"binance": sim}) as feed,
    ):
        views = [cls(feed, "binance", s) for s in ("BTC-USDT", "ETH-USDT")
                 for cls in (DepthView, SpreadView, TradesView, ImbalanceView)]
        events: list[str] = []
        for view in views:
            doc = Document()
            doc.add_root(view.layout)
            doc.on_change(lambda e: events.append(type(e).__name__))
        flusher = Flusher(period)
        flusher.views.extend(views)
        costs = []
        start_rows = feed.trades.total + feed.top_of_book.total
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            await flusher.flush()
            costs.append(time.perf_counter() - t0)
            await asyncio.sleep(period)
        rows = feed.trades.total + feed.top_of_book.total - start_rows
    print(f"refresh of 8 views (2 symbols x depth/spread/trades/imbalance), period {period}s, {seconds:.0f}s run:")
    print(f"  refreshes {len(costs)}, median {statistics.median(costs) * 1e3:.2f} ms, "
          f"max {max(costs) * 1e3:.2f} ms per refresh (on the caller's loop)")
    print(f"  frame rows arrived {rows:,} ({rows / seconds:,.0f}/s) -> document change events {len(events):,} "
          f"({len(events) / seconds:,.1f}/s, {len(events) / len(costs):.1f} per refresh)")


def export_speed(rows: int = 1_000_000) -> None:
    frame = RollingFrame(TRADE_COLUMNS, rows)
    t0 = 1_764_115_200 * 10**9
    for i in range(rows):
        frame.append((t0 + i * 10**6, t0 + i * 10**6, "binance", "BTC-USDT" if i % 2 else "ETH-USDT", 100.0 + i % 50,
                      0.1, "buy" if i % 3 else "sell", str(i)))
    with tempfile.TemporaryDirectory() as out:
        for fmt in ("parquet", "csv"):
            started = time.perf_counter()
            export_frames({"trades": frame}, out, fmt, progress=False)
            took = time.perf_counter() - started
            print(f"export {rows:,} trade rows as {fmt}: {took:.2f} s ({rows / took:,.0f} rows/s)")


if __name__ == "__main__":
    asyncio.run(refresh_cost())
    export_speed()
