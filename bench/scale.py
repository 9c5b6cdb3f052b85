"""How many connections one process holds, and how capture throughput grows with worker processes.

The Binance simulator runs in its own process (``livefeed sim``) so the measured process only does the client
side. For 50 / 200 / 500 connections (one symbol, trades + depth, per connection) it prints messages/s held,
event-loop lag p99 (a 5 ms ticker's overshoot) and RSS; then for 1..N workers of ``livefeed capture`` the total
messages/s. Run: ``.venv/bin/python bench/scale.py [--seconds 10] [--max-workers 4]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile

import numpy as np
import psutil

from livefeed import ConnectionOptions, Feed
from livefeed.capture_workers import CaptureConfig, run_capture
from livefeed.venues.binance import BinanceAdapter

PORT = 18790


def start_sim(n_symbols: int, interval: float) -> subprocess.Popen[str]:
    symbols = [f"S{i:04d}-USDT" for i in range(n_symbols)]
    proc = subprocess.Popen([sys.executable, "-m", "livefeed.cli", "sim", *symbols, "--port", str(PORT),
                             "--interval", str(interval)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()  # printed once it listens
    return proc


async def hold(n: int, seconds: float, sim_pid: int) -> tuple[float, float, float, float, float]:
    subs = [f"binance:S{i:04d}-USDT" for i in range(n)]
    lags: list[float] = []
    options = ConnectionOptions(ping_interval=None, stale_after=60.0)
    original = BinanceAdapter.__init__

    def one_symbol_per_connection(self: BinanceAdapter, *a: object, **k: object) -> None:
        original(self, *a, streams_per_connection=2, **k)  # type: ignore[arg-type]

    BinanceAdapter.__init__ = one_symbol_per_connection  # type: ignore[method-assign]
    try:
        feed = Feed(subs, endpoints={"binance": f"http://127.0.0.1:{PORT}"}, connection=options, capacity=10_000,
                    validate=False)
        async with feed:
            loop = asyncio.get_running_loop()
            while sum(c.connected for c in feed.connections) < n:
                await asyncio.sleep(0.1)
            settle = loop.time() + 60
            while loop.time() < settle and not bool(feed.book_stats()["synced"].all()):
                await asyncio.sleep(0.2)  # measure the steady state, not the snapshot storm at start
            start_msgs = int(feed.stats()["messages"].sum())
            sim_cpu, own_cpu = psutil.Process(sim_pid), psutil.Process()
            sim_cpu.cpu_percent(), own_cpu.cpu_percent()
            t0 = loop.time()
            while loop.time() - t0 < seconds:
                before = loop.time()
                await asyncio.sleep(0.005)
                lags.append((loop.time() - before - 0.005) * 1000)
            rate = (int(feed.stats()["messages"].sum()) - start_msgs) / (loop.time() - t0)
            cpu = (sim_cpu.cpu_percent(), own_cpu.cpu_percent())
    finally:
        BinanceAdapter.__init__ = original  # type: ignore[method-assign]
    return rate, float(np.percentile(lags, 99)), psutil.Process().memory_info().rss / 2**20, *cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-workers", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--interval", type=float, default=0.5, help="simulator step per symbol")
    parser.add_argument("--connections", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--no-workers", action="store_true", help="skip the worker-process part")
    args = parser.parse_args()
    print(f"cpus={os.cpu_count()} sim interval={args.interval}s (per symbol: trades + depth@100ms)")
    print("connections  messages/s  loop-lag-p99-ms  rss-MiB  client-cpu%  sim-cpu%")
    for n in args.connections:
        sim = start_sim(n, args.interval)
        try:
            rate, p99, rss, sim_cpu, own_cpu = asyncio.run(hold(n, args.seconds, sim.pid))
        finally:
            sim.terminate()
            sim.wait()
        print(f"{n:11d}  {rate:10.0f}  {p99:15.2f}  {rss:7.0f}  {own_cpu:11.0f}  {sim_cpu:8.0f}", flush=True)
    if args.no_workers:
        return
    n = 200
    sim = start_sim(n, args.interval)
    try:
        print(f"workers (capture of {n} subscriptions to raw files)  total messages/s")
        for workers in range(1, args.max_workers + 1):
            samples: list[tuple[float, int]] = []
            with tempfile.TemporaryDirectory(prefix=f"livefeed-bench-{workers}-") as out:
                config = CaptureConfig([f"binance:S{i:04d}-USDT" for i in range(n)], to=out,
                                       endpoints={"binance": f"http://127.0.0.1:{PORT}"})
                run_capture(config, workers, duration=args.seconds + 15,
                            on_status=lambda t, rows, s=samples: s.append((t, sum(r[0] for r in rows))))
            steady = [(t, m) for t, m in samples if t >= samples[-1][0] - args.seconds]  # skip spawn + connect
            (t0, m0), (t1, m1) = steady[0], steady[-1]
            print(f"{workers:7d}  {(m1 - m0) / (t1 - t0):10.0f}", flush=True)
    finally:
        sim.terminate()
        sim.wait()


if __name__ == "__main__":
    main()
