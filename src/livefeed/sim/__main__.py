"""``python -m livefeed.sim --venue okx kraken --seed 1 --port 9443``: run venue simulators until Ctrl-C.

``--venue`` takes one or more of binance, coinbase, kraken, bybit, okx, or ``all`` (default: binance). ``--port`` is
the first venue's port; the others take free ports. The last line printed is the ``endpoints={...}`` a ``Feed``
takes as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from ..commands.arguments import OneLineParser, interval, port, symbol
from ..commands.sim import serve, simulators
from ..errors import LivefeedError
from . import SIMULATORS, SimServer

__all__ = ["main"]

PROG = "python -m livefeed.sim"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venue", nargs="+", type=_venue, default=["binance"], metavar="VENUE",
                        help=f"one or more of {', '.join(SIMULATORS)}, or all (default: binance)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port, default=9443, help="the first venue's port (0: any free port)")
    parser.add_argument("--interval", type=interval, default=0.1, help="seconds between market steps")
    parser.add_argument("--symbols", type=_symbols, default="BTC-USDT,ETH-USDT",
                        help="comma-separated BASE-QUOTE symbols")
    parser.add_argument("--levels", type=_levels, default=None,
                        help="price levels per side (default: each venue's own)")
    return parser.parse_args(argv)


def _venue(text: str) -> str:
    name = text.strip().lower()
    if name != "all" and name not in SIMULATORS:
        raise argparse.ArgumentTypeError(f"unknown venue {text!r}: choose from {', '.join(SIMULATORS)}, or all")
    return name


def _venues(chosen: list[str]) -> list[str]:
    return list(SIMULATORS) if "all" in chosen else list(dict.fromkeys(chosen))


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
    if not 10 <= value <= 5000:  # MarketSim keeps at least 10 levels a side
        raise argparse.ArgumentTypeError(f"levels must be 10..5000, got {value}")
    return value


def _describe(venue: str, sim: SimServer) -> str:
    """One line per venue; Binance's names a stream URL and a REST call to try by hand."""
    if venue != "binance":
        return f"{venue}: ws {sim.ws_url}  rest {sim.rest_url}"
    first = next(iter(sim.markets.values())).spec.venue_symbol  # type: ignore[attr-defined]
    streams = "/".join(f"{first.lower()}@{s}" for s in ("depth@100ms", "trade", "bookTicker"))
    return (f"binance: ws {sim.ws_url}  rest {sim.rest_url}  (try {sim.ws_url}/stream?streams={streams} and "
            f"{sim.rest_url}/api/v3/depth?symbol={first}&limit=5000)")


async def _serve(args: argparse.Namespace) -> None:
    venues = _venues(args.venue)
    sims = simulators(venues, args.symbols, seed=args.seed, interval=args.interval, levels=args.levels,
                      host=args.host, port=args.port)
    await serve(sims, _describe, f"{PROG}: {', '.join(venues)} simulator(s), seed {args.seed}, symbols "
                                 f"{', '.join(args.symbols)}")


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(args))
    except LivefeedError as exc:  # e.g. the port is taken, or the host is not an address of this machine
        sys.exit(f"{PROG}: {exc}")


if __name__ == "__main__":
    main()
