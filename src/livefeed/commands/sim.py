"""``livefeed sim``: run the venue simulators alone, for other clients (or other processes' feeds)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from ..errors import LivefeedError
from .arguments import check_port_free, interval, port, symbol

__all__ = ["add_parser", "run", "endpoints_line"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("sim", help="run the exchange simulators on loopback until Ctrl-C")
    p.add_argument("symbols", nargs="*", type=symbol, default=["BTC-USDT", "ETH-USDT"],
                   help="canonical BASE-QUOTE symbols to simulate")
    p.add_argument("--port", type=port, default=0, help="Binance simulator port (0: any free port)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--interval", type=interval, default=0.1, help="seconds between market steps (every venue)")


def _simulators(args: argparse.Namespace) -> list[tuple[str, Any]]:
    from ..sim import SIMULATORS

    symbols = list(dict.fromkeys(args.symbols))
    sims: list[tuple[str, Any]] = []
    for venue, cls in SIMULATORS.items():
        where = {"port": args.port} if venue == "binance" else {}  # --port is Binance's; the others pick free ports
        sims.append((venue, cls(symbols, seed=args.seed, interval=args.interval, **where)))  # type: ignore[call-arg]
    return sims


def endpoints_line(sims: list[tuple[str, Any]]) -> str:
    """``endpoints={...}`` a ``Feed`` takes as it is: each venue's own WebSocket path and REST base."""
    return "endpoints={" + ", ".join(f"'{v}': {{'ws': '{s.ws_url}', 'rest': '{s.rest_url}'}}" for v, s in sims) + "}"


async def _serve(args: argparse.Namespace) -> None:
    sims = _simulators(args)
    async with contextlib.AsyncExitStack() as stack:
        for venue, sim in sims:
            try:
                await stack.enter_async_context(sim)
            except OSError as exc:
                raise LivefeedError(f"the {venue} simulator could not listen: {exc.strerror or exc}") from None
            print(f"{venue}: ws {sim.ws_url}  rest {sim.rest_url}", flush=True)
        print(f"{endpoints_line(sims)}  (Ctrl-C stops)", flush=True)
        await asyncio.Event().wait()


def run(args: argparse.Namespace) -> int:
    check_port_free(args.port, "--port")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0
