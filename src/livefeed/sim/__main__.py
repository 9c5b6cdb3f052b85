"""``python -m livefeed.sim --seed 1 --port 9443``: run the Binance simulator until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from ..commands.arguments import OneLineParser, interval, port, symbol
from .binance import BinanceSim

__all__ = ["main"]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(prog="python -m livefeed.sim", description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port, default=9443)
    parser.add_argument("--interval", type=interval, default=0.1, help="seconds between market steps")
    parser.add_argument("--symbols", type=_symbols, default="BTC-USDT,ETH-USDT",
                        help="comma-separated BASE-QUOTE symbols")
    parser.add_argument("--levels", type=_levels, default=200, help="price levels per side")
    return parser.parse_args(argv)


def _symbols(text: str) -> list[str]:
    symbols = [symbol(s) for s in text.split(",") if s.strip()]
    if not symbols:
        raise argparse.ArgumentTypeError("no symbols given, e.g. --symbols BTC-USDT,ETH-USDT")
    return list(dict.fromkeys(symbols))


def _levels(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"levels {text!r} is not a whole number") from None
    if not 1 <= value <= 5000:
        raise argparse.ArgumentTypeError(f"levels must be 1..5000, got {value}")
    return value


async def _serve(args: argparse.Namespace) -> None:
    sim = BinanceSim(
        args.symbols, seed=args.seed, interval=args.interval, levels=args.levels, host=args.host, port=args.port
    )
    async with sim:
        first = sim.markets[next(iter(sim.markets))].spec.venue_symbol.lower()
        print(f"livefeed.sim Binance spot simulator, seed {args.seed}, symbols {', '.join(sim.markets)}")
        print(f"  WebSocket: {sim.ws_url}/stream?streams={first}@depth@100ms/{first}@trade/{first}@bookTicker")
        print(f"  REST:      {sim.rest_url}/api/v3/depth?symbol={first.upper()}&limit=5000")
        print("Ctrl-C to stop.", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(args))
    except OSError as exc:  # e.g. the port is taken, or the host is not an address of this machine
        sys.exit(f"python -m livefeed.sim: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")


if __name__ == "__main__":
    main()
