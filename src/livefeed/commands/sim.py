"""``livefeed sim``: run the venue simulators alone, for other clients (or other processes' feeds).

``simulators`` and ``serve`` are shared with ``python -m livefeed.sim``, which runs a chosen few of them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..errors import LivefeedError
from .arguments import check_port_free, interval, port, symbol

if TYPE_CHECKING:
    from ..sim import SimServer

__all__ = ["add_parser", "run", "simulators", "serve", "endpoints_line"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("sim", help="run the exchange simulators on loopback until Ctrl-C")
    p.add_argument("symbols", nargs="*", type=symbol, default=["BTC-USDT", "ETH-USDT"],
                   help="canonical BASE-QUOTE symbols to simulate")
    p.add_argument("--port", type=port, default=0, help="Binance simulator port (0: any free port)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--interval", type=interval, default=0.1, help="seconds between market steps (every venue)")


def simulators(venues: Iterable[str], symbols: Iterable[str], *, seed: int, interval: float,
               levels: int | None = None, host: str = "127.0.0.1", port: int = 0) -> list[tuple[str, SimServer]]:
    """One simulator per venue of ``sim.SIMULATORS``, in the order given; ``port`` is the first one's (0: any free
    port), the others take free ports. ``levels=None`` keeps each venue's own book depth."""
    from ..sim import SIMULATORS

    symbols = list(dict.fromkeys(symbols))
    depth = {} if levels is None else {"levels": levels}
    return [
        (venue, SIMULATORS[venue](symbols, seed=seed, interval=interval, host=host,
                                  port=port if i == 0 else 0, **depth))
        for i, venue in enumerate(dict.fromkeys(venues))
    ]


def endpoints_line(sims: list[tuple[str, Any]]) -> str:
    """``endpoints={...}`` a ``Feed`` takes as it is: each venue's own WebSocket path and REST base."""
    return "endpoints={" + ", ".join(f"'{v}': {{'ws': '{s.ws_url}', 'rest': '{s.rest_url}'}}" for v, s in sims) + "}"


def _describe(venue: str, sim: SimServer) -> str:
    return f"{venue}: ws {sim.ws_url}  rest {sim.rest_url}"


async def serve(sims: list[tuple[str, SimServer]], describe: Callable[[str, SimServer], str] = _describe,
                header: str | None = None) -> None:
    """Start every simulator, then print ``header``, one line per venue and the ``endpoints=`` line, and serve until
    cancelled.

    A simulator that cannot listen (port taken, host not of this machine) is one ``LivefeedError`` naming it.
    """
    async with contextlib.AsyncExitStack() as stack:
        for venue, sim in sims:
            try:
                await stack.enter_async_context(sim)
            except OSError as exc:
                reason = exc.strerror or exc
                raise LivefeedError(f"the {venue} simulator cannot listen on {sim.host}: {reason}") from None
        if header is not None:
            print(header)
        for venue, sim in sims:
            print(describe(venue, sim))
        print(f"{endpoints_line(sims)}  (Ctrl-C stops)", flush=True)
        await asyncio.Event().wait()


def run(args: argparse.Namespace) -> int:
    check_port_free(args.port, "--port")
    from ..sim import SIMULATORS

    sims = simulators(SIMULATORS, args.symbols, seed=args.seed, interval=args.interval, port=args.port)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(sims))
    return 0
