"""``livefeed demo``: a feed against the local simulators (or the real venues) with live figures in the terminal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections import Counter
from pathlib import Path

from ..feed import Feed
from ..model import Event, Trade

__all__ = ["add_parser", "run"]

FAULTS = ("drop", "stall", "gap", "malformed", "refuse", "slow")


def _parse_fault(text: str) -> tuple[str, float]:
    name, _, at = text.partition("@")
    if name not in FAULTS:
        raise argparse.ArgumentTypeError(f"unknown fault {name!r}; choose from {', '.join(FAULTS)}")
    try:
        return name, float(at or 3.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"fault time must be seconds, e.g. {name}@5") from None


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser("demo", help="stream from the local simulator (or --live) and show live figures")
    demo.add_argument("--symbols", default="BTC-USDT,ETH-USDT", help="comma-separated BASE-QUOTE symbols")
    demo.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: Ctrl-C)")
    demo.add_argument("--export", type=Path, default=None, metavar="DIR", help="write captured frames as Parquet")
    demo.add_argument("--live", action="store_true", help="connect to the real exchange instead of the simulator")
    demo.add_argument("--seed", type=int, default=1, help="simulator seed")
    demo.add_argument("--interval", type=float, default=0.1, help="simulator step interval in seconds")
    demo.add_argument("--fault", action="append", type=_parse_fault, default=[], metavar="NAME[@SECONDS]",
                      help=f"inject a simulator fault at a time: {', '.join(FAULTS)} (repeatable)")


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_demo(args))


async def _demo(args: argparse.Namespace) -> int:
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    subscriptions = [f"binance:{s}" for s in symbols]
    async with contextlib.AsyncExitStack() as stack:
        endpoints = {}
        sim = None
        if not args.live:
            from ..sim import BinanceSim

            sim = await stack.enter_async_context(BinanceSim(symbols=symbols, seed=args.seed, interval=args.interval))
            endpoints["binance"] = sim
            print(f"simulator on {sim.ws_url} (seed {args.seed}); --live for the real exchange", flush=True)
        feed = Feed(subscriptions, channels=["trades", "book", "ticker"], endpoints=endpoints)
        trade_counts: Counter[str] = Counter()

        def count(event: Event) -> None:
            if type(event) is Trade:
                trade_counts[event.symbol] += 1

        feed.add_callback(count)
        await stack.enter_async_context(feed)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        if sim is not None:
            for name, at in args.fault:
                loop.call_later(at, _inject, sim, name)
        await _show(feed, trade_counts, stop, args.duration)
        if args.export is not None:
            written = feed.export(args.export)
            for name, path in written.items():
                print(f"wrote {path} ({name})")
    return 0


def _inject(sim: object, name: str) -> None:
    print(f"\n>>> injecting fault: {name}", flush=True)
    if name == "drop":
        sim.drop_connections()  # type: ignore[attr-defined]
    elif name == "stall":
        sim.stall(True)  # type: ignore[attr-defined]
        asyncio.get_running_loop().call_later(40.0, sim.stall, False)  # type: ignore[attr-defined]
    elif name == "gap":
        sim.skip_updates(2)  # type: ignore[attr-defined]
    elif name == "malformed":
        sim.send_malformed(1)  # type: ignore[attr-defined]
    elif name == "refuse":
        sim.refuse_connections(3.0)  # type: ignore[attr-defined]
    elif name == "slow":
        sim.slow_client(0.05)  # type: ignore[attr-defined]


async def _show(feed: Feed, trade_counts: Counter[str], stop: asyncio.Event, duration: float | None) -> None:
    started = time.monotonic()
    last_messages = 0
    last_trades: Counter[str] = Counter()
    last_t = started
    tty = sys.stdout.isatty()
    drawn = 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        now = time.monotonic()
        elapsed = now - last_t
        last_t = now
        stats = feed.stats()
        messages = int(stats["messages"].sum()) if len(stats) else 0
        msg_rate = (messages - last_messages) / elapsed
        last_messages = messages
        reconnects = int(stats["reconnects"].sum()) if len(stats) else 0
        sync = {row["symbol"]: row for row in feed.book_stats().to_dict("records")}
        lines = [f"livefeed demo  t={now - started:6.1f}s  msgs/s={msg_rate:8.1f}  reconnects={reconnects}  "
                 f"malformed={int(stats['malformed'].sum()) if len(stats) else 0}"]
        lines.append(f"{'symbol':<10} {'bid':>12} {'ask':>12} {'spread':>9} {'trades/s':>9} {'gaps':>5} {'resyncs':>7}")
        for sub in feed.subscriptions:
            book = feed._books.get((sub.venue, sub.symbol))
            bid = book.best_bid if book is not None else None
            ask = book.best_ask if book is not None else None
            trades = (trade_counts[sub.symbol] - last_trades[sub.symbol]) / elapsed
            row = sync.get(sub.symbol, {})
            lines.append(
                f"{sub.symbol:<10} {bid[0] if bid else float('nan'):>12.2f} {ask[0] if ask else float('nan'):>12.2f} "
                f"{(ask[0] - bid[0]) if bid and ask else float('nan'):>9.2f} {trades:>9.1f} "
                f"{row.get('gaps', 0):>5} {row.get('resyncs', 0):>7}"
            )
        last_trades = Counter(trade_counts)
        if tty and drawn:
            sys.stdout.write(f"\x1b[{drawn}F\x1b[J")
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        drawn = len(lines)
        if duration is not None and now - started >= duration:
            break

