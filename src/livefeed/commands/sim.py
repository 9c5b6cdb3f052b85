"""``livefeed sim``: run the venue simulators alone, for other clients (or other processes' feeds)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
from typing import Any

__all__ = ["add_parser", "run", "OTHER_VENUES"]

OTHER_VENUES = ("coinbase", "kraken", "bybit", "okx")
"""Simulators other modules may provide as ``livefeed.sim.<venue>``; loaded when importable."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("sim", help="run the exchange simulators on loopback until Ctrl-C")
    p.add_argument("symbols", nargs="*", default=["BTC-USDT", "ETH-USDT"], help="canonical symbols to simulate")
    p.add_argument("--port", type=int, default=0, help="Binance simulator port (0: any free port)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--interval", type=float, default=0.1, help="seconds between market steps")


def _simulators(args: argparse.Namespace) -> list[tuple[str, Any]]:
    from ..sim import BinanceSim

    sims: list[tuple[str, Any]] = [("binance", BinanceSim(args.symbols, seed=args.seed, interval=args.interval,
                                                          port=args.port))]
    for venue in OTHER_VENUES:
        try:
            module = importlib.import_module(f"livefeed.sim.{venue}")
        except ImportError:
            continue
        cls = next((getattr(module, n) for n in getattr(module, "__all__", []) if n.endswith("Sim")), None)
        if cls is not None:
            with contextlib.suppress(TypeError):
                sims.append((venue, cls(args.symbols, seed=args.seed)))
    return sims


async def _serve(args: argparse.Namespace) -> None:
    sims = _simulators(args)
    async with contextlib.AsyncExitStack() as stack:
        for venue, sim in sims:
            await stack.enter_async_context(sim)
            print(f"{venue}: ws {sim.ws_url}  rest {sim.rest_url}", flush=True)
        print("endpoints={" + ", ".join(f"'{v}': '{s.rest_url}'" for v, s in sims) + "}  (Ctrl-C stops)", flush=True)
        await asyncio.Event().wait()


def run(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0
