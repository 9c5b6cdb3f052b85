"""What the views share beyond their figures: exchange times, an exchange clock, frame taps and tick rounding.

A book has no timestamp of its own, so a view that samples books on each refresh stamps the sample with the
*exchange* clock estimated from the rows it reads (exchange time vs receipt time): that way a heatmap column lines up
with the trades drawn over it, which carry their exchange time.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Collection
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..frames import RollingFrame

__all__ = ["ExchangeClock", "FrameTap", "event_times", "infer_tick", "nice_step", "TIME_FORMAT", "SIZE_FORMAT"]


class ExchangeClock:
    """Local time shifted onto the venues' clock: now minus the smallest recent receipt-minus-exchange offset.

    The smallest offset is the one least inflated by network and queueing delay. Until a row with an exchange time
    has been seen, the local clock is used as it is.
    """

    def __init__(self, history: int = 512) -> None:
        self._offsets: deque[int] = deque(maxlen=history)

    def observe(self, cols: dict[str, np.ndarray]) -> None:
        """Learn from rows that carry both ``ts`` (exchange) and ``receipt_ts``, both ns since the epoch."""
        if "receipt_ts" not in cols or not len(cols["ts"]):
            return
        known = cols["ts"] > 0
        if known.any():
            offsets = cols["receipt_ts"][known] - cols["ts"][known]
            self._offsets.extend(offsets[-self._offsets.maxlen :].tolist())  # type: ignore[misc]

    @property
    def offset_ns(self) -> int:
        return min(self._offsets) if self._offsets else 0

    def now_ns(self) -> int:
        return time.time_ns() - self.offset_ns


class FrameTap:
    """Reads the rows of one rolling frame appended since the last read that belong to the given markets."""

    def __init__(self, frame: RollingFrame, markets: Collection[tuple[str, str]], backlog: int) -> None:
        self.frame = frame
        self.markets = set(markets)
        # Start ``backlog`` rows back, so a view opened late still shows recent history.
        self._cursor = max(0, frame.total - backlog)

    def read(self) -> dict[str, np.ndarray] | None:
        """The new matching rows, oldest first, or ``None`` when there are none."""
        cols, self._cursor = self.frame.read_since(self._cursor)
        if not len(cols["ts"]):
            return None
        mask = np.zeros(len(cols["ts"]), dtype=bool)
        for venue, symbol in self.markets:
            mask |= (cols["venue"] == venue) & (cols["symbol"] == symbol)
        if not mask.any():
            return None
        return {name: values[mask] for name, values in cols.items()}


def event_times(cols: dict[str, np.ndarray]) -> np.ndarray:
    """Exchange (or chain) time in ns where known, else receipt time (a chain log may arrive before its block's
    timestamp); ``ts`` as it is for rows without a receipt time."""
    ts = cols["ts"]
    return np.where(ts > 0, ts, cols["receipt_ts"]) if "receipt_ts" in cols else ts


def infer_tick(prices: np.ndarray, max_decimals: int = 8) -> float:
    """The price increment implied by the decimals the prices are written with (``60000.01`` -> ``0.01``).

    Venues quote on a decimal tick, so the finest decimal place any price uses is a good stand-in for the tick.
    """
    for decimals in range(max_decimals + 1):
        scaled = prices * 10.0**decimals
        if np.all(np.abs(scaled - np.round(scaled)) <= np.maximum(1e-6, np.abs(scaled) * 1e-12)):
            return 10.0**-decimals
    return 10.0**-max_decimals


def nice_step(raw: float) -> float:
    """The smallest 1-2-5 x 10^k step that is at least ``raw`` (bin widths people can read)."""
    if not raw > 0 or not math.isfinite(raw):
        raise ValueError(f"step must be a positive finite number, got {raw!r}")
    exponent = math.floor(math.log10(raw))
    for mantissa in (1.0, 2.0, 5.0, 10.0):
        step = mantissa * 10.0**exponent
        if step >= raw * (1 - 1e-12):
            return float(step)
    return float(10.0 ** (exponent + 1))


TIME_FORMAT = "%F %T.%3N"
"""Hover format of exchange times (UTC, milliseconds)."""
SIZE_FORMAT = "0,0.[00000000]"
"""Sizes: thousands separators, up to 8 decimals."""
