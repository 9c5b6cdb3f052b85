"""The notebook's share: what a live feed in the kernel costs the researcher's cells, and what busy cells cost it.

In a notebook the feed runs on a background thread of the kernel process and shares the GIL with the cells. This
bench measures both directions against the throughput bench's seeded Binance stream, served at a fixed rate by
a separate process (``bench/_stream.py``, ``paced`` with ``rate``):

1. **Slowdown of the cells.** A fixed pure-Python workload and a fixed pandas workload run in the main thread with
   no feed, then while ``Feed(["binance:BTC-USDT"], channels=["book"]).start()`` (the notebook's threaded form)
   takes 1,000, 5,000 and 20,000 msgs/s. Each is timed ``--repeat`` times per rate on a fresh feed; medians.
2. **Late receipt stamps.** While the main thread holds the GIL for ``--hold`` seconds in one C call, frames keep
   arriving; the feed thread can only stamp them when it gets the GIL back. The delay of a frame is its receipt
   stamp minus the instant the server wrote it (frame ``i`` is due at ``started + i / rate``). Measured with the feed
   in the kernel (a thread) and in its own process (as ``livefeed capture`` runs), at 5,000 msgs/s.

Run: ``.venv/bin/python bench/kernel_share.py`` (``--rates``, ``--repeat``, ``--hold``). Ends with a ``SHARE`` line.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

from _stream import load_stream, start_server

__all__ = ["main"]

MESSAGES = 100_000  # 5 s of stream at the highest rate: enough for one timed workload after the warm-up
WARMUP_S = 0.5


def pure_python() -> None:
    """A fixed CPU-bound cell: dict and string work in the interpreter (~0.5 s alone)."""
    counts: dict[str, int] = {}
    for i in range(600_000):
        key = f"k{i % 1013}"
        counts[key] = counts.get(key, 0) + i % 7


def pandas_cell() -> Callable[[], None]:
    """A fixed pandas cell (groupby, rolling, a join) on one million rows built once, outside the timing."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"k": rng.integers(0, 500, 1_000_000), "v": rng.standard_normal(1_000_000)})
    keys = pd.DataFrame({"k": np.arange(500), "w": rng.standard_normal(500)})

    def run() -> None:
        stats = frame.groupby("k")["v"].agg(["mean", "std", "count"])
        frame["v"].rolling(50).mean().sum()
        frame.merge(keys, on="k").eval("v * w").sum()
        stats.sort_values("std")

    return run


def hold_gil(seconds: float) -> float:
    """One C call that keeps the GIL for about ``seconds`` (``sum`` over a ``range`` never releases it)."""
    n = int(seconds * _SUM_PER_S)
    began = time.monotonic()
    sum(range(n))
    return time.monotonic() - began


_SUM_PER_S = 0.0


def calibrate_hold() -> None:
    global _SUM_PER_S
    began = time.monotonic()
    sum(range(20_000_000))
    _SUM_PER_S = 20_000_000 / (time.monotonic() - began)


def timed(work: Callable[[], None]) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


class ThreadFeed:
    """The notebook way: ``Feed.start()`` on its background thread, pointed at the bench server."""

    def __init__(self, port: int) -> None:
        import livefeed
        from livefeed.model import BookDelta

        base = f"127.0.0.1:{port}"
        self.feed = livefeed.Feed(["binance:BTC-USDT"], channels=["book"], validate=False,
                                  endpoints={"binance": {"ws": f"ws://{base}", "rest": f"http://{base}"}})
        self.stamps: list[tuple[int, int]] = []  # (update id, receipt ns)
        stamps, delta = self.stamps, BookDelta

        def note(event: Any) -> None:
            if type(event) is delta:
                stamps.append((event.sequence, event.receipt_ts))

        self.feed.add_callback(note)

    def __enter__(self) -> ThreadFeed:
        self.feed.start()
        deadline = time.monotonic() + 30
        while not self.stamps and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(WARMUP_S)
        return self

    def __exit__(self, *exc: object) -> None:
        self.feed.stop()


