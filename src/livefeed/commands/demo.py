"""``livefeed demo``: one feed on all five venues' simulators (or the real venues) with live figures in the
terminal: per book best bid / ask, spread, trades/s, gaps and resyncs; messages/s and reconnects; the consolidated
cross-venue BTC quote; a BTC perpetual on every chosen venue that has perpetuals, with its basis against spot and
its funding. ``--options`` adds Deribit: the BTC perpetual, the nearest quarterly future and the options of the two
nearest quarterly expiries around the money (found with :func:`livefeed.discovery.fetch_instruments`, from the
simulator's listing or Deribit's), with the live smile in the terminal and on the page."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..derivatives import Funding, OptionTicker
from ..errors import LivefeedError
from ..feed import Feed
from ..model import Event, Trade
from ..naming import Kind, kind_of
from ..registry import MARKET_VENUES, MARKETS
from ..symbols import canonical
from .arguments import interval, non_negative_seconds, port, writable_directory
from .demo_derivatives import deribit_sim_symbols, derivatives_lines, option_chain, perp_subscriptions

__all__ = ["add_parser", "run", "MARKET_VENUES", "default_subscriptions", "perp_subscriptions"]

FAULTS = ("drop", "stall", "gap", "malformed", "refuse", "slow")
_USD_VENUES = {"coinbase", "kraken"}  # quote in USD; the others in USDT


def _parse_fault(text: str) -> tuple[str, float]:
    name, _, at = text.partition("@")
    if name not in FAULTS:
        raise argparse.ArgumentTypeError(f"unknown fault {name!r}; choose from {', '.join(FAULTS)}")
    try:
        return name, non_negative_seconds(at or "3")
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"fault time must be seconds from the start, e.g. {name}@5") from None


def _parse_venues(text: str) -> list[str]:
    venues = [v.strip().lower() for v in text.split(",") if v.strip()]
    unknown = [v for v in venues if v not in MARKET_VENUES]
    if unknown or not venues:
        raise argparse.ArgumentTypeError(f"unknown venue(s) {unknown}; choose from {', '.join(MARKET_VENUES)}")
    return venues


def _parse_symbols(text: str) -> str:
    """Bases (``BTC``) or full symbols (``BTC-USDT``), comma-separated; each checked here, before anything starts."""
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise argparse.ArgumentTypeError("no symbols given, e.g. --symbols BTC,ETH or --symbols BTC-USDT")
    for item in items:
        try:
            canonical(item if "-" in item else f"{item}-USD")
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"symbol {item!r} must be a base such as BTC or a BASE-QUOTE symbol such as BTC-USDT") from None
    return text


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = sub.add_parser("demo", help="stream from the local simulators (or --live) and show live figures")
    demo.add_argument("--venues", type=_parse_venues, default=list(MARKET_VENUES),
                      help=f"comma-separated venues (default: all of {','.join(MARKET_VENUES)})")
    demo.add_argument("--symbols", type=_parse_symbols, default="BTC,ETH",
                      help="comma-separated bases (quoted in USD on coinbase/kraken, USDT elsewhere) "
                           "or full BASE-QUOTE symbols")
    demo.add_argument("--duration", type=non_negative_seconds, default=None,
                      help="stop after this many seconds (default: Ctrl-C)")
    demo.add_argument("--export", type=Path, default=None, metavar="DIR", help="write captured frames as Parquet")
    demo.add_argument("--live", action="store_true", help="connect to the real exchanges instead of the simulators")
    demo.add_argument("--seed", type=int, default=1, help="simulator seed")
    demo.add_argument("--interval", type=interval, default=0.1, help="simulator step interval in seconds")
    demo.add_argument("--fault", action="append", type=_parse_fault, default=[], metavar="NAME[@SECONDS]",
                      help=f"inject a fault into every simulator at a time: {', '.join(FAULTS)} (repeatable)")
    demo.add_argument("--chain", action="store_true",
                      help="also stream Ethereum events: a local anvil node with a traffic generator "
                           "(with --live: the node given by --eth-node)")
    demo.add_argument("--eth-node", default=None, metavar="WS_URL", help="Ethereum node for --chain --live")
    demo.add_argument("--serve", type=port, default=5006, metavar="PORT",
                      help="serve the live dashboard (first venue's books) on http://127.0.0.1:PORT (0: any free port)")
    demo.add_argument("--no-serve", dest="serve", action="store_const", const=None, help="no dashboard page")
    demo.add_argument("--options", action="store_true",
                      help="also stream Deribit: BTC perpetual, nearest quarterly future and two expiries of options, "
                           "with a live smile")


def run(args: argparse.Namespace) -> int:
    if args.export is not None:  # a target that cannot be written fails now, not after the run it would lose
        args.export = writable_directory(args.export, "--export")
    if args.eth_node and not args.chain:
        raise LivefeedError("--eth-node is only used with --chain")
    return asyncio.run(_demo(args))


def default_subscriptions(venues: Sequence[str], symbols: str) -> dict[str, list[str]]:
    """Per venue, the symbols to follow: ``BTC`` becomes ``BTC-USD`` on USD venues and ``BTC-USDT`` elsewhere."""
    out: dict[str, list[str]] = {}
    for venue in venues:
        quote = "USD" if venue in _USD_VENUES else "USDT"
        wanted = (x.strip() for x in symbols.split(","))
        out[venue] = list(dict.fromkeys(canonical(s if "-" in s else f"{s}-{quote}") for s in wanted if s))
    return out


async def _demo(args: argparse.Namespace) -> int:
    by_venue = default_subscriptions(args.venues, args.symbols)
    subscriptions = [f"{venue}:{symbol}" for venue, symbols in by_venue.items() for symbol in symbols]
    by_source: dict[str, list[str]] = {**by_venue, **perp_subscriptions(args.venues)}
    venue_of = {source: venue for (venue, _kind), source in MARKETS.items()}
    subscriptions += [f"{venue_of[s]}:{symbol}" for s, symbols in by_source.items() if s not in by_venue
                      for symbol in symbols]
    if args.options:
        by_source["deribit"] = deribit_sim_symbols()
    async with contextlib.AsyncExitStack() as stack:
        endpoints: dict[str, Any] = {}
        sims: list[Any] = []
        if not args.live:
            from ..sim import SIMULATORS

            for source, symbols in by_source.items():
                sim = SIMULATORS[source](symbols=symbols, seed=args.seed, interval=args.interval)
                await stack.enter_async_context(sim)
                endpoints[source] = sim
                sims.append(sim)
                print(f"{source:<12} simulator on {sim.ws_url}", flush=True)
            print(f"(seed {args.seed}; --live connects to the real exchanges)", flush=True)
        if args.options:
            subscriptions += await option_chain(endpoints)
        if args.chain:
            subscriptions += await _start_chain(args, endpoints, stack)
        feed = Feed(subscriptions, channels=["trades", "book", "ticker"], endpoints=endpoints)
        trade_counts: Counter[tuple[str, str]] = Counter()
        latest: dict[tuple[str, str], Any] = {}

        def count(event: Event) -> None:
            kind = type(event)
            if kind is Trade:
                trade_counts[(event.venue, event.symbol)] += 1
            elif kind is Funding or kind is OptionTicker:
                latest[(event.venue, event.symbol)] = event

        feed.add_callback(count)
        await stack.enter_async_context(feed)
        if args.serve is not None:
            _serve_dashboard(feed, args.serve, stack)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        for name, at in args.fault:
            loop.call_later(at, _inject, sims, name)
        summary = await _show(feed, trade_counts, stop, args.duration, latest)
        print(summary)
        if args.export is not None:
            written = feed.export(args.export)
            for name, path in written.items():
                print(f"wrote {path} ({name})")
    return 0


async def _start_chain(
    args: argparse.Namespace, endpoints: dict[str, Any], stack: contextlib.AsyncExitStack
) -> list[str]:
    """Start anvil and a traffic generator (offline) or use ``--eth-node`` (live); returns the eth subscriptions."""
    if args.live:
        if not args.eth_node:
            raise LivefeedError("--chain --live needs --eth-node wss://... (a node URL, e.g. with your API key)")
        endpoints["eth"] = args.eth_node
        return ["eth:newHeads"]
    from ..chain.devnode.anvil import Anvil
    from ..chain.devnode.traffic import deploy, run_traffic

    try:
        node = await stack.enter_async_context(Anvil())
    except FileNotFoundError as exc:  # anvil is a system dependency, not a Python one
        raise LivefeedError(f"{exc} (or run `./dev test` once, which installs it)") from None
    deployment = await deploy(node.http_url)
    stack.push_async_callback(deployment.close)  # after the traffic stops (callbacks run last-in, first-out)
    traffic = asyncio.create_task(run_traffic(node.http_url, interval=0.3, seed=args.seed, deployment=deployment))

    async def stop_traffic() -> None:
        traffic.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await traffic

    stack.push_async_callback(stop_traffic)
    endpoints["eth"] = node.ws_url
    print(f"{'eth':<9} anvil on {node.ws_url} with a traffic generator", flush=True)
    return ["eth:newHeads", f"eth:transfers:{deployment.usdc.address}", f"eth:transfers:{deployment.weth.address}",
            f"eth:swaps:{deployment.pair.address}"]


def _chain_line(feed: Feed) -> str | None:
    frames = feed.frames
    if "blocks" not in frames or not len(frames["blocks"]):
        return None
    blocks = frames["blocks"].to_pandas()
    last = blocks.iloc[-1]
    counts = ", ".join(f"{name}={frames[name].total}" for name in ("transfers", "swaps") if name in frames)
    return f"eth: block {int(last['number'])}, base fee {float(last['base_fee']) / 1e9:.3f} gwei, {counts}"


def _serve_dashboard(feed: Feed, port: int, stack: contextlib.AsyncExitStack) -> None:
    from ..viz import serve_dashboard

    try:
        server = serve_dashboard(feed, port=port)  # every venue of the demo, with a market picker
    except OSError as exc:  # e.g. the port is taken: the terminal view still runs
        print(f"dashboard not served on port {port}: {exc}; try --serve 0", flush=True)
        return
    stack.callback(server.stop)
    print(f"dashboard on {server.url}", flush=True)


def _inject(sims: list[Any], name: str) -> None:
    print(f"\n>>> injecting fault: {name}", flush=True)
    for sim in sims:
        if name == "drop":
            sim.drop_connections()
        elif name == "stall":
            sim.stall(True)
            asyncio.get_running_loop().call_later(40.0, sim.stall, False)
        elif name == "gap":
            sim.skip_updates(2)
        elif name == "malformed":
            sim.send_malformed(1)
        elif name == "refuse":
            sim.refuse_connections(3.0)
        elif name == "slow":
            sim.slow_client(0.05)


def _fmt(value: float | None, width: int) -> str:
    return f"{value:>{width}.2f}" if value is not None else f"{'-':>{width}}"


async def _show(feed: Feed, trade_counts: Counter[tuple[str, str]], stop: asyncio.Event,
                duration: float | None, latest: dict[tuple[str, str], Any]) -> str:
    started = time.monotonic()
    cpu_started = time.process_time()
    last_messages = 0
    last_trades: Counter[tuple[str, str]] = Counter()
    last_t = started
    tty = sys.stdout.isatty()
    drawn = 0
    usd_venues = {sub.venue for sub in feed.subscriptions if sub.venue in MARKET_VENUES}
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        now = time.monotonic()
        elapsed = max(now - last_t, 1e-9)
        last_t = now
        stats = feed.stats()
        messages = int(stats["messages"].sum()) if len(stats) else 0
        msg_rate = (messages - last_messages) / elapsed
        last_messages = messages
        reconnects = int(stats["reconnects"].sum()) if len(stats) else 0
        malformed = int(stats["malformed"].sum()) if len(stats) else 0
        sync = {(row["venue"], row["symbol"]): row for row in feed.book_stats().to_dict("records")}
        lines = [f"livefeed demo  t={now - started:6.1f}s  msgs/s={msg_rate:8.1f}  reconnects={reconnects}  "
                 f"malformed={malformed}"]
        lines.append(f"{'venue':<9} {'symbol':<17} {'bid':>10} {'ask':>10} {'spread':>7} {'trades/s':>8} "
                     f"{'gaps':>5} {'resyncs':>7}")
        for sub in feed.subscriptions:
            if sub.venue == "eth" or kind_of(sub.symbol) is Kind.OPTION:  # options: in the smile line
                continue
            book = feed.books.get((sub.venue, sub.symbol))
            bid = book.best_bid if book is not None else None
            ask = book.best_ask if book is not None else None
            key = (sub.venue, sub.symbol)
            trades = (trade_counts[key] - last_trades[key]) / elapsed
            row = sync.get(key, {})
            spread = ask[0] - bid[0] if bid and ask else None
            lines.append(f"{sub.venue:<9} {sub.symbol:<17} {_fmt(bid[0] if bid else None, 10)} "
                         f"{_fmt(ask[0] if ask else None, 10)} {_fmt(spread, 7)} {trades:>8.1f} "
                         f"{row.get('gaps', 0):>5} {row.get('resyncs', 0):>7}")
        if len(usd_venues) > 1:
            with contextlib.suppress(KeyError):
                quote = feed.consolidated("BTC-USD", quote_map={"USDT": "USD"})
                lines.append(f"consolidated BTC-USD (USDT as USD): best bid {_fmt(quote.bid, 0)} on {quote.bid_venue}, "
                             f"best ask {_fmt(quote.ask, 0)} on {quote.ask_venue}, spread {_fmt(quote.spread, 0)}")
        lines += derivatives_lines(feed, latest)
        chain = _chain_line(feed)
        if chain:
            lines.append(chain)
        last_trades = Counter(trade_counts)
        if tty and drawn:
            sys.stdout.write(f"\x1b[{drawn}F\x1b[J")
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        drawn = len(lines)
        if duration is not None and now - started >= duration:
            break
    wall = time.monotonic() - started
    cpu = time.process_time() - cpu_started
    return (f"summary: {last_messages} messages in {wall:.1f}s = {last_messages / wall:.0f} msgs/s; "
            f"process CPU {cpu:.1f}s ({100 * cpu / wall:.0f}% of one core, simulators included)")

