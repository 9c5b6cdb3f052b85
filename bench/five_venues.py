"""One feed on all five venues at once, each against its simulator running in its own process.

Prints the messages per second the feed took in, the feed process's CPU time over the run, and whether every
book stayed synced:

    .venv/bin/python bench/five_venues.py --seconds 20 --interval 0.002

``--interval`` is each simulator's market step (every symbol moves once per step). The simulators run in separate
processes so their cost is not charged to the feed; on a 2-core machine they compete with the feed for CPU, so
the feed's CPU share is printed beside the rate.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import time
from typing import Any

from livefeed import ConnectionOptions, Feed
from livefeed.commands.demo import MARKET_VENUES, default_subscriptions


def serve_sim(venue: str, symbols: list[str], interval: float, ready: Any, stop: Any) -> None:
    from livefeed.sim import SIMULATORS

    async def main() -> None:
        async with SIMULATORS[venue](symbols=symbols, seed=1, interval=interval) as sim:
            ready.put((venue, sim.ws_url, sim.rest_url))
            await asyncio.get_running_loop().run_in_executor(None, stop.wait)

    asyncio.run(main())


async def measure(endpoints: dict[str, dict[str, str]], by_venue: dict[str, list[str]], seconds: float) -> None:
    subscriptions = [f"{v}:{s}" for v, symbols in by_venue.items() for s in symbols]
    options = ConnectionOptions(stale_after=10.0)
    async with Feed(subscriptions, ["trades", "book", "ticker"], endpoints=endpoints, connection=options) as feed:
        await asyncio.sleep(2.0)  # warm up: connect, subscribe, snapshots
        start_msgs = int(feed.stats()["messages"].sum())
        start_wall, start_cpu = time.monotonic(), time.process_time()
        await asyncio.sleep(seconds)
        msgs = int(feed.stats()["messages"].sum()) - start_msgs
        wall, cpu = time.monotonic() - start_wall, time.process_time() - start_cpu
        sync = feed.book_stats()
        per_venue = feed.stats().groupby("venue")["messages"].sum().to_dict()
    print(f"RESULT venues={len(by_venue)} books={len(sync)} msgs={msgs} secs={wall:.1f} rate={msgs / wall:.0f} "
          f"feed_cpu_s={cpu:.1f} feed_cpu_pct={100 * cpu / wall:.0f} all_synced={bool(sync['synced'].all())} "
          f"gaps={int(sync['gaps'].sum())} checksum_failures={int(sync['checksum_failures'].sum())}")
    print("messages by venue (whole run):", per_venue)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=0.002, help="simulator step interval (s)")
    parser.add_argument("--symbols", default="BTC,ETH")
    args = parser.parse_args()
    by_venue = default_subscriptions(MARKET_VENUES, args.symbols)
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=serve_sim, args=(v, s, args.interval, ready, stop), daemon=True)
             for v, s in by_venue.items()]
    for proc in procs:
        proc.start()
    endpoints = {}
    for _ in procs:
        venue, ws, rest = ready.get(timeout=60)
        endpoints[venue] = {"ws": ws, "rest": rest}
    try:
        asyncio.run(measure(endpoints, by_venue, args.seconds))
    finally:
        stop.set()
        for proc in procs:
            proc.join(10)


if __name__ == "__main__":
    main()
