"""``CandlesView``: live candlesticks with volume beneath, from ``feed.bars(interval)``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..bars import BAR_COLUMNS
from .figures import Built, candles_figure
from .sampling import FrameTap
from .views import UnsyncedShading, View, base_of, market_clock, quote_of

if TYPE_CHECKING:
    from ..feed import Feed

__all__ = ["CandlesView"]

_BARS_SHOWN = 60
"""Bars in the default trailing window."""


class CandlesView(View):
    """Closed bars streamed from the bars' frame, the open bar redrawn each refresh (only when it changed)."""

    kind = "candles"

    def __init__(self, feed: Feed, venue: str, symbol: str, *, interval: str = "1min", window: float | None = None,
                 **kw: Any) -> None:
        self.bars = feed.bars(interval)
        interval_s = self.bars.interval_ns / 1e9
        self._open: tuple[object, ...] | None = None
        super().__init__(feed, venue, symbol, window=window or min(86_400.0, _BARS_SHOWN * interval_s), **kw)
        self._reset()

    def _build(self, **figure_options: Any) -> Built:
        return candles_figure(self.venue, self.symbol, self.bars.interval_ns / 1e6, quote=quote_of(self.symbol),
                              base=base_of(self.symbol), **figure_options)

    def _reset(self) -> None:
        self._tap = FrameTap(self.bars.frame, [(self.venue, self.symbol)], self.rollover)
        self._open = None
        self._shading = UnsyncedShading(self.feed, self.sources["coverage"], "trades")  # bars come from trades

    def _columns(self, rows: dict[str, np.ndarray]) -> dict[str, Any]:
        half = self.bars.interval_ns / 2
        return {"ts": (rows["ts"] + half) / 1e6, "open": rows["open"], "high": rows["high"], "low": rows["low"],
                "close": rows["close"], "volume": rows["volume"], "buy": rows["buy_volume"],
                "sell": rows["sell_volume"], "vwap": rows["vwap"], "trades": rows["trades"],
                "up": (rows["close"] >= rows["open"]).astype(np.int8)}

    async def refresh(self) -> None:
        closed = self._tap.read()
        if closed is not None:
            self.sources["candles"].stream(self._columns(closed), rollover=self.rollover)
        row = self.bars.open_row(self.venue, self.symbol)
        if row is not None and row != self._open:
            self._open = row
            current = {name: np.array([value]) for name, value in zip(BAR_COLUMNS, row, strict=True)}
            columns = self._columns(current)
            self.sources["open-candle"].data = {name: list(values) for name, values in columns.items()}
            market_clock(self.feed, self.venue, self.symbol, float(columns["ts"][0]) + self.bars.interval_ns / 2e6)
        self._shading.refresh(self.venue, self.symbol)
        self.refreshes += 1
