"""``python -m livefeed.sim --seed 1 --port 9443``: run the Binance simulator until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .binance import BinanceSim

__all__ = ["main"]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m livefeed.sim", description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9443)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between market steps")
    parser.add_argument("--symbols", default="BTC-USDT,ETH-USDT", help="comma-separated BASE-QUOTE symbols")
    parser.add_argument("--levels", type=int, default=200, help="price levels per side")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    sim = BinanceSim(
        symbols, seed=args.seed, interval=args.interval, levels=args.levels, host=args.host, port=args.port
    )
    async with sim:
        first = sim.markets[next(iter(sim.markets))].spec.venue_symbol.lower()
        print(f"livefeed.sim Binance spot simulator, seed {args.seed}, symbols {', '.join(sim.markets)}")
        print(f"  WebSocket: {sim.ws_url}/stream?streams={first}@depth@100ms/{first}@trade/{first}@bookTicker")
        print(f"  REST:      {sim.rest_url}/api/v3/depth?symbol={first.upper()}&limit=5000")
        print("Ctrl-C to stop.", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(_parse(argv)))


if __name__ == "__main__":
    main()
