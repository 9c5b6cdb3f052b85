"""``PerpState``: what a simulated perpetual publishes besides its book: mark and index price, the funding rate and
its schedule, open interest and forced orders (liquidations), as seeded functions of the market's steps.

The index is the venue's view of the fair price; the mark sits a small, slowly wandering premium above or below it.
Funding settles every ``funding_interval_ms`` (8 h by default) on the UTC grid: when a step's time reaches the next
funding time the rate *rolls* (a new rate from the premium, the schedule moves one interval on), and
:meth:`PerpState.roll_funding` forces that roll at once (the fault the tests use). Open interest follows the
market's trades; a liquidation is a forced order a few basis points through the mark, at most one per step.
Prices are on the market's tick grid and sizes on its lot grid, as exact strings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .market import MarketSim, Step

__all__ = ["PerpState", "PerpChange", "ForcedOrder", "FUNDING_INTERVAL_MS"]

FUNDING_INTERVAL_MS = 8 * 3_600_000


@dataclass(frozen=True, slots=True)
class ForcedOrder:
    """A liquidation: ``side`` of the forced order (``"sell"`` closes a long), price and size as wire strings."""

    side: str
    price: str
    size: str
    time_ms: int


@dataclass(slots=True)
class PerpChange:
    """What one step changed."""

    mark: bool = False
    funding: bool = False
    open_interest: bool = False
    liquidation: ForcedOrder | None = None


class PerpState:
    """The derivatives side of one simulated perpetual; :meth:`step` after each market step."""

    def __init__(self, market: MarketSim, seed: int, venue: str, *, liquidation_prob: float = 0.05,
                 funding_interval_ms: int = FUNDING_INTERVAL_MS) -> None:
        self.market = market
        self.spec = market.spec
        self.rng = random.Random(f"{seed}:{venue}:{market.spec.canonical}:perp")
        self.liquidation_prob = liquidation_prob
        self.funding_interval_ms = funding_interval_ms
        self._premium_bp = self.rng.uniform(-2.0, 2.0)
        self.funding_rate = self._rate_from_premium()
        self.next_funding_ms: int | None = None
        lots = 10**self.spec.qty_decimals
        self._oi_lots = round(self.rng.uniform(20_000, 60_000) * lots * 1_000 / max(self.spec.start_price, 1.0))
        self.mark = self.index = ""
        self._set_prices()
        self.rolls = 0

    # -- values as the wire prints them --------------------------------------------------------------------------
    @property
    def funding_rate_str(self) -> str:
        return f"{self.funding_rate:.6f}".rstrip("0").rstrip(".") if self.funding_rate else "0"

    @property
    def open_interest(self) -> str:
        return self.spec.qty_str(self._oi_lots)

    @property
    def open_interest_value(self) -> str:
        return f"{self._oi_lots / 10**self.spec.qty_decimals * float(self.mark):.2f}"

    def next_funding(self, now_ms: int) -> int:
        """The next funding time (ms), fixed on first use to the next interval boundary after ``now_ms``."""
        if self.next_funding_ms is None:
            self.next_funding_ms = (now_ms // self.funding_interval_ms + 1) * self.funding_interval_ms
        return self.next_funding_ms

    # -- evolution -----------------------------------------------------------------------------------------------
    def step(self, step: Step, now_ms: int) -> PerpChange:
        change = PerpChange()
        rng = self.rng
        self._premium_bp = max(-8.0, min(8.0, self._premium_bp + rng.gauss(0.0, 0.15)))
        change.mark = self._set_prices()
        if now_ms >= self.next_funding(now_ms):
            self.roll_funding()
            change.funding = True
        traded = sum(round(float(t.qty) * 10**self.spec.qty_decimals) for t in step.trades)
        if traded:
            self._oi_lots = max(1, self._oi_lots + (traded if rng.random() < 0.55 else -traded))
            change.open_interest = True
        if rng.random() < self.liquidation_prob:
            change.liquidation = self.force_order(now_ms)
            self._oi_lots = max(1, self._oi_lots - round(float(change.liquidation.size) * 10**self.spec.qty_decimals))
            change.open_interest = True
        return change

    def roll_funding(self) -> None:
        """Settle now: a new rate from the current premium, the schedule one interval on."""
        self.funding_rate = self._rate_from_premium()
        base = self.next_funding_ms if self.next_funding_ms is not None else 0
        self.next_funding_ms = base + self.funding_interval_ms
        self.rolls += 1

    def force_order(self, now_ms: int, side: str | None = None) -> ForcedOrder:
        """A liquidation now: a long (closed by a ``sell``) or a short, a few bp through the mark."""
        rng = self.rng
        side = side or rng.choice(("buy", "sell"))
        spec = self.spec
        through = rng.uniform(2.0, 15.0) * 1e-4 * (1 if side == "buy" else -1)
        units = max(1, round(float(self.mark) * (1 + through) * 10**spec.price_decimals / spec.tick_units))
        lots = max(1, round(rng.lognormvariate(0.0, 1.0) * 10**spec.qty_decimals * 100 / max(spec.start_price, 1)))
        return ForcedOrder(side, spec.price_str(units * spec.tick_units), spec.qty_str(lots), now_ms)

    def _rate_from_premium(self) -> float:
        rate = 0.0001 + self._premium_bp * 1e-5 + self.rng.gauss(0.0, 2e-5)
        return round(max(-0.0075, min(0.0075, rate)), 6)

    def _set_prices(self) -> bool:
        spec = self.spec
        scale = 10**spec.price_decimals
        ref = self.market.reference_price
        index = spec.price_str(round(ref * scale))
        mark_units = round(ref * (1 + self._premium_bp * 1e-4) * scale / spec.tick_units) * spec.tick_units
        mark = spec.price_str(mark_units)
        changed = (mark, index) != (self.mark, self.index)
        self.mark, self.index = mark, index
        return changed
