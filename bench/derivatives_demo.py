"""The demo's feed (five spot venues, a BTC perpetual on Binance, Bybit and OKX, and with ``--options`` Deribit's
perpetual, nearest quarterly and two expiries of options) with its simulators in another process.

Prints the messages per second the feed took in and the feed process's CPU over the run, so the simulators'
cost is not charged to the feed (``livefeed demo`` prints one figure for both):

    .venv/bin/python bench/derivatives_demo.py --seconds 30 [--options] [--interval 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import time
from typing import Any

from livefeed import Feed
from livefeed.commands.demo import MARKET_VENUES, default_subscriptions
from livefeed.commands.demo_derivatives import deribit_sim_symbols, option_chain, perp_subscriptions
from livefeed.registry import MARKETS


def markets(options: bool) -> dict[str, list[str]]:
    """Per source, the symbols of the demo's feed (and of its simulators)."""
    by_source = {**default_subscriptions(MARKET_VENUES, "BTC,ETH"), **perp_subscriptions(MARKET_VENUES)}
    if options:
        by_source["deribit"] = deribit_sim_symbols()
    return by_source


def serve_sims(by_source: dict[str, list[str]], interval: float, ready: Any, stop: Any) -> None:
    from livefeed.sim import SIMULATORS

    async def main() -> None:
        sims = [SIMULATORS[s](symbols=symbols, seed=1, interval=interval) for s, symbols in by_source.items()]
        for sim in sims:
            await sim.start()
        ready.put({s: {"ws": sim.ws_url, "rest": sim.rest_url} for s, sim in zip(by_source, sims, strict=True)})
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        for sim in sims:
            await sim.stop()

    asyncio.run(main())


async def measure(endpoints: dict[str, Any], options: bool, seconds: float) -> None:
    venue_of = {source: venue for (venue, _kind), source in MARKETS.items()}
    subscriptions = [f"{s if s in MARKET_VENUES else venue_of[s]}:{symbol}"
                     for s, symbols in markets(False).items() for symbol in symbols]
    if options:
        subscriptions += await option_chain(endpoints)
    async with Feed(subscriptions, ["trades", "book", "ticker"], endpoints=endpoints) as feed:
        await asyncio.sleep(3.0)  # warm up: connect, subscribe, snapshots
        m0, c0, t0 = int(feed.stats()["messages"].sum()), time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        m1, c1, t1 = int(feed.stats()["messages"].sum()), time.process_time(), time.monotonic()
    wall = t1 - t0
    print(f"{len(subscriptions)} subscriptions{' (with options)' if options else ''}: {(m1 - m0) / wall:,.0f} msgs/s, "
          f"feed process CPU {(c1 - c0) / wall * 100:.1f}% of one core over {wall:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=0.1, help="simulator step (the demo's default)")
    parser.add_argument("--options", action="store_true")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    sims = ctx.Process(target=serve_sims, args=(markets(args.options), args.interval, ready, stop), daemon=True)
    sims.start()
    try:
        asyncio.run(measure(ready.get(timeout=120), args.options, args.seconds))
    finally:
        stop.set()
        sims.join(timeout=20)
        if sims.is_alive():
            sims.terminate()


if __name__ == "__main__":
    main()