def started_wall(port: int) -> float:
    """The server's replay start as wall-clock seconds (it reports CLOCK_MONOTONIC, which is system-wide)."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/started", timeout=10) as response:
        started = json.loads(response.read())["started"]
    return time.time() - (time.monotonic() - started)


def delays_ms(stamps: list[tuple[int, int]], index: dict[int, int], start_wall: float, rate: float,
              window: tuple[float, float]) -> list[float]:
    """Receipt delay of every frame written inside ``window`` (wall seconds)."""
    out = []
    for update_id, receipt_ns in stamps:
        written = start_wall + index[update_id] / rate
        if window[0] <= written <= window[1]:
            out.append(receipt_ns / 1e6 - written * 1e3)
    return out


def _feed_process(port: int, ready: Any, go: Any, result: Any) -> None:
    """A feed in its own process (as ``livefeed capture`` runs): collects its stamps, reports them when told."""
    with ThreadFeed(port) as feed:
        ready.set()
        go.wait(60)
        result.put(list(feed.stamps))


def measure_slowdown(rates: Sequence[int], repeat: int, stream: Any) -> dict[str, dict[int, float]]:
    pandas_run = pandas_cell()
    work = {"pure_python": pure_python, "pandas": pandas_run}
    base = {name: statistics.median(timed(fn) for _ in range(repeat)) for name, fn in work.items()}  # for the log
    print(f"# no feed: pure_python {base['pure_python']:.3f}s pandas {base['pandas']:.3f}s", file=sys.stderr)
    out: dict[str, dict[int, float]] = {name: {} for name in work}
    for rate in rates:
        server, port = start_server(stream, rate=rate)
        try:
            for name, fn in work.items():
                ratios, times = [], []
                for _ in range(repeat):  # each timing with the feed paired with one just before it without
                    alone = timed(fn)
                    with ThreadFeed(port) as feed:
                        times.append(timed(fn))
                        got = len(feed.stamps)
                    if got == 0:
                        raise RuntimeError(f"the feed took no message at {rate} msgs/s")
                    ratios.append(times[-1] / alone)
                slow = statistics.median(ratios) - 1
                out[name][rate] = slow
                print(f"SLOWDOWN workload={name} rate={rate} base_s={base[name]:.3f} "
                      f"with_feed_s={statistics.median(times):.3f} slowdown_pct={100 * slow:.0f}", flush=True)
        finally:
            server.terminate()
            server.join(10)
    return out


def measure_hold(rate: int, hold: float, stream: Any, repeat: int) -> dict[str, float]:
    """The worst receipt delay of a GIL hold, feed in a thread and in a process; the median of ``repeat`` holds."""
    runs = [measure_hold_once(rate, hold, stream) for _ in range(max(1, repeat))]
    return {where: statistics.median(run[where] for run in runs) for where in runs[0]}


def measure_hold_once(rate: int, hold: float, stream: Any) -> dict[str, float]:
    index = {}
    for i, frame in enumerate(stream.frames):
        head = frame[frame.index(b'"u":') + 4:]
        index[int(head[: head.index(b",")])] = i
    calibrate_hold()
    out = {}
    for where in ("thread", "process"):
        server, port = start_server(stream, rate=rate)
        try:
            if where == "thread":
                with ThreadFeed(port) as feed:
                    began = time.time()
                    held = hold_gil(hold)
                    window = (began, began + held)
                    time.sleep(0.3)  # let the backlog drain and be stamped
                    stamps = list(feed.stamps)
            else:
                context = multiprocessing.get_context("spawn")
                ready, go, result = context.Event(), context.Event(), context.Queue()
                child = context.Process(target=_feed_process, args=(port, ready, go, result), daemon=True)
                child.start()
                ready.wait(60)
                began = time.time()
                held = hold_gil(hold)
                window = (began, began + held)
                time.sleep(0.3)
                go.set()
                stamps = result.get(timeout=60)
                child.join(30)
            late = delays_ms(stamps, index, started_wall(port), rate, window)
        finally:
            server.terminate()
            server.join(10)
        # the longest silence between two receipt stamps around the hold: the feed's own stall, whatever the
        # server's schedule (on a loaded machine the server may write late too)
        near = sorted(ns for _, ns in stamps if window[0] - 0.1 <= ns / 1e9 <= window[1] + 0.3)
        gap = max((b - a for a, b in pairwise(near)), default=0) / 1e6
        out[where] = gap
        print(f"HOLD feed_in={where} rate={rate} held_s={held:.2f} frames_in_window={len(late)} "
              f"delay_ms_median={statistics.median(late) if late else float('nan'):.1f} "
              f"delay_ms_max={max(late) if late else float('nan'):.1f} longest_stamp_gap_ms={gap:.1f}", flush=True)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="1000,5000,20000", help="feed rates to test, msgs/s")
    parser.add_argument("--repeat", type=int, default=3, help="timings per workload and rate; medians")
    parser.add_argument("--hold", type=float, default=1.0, help="seconds the main thread holds the GIL")
    parser.add_argument("--hold-rate", type=int, default=5000, help="feed rate during the GIL hold, msgs/s")
    args = parser.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    stream = load_stream(MESSAGES, 1_000, 20240601)
    print(f"# load average {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
    slow = measure_slowdown(rates, args.repeat, stream)
    hold = measure_hold(args.hold_rate, args.hold, stream, args.repeat)
    print(f"# load average {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
    top = max(rates)
    print(f"SHARE pure_python_slowdown_pct@{top}={100 * slow['pure_python'][top]:.0f} "
          f"pandas_slowdown_pct@{top}={100 * slow['pandas'][top]:.0f} "
          f"hold_gap_ms_thread={hold['thread']:.0f} hold_gap_ms_process={hold['process']:.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
