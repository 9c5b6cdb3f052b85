"""What a simulated book looks like: where one side's levels sit and how big they and the trades are.

Levels are dense near the touch and sparse far from it (the ``i``-th of ``levels`` sits about
``span * (i / levels) ** 3`` away, never closer than one tick to the previous one), so a 200-level BTC book
reaches ~4% from mid with most of its levels inside the first 50 bp. Sizes are thin at the touch and grow with
distance, a few levels are walls at round prices, and taker orders are log-normal in notional (heavy-tailed).
Pure arithmetic on a caller's RNG: no state of its own, so the book stays deterministic by seed.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .fair import VenueProfile
    from .specs import SymbolSpec

__all__ = ["BookShape", "SPAN", "LEVEL_NOTIONAL", "TAKER_NOTIONAL", "WALL_PROB"]

SPAN = 0.04
"""How far from the touch the deepest level sits, as a fraction of the price."""
LEVEL_NOTIONAL = 8_000.0
"""Typical quote-currency size of a level 5 bp from the touch (the touch holds about a quarter of it)."""
TAKER_NOTIONAL = 400.0
"""Median quote-currency size of a taker order; log-normal with sigma ``TAKER_SIGMA``."""
TAKER_SIGMA = 1.4
WALL_PROB = 0.04
"""Chance that a new level more than ``WALL_MIN_BP`` from the touch is a wall (about ten times a normal level)."""
WALL_MIN_BP = 5.0


class BookShape:
    """The shape of one symbol's book on one venue, in ticks from the touch and lots."""

    def __init__(self, spec: SymbolSpec, profile: VenueProfile, levels: int) -> None:
        self.tick = spec.tick_units
        self.levels = levels
        start_units = spec.start_price * 10**spec.price_decimals
        self.span_ticks = max(levels, round(start_units * SPAN / self.tick))
        lots_per_quote = 10**spec.qty_decimals / spec.start_price
        self._level_lots = LEVEL_NOTIONAL * profile.size_scale * lots_per_quote
        self._taker_lots = TAKER_NOTIONAL * profile.size_scale * lots_per_quote
        self._bp_per_tick = self.tick / start_units * 1e4
        round_units = 10 ** (math.floor(math.log10(spec.start_price)) - 2) * 10**spec.price_decimals
        self.round_units = max(self.tick, round(round_units / self.tick) * self.tick)

    def initial_offsets(self, rng: random.Random) -> list[int]:
        """Ticks from the touch of each of ``levels`` levels, strictly increasing, starting at 0."""
        offsets: list[int] = []
        previous = -1
        for i in range(self.levels):
            previous = max(previous + 1, round(self.span_ticks * ((i + rng.random()) / self.levels) ** 3))
            offsets.append(previous)
        return offsets

    def sample_offset(self, rng: random.Random) -> int:
        """Where a new level goes, in ticks from the touch: at the place of a level index drawn like the ones
        the book churns (mostly the first few, else any), so the book keeps its initial shape."""
        index = rng.expovariate(1 / 3) if rng.random() < 0.6 else rng.random() * self.levels
        return int(self.span_ticks * (min(index, self.levels) / self.levels) ** 3)

    def distance_bp(self, offset_ticks: int) -> float:
        return offset_ticks * self._bp_per_tick

    def level_lots(self, rng: random.Random, offset_ticks: int) -> int:
        """A resting size: thin at the touch, growing with distance up to ~4x at 80 bp, log-normal noise."""
        growth = 0.25 + min(4.0, math.sqrt(self.distance_bp(offset_ticks) / 5.0))
        return max(1, round(self._level_lots * growth * rng.lognormvariate(0.0, 0.6)))

    def is_wall(self, rng: random.Random, offset_ticks: int) -> bool:
        return self.distance_bp(offset_ticks) > WALL_MIN_BP and rng.random() < WALL_PROB

    def wall_lots(self, rng: random.Random, offset_ticks: int) -> int:
        return round(self.level_lots(rng, offset_ticks) * rng.lognormvariate(math.log(10.0), 0.5))

    def round_price(self, price: int, bids: bool) -> int:
        """The round price (100 for BTC, 10 for ETH) at or beyond ``price``, away from the touch."""
        step = self.round_units
        return (price // step) * step if bids else -(-price // step) * step

    def taker_lots(self, rng: random.Random) -> int:
        """A taker order's size: log-normal in notional (median ``TAKER_NOTIONAL``), so a few are very large."""
        return max(1, round(self._taker_lots * rng.lognormvariate(0.0, TAKER_SIGMA)))
