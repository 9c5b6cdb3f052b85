"""The exact L2 order book every venue adapter feeds.

Layout, chosen by measurement (``.venv/bin/python bench/book_structures.py``): each side is a plain ``dict``
price -> size plus a plain ``list`` of its prices kept sorted with C ``bisect``, ordered worst-to-best so the best
price is always ``keys[-1]`` (bids stored as-is, asks stored negated). Size changes, the bulk of all traffic, touch
only the dict; inserts and removals cluster near the top of the book, i.e. near the end of the list, so the C-level
insert/delete shifts only the handful of pointers behind them. Reading the best bid/ask is one index plus one dict
lookup.

Measured with ``.venv/bin/python bench/book_structures.py`` (seeded workload: 1,000 levels per side, 100,000
messages of 1-40 level changes, ~70% size changes / ~15% removals / ~15% inserts biased to the top, best bid + best
ask read after every message; Python 3.11.7, CPU seconds, best of 5, on a shared 2-core box)::

    sorteddict_keyfunc          2.615 s   38,237 msg/s   SortedDict, bids via key=lambda k: -k (textbook seed)
    sorteddict_negated          2.222 s   45,001 msg/s   SortedDict, bid keys negated
    dict_sortedlist             1.349 s   74,136 msg/s   dict + SortedList of keys
    dict_sortedlist_cachedbest  1.450 s   68,986 msg/s   same, best price cached
    dict_bisect_head            1.253 s   79,796 msg/s   dict + bisect-sorted list, best at [0]
    dict_bisect_tail            1.083 s   92,315 msg/s   dict + bisect-sorted list, best at [-1]
    dict_bisect_tail_nocalls    0.907 s  110,285 msg/s   same, removals as `in` + `del`  <- this module
    livefeed_orderbook          1.058 s   94,550 msg/s   this class, through its public API

Run-to-run noise on that box is about +-15%, so the last three are a tie; every run ranked the bisect lists above
SortedList above SortedDict. With ``--levels 20000 --msgs 30000 --repeat 3`` (a Coinbase-sized full book; wall
clock) the best-at-[0] list collapses to 19,234 msg/s because every top-of-book insert shifts the whole list, while
best-at-[-1] keeps ~80,000 msg/s (SortedList 50,837, SortedDict 30,135-36,859): hence keys stored worst-to-best.
The price of this layout is an O(n) pointer shift for an insert/remove deep in the book, which real feeds rarely
send and which is still a C memmove.

Prices and sizes are floats parsed from the venue's strings, so equal strings give equal floats and dict lookups
are exact; no ``Decimal`` on the hot path.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable

import numpy as np

from livefeed.model import Level

__all__ = ["OrderBook"]


class OrderBook:
    """One venue's L2 book for one symbol: absolute-size snapshots and deltas in, best prices and depth out."""

    __slots__ = ("_ask_keys", "_asks", "_bid_keys", "_bids", "sequence", "symbol", "venue")

    def __init__(self, venue: str = "", symbol: str = "") -> None:
        self.venue = venue
        self.symbol = symbol
        self.sequence: int | None = None
        self._bids: dict[float, float] = {}
        self._asks: dict[float, float] = {}
        # Worst-to-best so the best price sits at [-1], where most inserts/removals land (cheap list shifts).
        self._bid_keys: list[float] = []  # bid prices, ascending
        self._ask_keys: list[float] = []  # negated ask prices, ascending

    # -- updates ---------------------------------------------------------------------------------------------

    def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level], sequence: int | None = None) -> None:
        """Replace the whole book (size-0 levels are ignored) and set ``sequence``."""
        self._bids = {price: size for price, size in bids if size}
        self._asks = {price: size for price, size in asks if size}
        self._bid_keys = sorted(self._bids)
        self._ask_keys = sorted([-price for price in self._asks])
        self.sequence = sequence

    def apply_delta(self, bids: Iterable[Level], asks: Iterable[Level], sequence: int | None = None) -> None:
        """Apply absolute new sizes: size 0 removes a level (absent ones are ignored), anything else sets it.

        Called once per venue message, so the loops use only local names and bytecode-level dict operations.
        """
        levels, keys = self._bids, self._bid_keys
        for price, size in bids:
            if size:
                if price not in levels:
                    insort(keys, price)
                levels[price] = size
            elif price in levels:
                del levels[price]
                del keys[bisect_left(keys, price)]
        levels, keys = self._asks, self._ask_keys
        for price, size in asks:
            if size:
                if price not in levels:
                    insort(keys, -price)
                levels[price] = size
            elif price in levels:
                del levels[price]
                del keys[bisect_left(keys, -price)]
        if sequence is not None:
            self.sequence = sequence

    def clear(self) -> None:
        """Drop every level and forget the sequence, e.g. before a resync."""
        self._bids, self._asks, self._bid_keys, self._ask_keys = {}, {}, [], []
        self.sequence = None

    # -- top of book -----------------------------------------------------------------------------------------

    @property
    def best_bid(self) -> Level | None:
        """Highest bid as ``(price, size)``, or ``None`` when there are no bids."""
        keys = self._bid_keys
        if not keys:
            return None
        price = keys[-1]
        return price, self._bids[price]

    @property
    def best_ask(self) -> Level | None:
        """Lowest ask as ``(price, size)``, or ``None`` when there are no asks."""
        keys = self._ask_keys
        if not keys:
            return None
        price = -keys[-1]
        return price, self._asks[price]

    @property
    def spread(self) -> float | None:
        """Best ask minus best bid (negative when crossed); ``None`` unless both sides have levels."""
        if not self._bid_keys or not self._ask_keys:
            return None
        return -self._ask_keys[-1] - self._bid_keys[-1]

    @property
    def mid(self) -> float | None:
        """Midpoint of best bid and best ask; ``None`` unless both sides have levels."""
        if not self._bid_keys or not self._ask_keys:
            return None
        return (self._bid_keys[-1] - self._ask_keys[-1]) / 2.0

    @property
    def crossed(self) -> bool:
        """True when best bid >= best ask, which in a correct feed means a missed update: resync."""
        return bool(self._bid_keys and self._ask_keys) and self._bid_keys[-1] >= -self._ask_keys[-1]

    @property
    def bid_count(self) -> int:
        return len(self._bid_keys)

    @property
    def ask_count(self) -> int:
        return len(self._ask_keys)

    def __len__(self) -> int:
        return len(self._bid_keys) + len(self._ask_keys)

    # -- depth -----------------------------------------------------------------------------------------------

    def bids(self, n: int | None = None) -> list[Level]:
        """The best ``n`` bids (all when ``None``), highest first."""
        levels = self._bids
        return [(price, levels[price]) for price in reversed(_top(self._bid_keys, n))]

    def asks(self, n: int | None = None) -> list[Level]:
        """The best ``n`` asks (all when ``None``), lowest first."""
        levels = self._asks
        return [(-key, levels[-key]) for key in reversed(_top(self._ask_keys, n))]

    def depth_within(self, band: float) -> tuple[float, float]:
        """Total (bid size, ask size) priced within ``band`` (a fraction of mid, 0.001 = 10 bp) of mid.

        Bids count when price >= mid * (1 - band), asks when price <= mid * (1 + band); ``(0.0, 0.0)`` without a
        mid, since a one-sided book has no meaningful centre.
        """
        bid_keys, ask_keys = self._band_keys(band)
        bids, asks = self._bids, self._asks
        return (
            float(sum([bids[price] for price in reversed(bid_keys)])),
            float(sum([asks[-key] for key in reversed(ask_keys)])),
        )

    def cumulative_depth(self, band: float | None = None, levels: int | None = None) -> dict[str, np.ndarray]:
        """Depth-chart arrays, best first: ``bid_price``, ``bid_cum``, ``ask_price``, ``ask_cum`` (float64).

        ``*_cum`` is the running total of size from the best level outwards. ``band`` keeps only levels within
        that fraction of mid (as in :meth:`depth_within`; all arrays empty when there is no mid), ``levels`` keeps
        at most that many levels per side; both may be combined.
        """
        if band is None:
            bid_keys, ask_keys = self._bid_keys, self._ask_keys
        else:
            bid_keys, ask_keys = self._band_keys(band)
        bid_keys, ask_keys = _top(bid_keys, levels)[::-1], _top(ask_keys, levels)[::-1]
        bids, asks = self._bids, self._asks
        return {
            "bid_price": np.array(bid_keys, dtype=np.float64),
            "bid_cum": np.cumsum(np.fromiter((bids[p] for p in bid_keys), np.float64, len(bid_keys))),
            "ask_price": -np.array(ask_keys, dtype=np.float64),
            "ask_cum": np.cumsum(np.fromiter((asks[-k] for k in ask_keys), np.float64, len(ask_keys))),
        }

    def imbalance(self, levels: int = 10) -> float | None:
        """(bid size - ask size) / (bid size + ask size) over the top ``levels`` per side, in [-1, 1].

        ``None`` when there is nothing to weigh (empty book or ``levels`` <= 0).
        """
        bids, asks = self._bids, self._asks
        bid_size = sum([bids[price] for price in _top(self._bid_keys, levels)])
        ask_size = sum([asks[-key] for key in _top(self._ask_keys, levels)])
        total = bid_size + ask_size
        if not total:
            return None
        return (bid_size - ask_size) / total

    def _band_keys(self, band: float) -> tuple[list[float], list[float]]:
        """The stored key slices (worst-to-best) of levels within ``band`` of mid; empty without a mid."""
        if band < 0:
            raise ValueError(f"band must be a non-negative fraction of mid, got {band!r}")
        mid = self.mid
        if mid is None:
            return [], []
        bid_keys, ask_keys = self._bid_keys, self._ask_keys
        # Negation is exact, so -price >= -(mid * (1 + band)) selects exactly price <= mid * (1 + band).
        return (
            bid_keys[bisect_left(bid_keys, mid * (1 - band)) :],
            ask_keys[bisect_left(ask_keys, -(mid * (1 + band))) :],
        )

    # -- whole-book views ------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, dict[float, float]]:
        """Plain ``{"bids": {price: size}, "asks": {...}}`` copies, e.g. for JSON or comparisons in tests."""
        return {"bids": dict(self._bids), "asks": dict(self._asks)}

    def copy(self) -> OrderBook:
        """An independent copy (levels, venue, symbol, sequence) that later updates to either book don't touch."""
        other = OrderBook(self.venue, self.symbol)
        other.sequence = self.sequence
        other._bids, other._asks = self._bids.copy(), self._asks.copy()
        other._bid_keys, other._ask_keys = self._bid_keys.copy(), self._ask_keys.copy()
        return other

    def __eq__(self, other: object) -> bool:
        """Same levels on both sides; venue, symbol and sequence are labels, not state, so they are ignored."""
        if not isinstance(other, OrderBook):
            return NotImplemented
        return self._bids == other._bids and self._asks == other._asks

    __hash__ = None  # type: ignore[assignment]  # mutable: equal books must not collide as dict keys over time

    def price_decimals(self, sample: int = 50) -> int:
        """Decimals of the venue's price grid, read off the best ``sample`` levels per side (at most 8): prices
        print rounded to the tick, never as float noise like ``59727.150000000001``."""
        prices = [*self._bid_keys[-sample:], *(-k for k in self._ask_keys[-sample:])]
        for decimals in range(9):
            if all(abs(p - round(p, decimals)) <= 1e-9 * max(1.0, abs(p)) for p in prices):
                return decimals
        return 8

    def __repr__(self) -> str:
        bid, ask = self.best_bid, self.best_ask
        d = self.price_decimals()
        best = f"{f'{bid[0]:,.{d}f}' if bid else '-'}/{f'{ask[0]:,.{d}f}' if ask else '-'}"
        label = " ".join(part for part in ("OrderBook", self.venue, self.symbol) if part)
        return f"<{label} bids={self.bid_count} asks={self.ask_count} best={best} seq={self.sequence}>"

    def __str__(self) -> str:
        """The top five levels per side as a ladder, prices at the tick, sizes with thousands separators."""
        d = self.price_decimals()
        rows = [repr(self)]
        rows += [f"  ask {price:>18,.{d}f} {size:>16,.8g}" for price, size in reversed(self.asks(5))]
        spread = self.spread
        rows.append(f"  {'-' * 20} spread {spread:,.{d}f}" if spread is not None else f"  {'-' * 20}")
        rows += [f"  bid {price:>18,.{d}f} {size:>16,.8g}" for price, size in self.bids(5)]
        return "\n".join(rows)


def _top(keys: list[float], n: int | None) -> list[float]:
    """The last ``n`` stored keys (the best ``n`` levels, still worst-to-best); all when ``n`` is ``None``."""
    if n is None:
        return keys
    return keys[max(len(keys) - n, 0) :]
