"""How market-like the simulators are, in numbers: ``python -m livefeed.sim.realism --seed 1 --steps 3000``.

Steps every venue's book of one asset on the shared clock (100 ms a step, as the simulators' default interval)
and prints, per venue, the spread, how far the book reaches and the depth within 10 bp / 50 bp / 1% of mid, then,
per pair of venues, how often and for how long their quotes were crossed and how far apart their mids were.
The tests in ``tests/sim/test_realism.py`` assert on the same figures.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .coinbase import coinbase_spec
from .kraken_wire import kraken_spec
from .market import MarketSim
from .specs import SymbolSpec, spec_for

__all__ = ["VENUE_QUOTES", "PairStats", "RunStats", "venue_markets", "run", "main"]

T0 = 1_700_000_000_000
STEP_MS = 100
VENUE_QUOTES = {"binance": "USDT", "bybit": "USDT", "okx": "USDT", "coinbase": "USD", "kraken": "USD"}
_SPEC_FOR: dict[str, Callable[[str], SymbolSpec]] = {"coinbase": coinbase_spec, "kraken": kraken_spec}


@dataclass(slots=True)
class PairStats:
    """Two venues over a run: steps crossed (one's bid above the other's ask), the longest crossed streak, and
    the distance between their mids in basis points."""

    crossed: int = 0
    longest: int = 0
    streak: int = 0
    mid_gaps_bp: list[float] = field(default_factory=list)

    def add(self, a: tuple[float, float], b: tuple[float, float]) -> None:
        (bid_a, ask_a), (bid_b, ask_b) = a, b
        self.mid_gaps_bp.append(abs((bid_a + ask_a) - (bid_b + ask_b)) / (bid_a + ask_a) * 1e4)
        if bid_a > ask_b or bid_b > ask_a:
            self.crossed += 1
            self.streak += 1
            self.longest = max(self.longest, self.streak)
        else:
            self.streak = 0


@dataclass(slots=True)
class RunStats:
    steps: int
    pairs: dict[tuple[str, str], PairStats]
    identical_quotes: dict[tuple[str, str], int]
    """Steps at which two venues showed exactly the same best bid and ask."""
    spreads_bp: dict[str, list[float]]
    mids: dict[str, list[float]]
    trade_sizes: dict[str, list[float]]


def venue_markets(seed: int = 1, base: str = "BTC", start_ms: int = T0) -> dict[str, MarketSim]:
    """Each venue's book of ``base`` as its simulator builds it (its grid, its profile), opened at ``start_ms``."""
    return {
        venue: MarketSim(_SPEC_FOR.get(venue, spec_for)(f"{base}-{quote}"), seed, venue=venue, start_ms=start_ms)
        for venue, quote in VENUE_QUOTES.items()
    }


def run(markets: dict[str, MarketSim], steps: int, start_ms: int = T0) -> RunStats:
    """Step every market ``steps`` times, ``STEP_MS`` apart, and gather the figures."""
    pairs = list(itertools.combinations(markets, 2))
    stats = RunStats(
        steps, {p: PairStats() for p in pairs}, dict.fromkeys(pairs, 0),
        {v: [] for v in markets}, {v: [] for v in markets}, {v: [] for v in markets},
    )
    for i in range(steps):
        for venue, market in markets.items():
            stats.trade_sizes[venue] += [float(t.qty) for t in market.step(start_ms + STEP_MS * (i + 1)).trades]
        quotes = {venue: market.best_bid_ask() for venue, market in markets.items()}
        for venue, (bid, ask) in quotes.items():
            stats.mids[venue].append((bid + ask) / 2)
            stats.spreads_bp[venue].append((ask - bid) / ((bid + ask) / 2) * 1e4)
        for a, b in pairs:
            stats.pairs[(a, b)].add(quotes[a], quotes[b])
            stats.identical_quotes[(a, b)] += quotes[a] == quotes[b]
    return stats


def _depth(market: MarketSim, band: float) -> float:
    book = market.true_book()
    bid, ask = market.best_bid_ask()
    mid = (bid + ask) / 2
    low, high = mid * (1 - band), mid * (1 + band)
    return sum(q for p, q in book["bids"].items() if p >= low) + sum(q for p, q in book["asks"].items() if p <= high)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m livefeed.sim.realism", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3000, help="steps of 100 ms (3000 = five minutes)")
    parser.add_argument("--base", default="BTC")
    args = parser.parse_args(argv)
    markets = venue_markets(args.seed, args.base)
    started = time.process_time()
    stats = run(markets, args.steps)
    cpu_us = (time.process_time() - started) / (args.steps * len(markets)) * 1e6  # includes the bookkeeping here
    print(f"# seed {args.seed}, {args.base}, {args.steps} steps of {STEP_MS} ms")
    for venue, market in markets.items():
        book = market.true_book()
        mid = stats.mids[venue][-1]
        reach = (mid - min(book["bids"])) / mid, (max(book["asks"]) - mid) / mid
        sizes = stats.trade_sizes[venue]
        cv = statistics.pstdev(sizes) / statistics.fmean(sizes) if sizes else 0.0
        print(f"{venue:9s} spread_bp median={statistics.median(stats.spreads_bp[venue]):.2f} "
              f"reach=-{reach[0]:.1%}/+{reach[1]:.1%} levels={len(book['bids'])}/{len(book['asks'])} "
              f"depth 10bp/50bp/1%={_depth(market, 0.001):.2f}/{_depth(market, 0.005):.2f}/{_depth(market, 0.01):.2f} "
              f"trades={len(sizes)} distinct_sizes={len(set(sizes))} size_cv={cv:.2f}")
    for (a, b), pair in stats.pairs.items():
        print(f"{a}/{b}: crossed {pair.crossed} of {stats.steps} steps, longest {pair.longest}, "
              f"mid gap bp median={statistics.median(pair.mid_gaps_bp):.2f} max={max(pair.mid_gaps_bp):.2f}, "
              f"identical quotes {stats.identical_quotes[(a, b)]}")
    crossed = sum(p.crossed for p in stats.pairs.values())
    print(f"REALISM pairs={len(stats.pairs)} steps={stats.steps} crossed_pair_steps={crossed} "
          f"longest_crossed={max(p.longest for p in stats.pairs.values())} "
          f"max_mid_gap_bp={max(max(p.mid_gaps_bp) for p in stats.pairs.values()):.2f} cpu_us_per_step={cpu_us:.0f}")


if __name__ == "__main__":
    main()
