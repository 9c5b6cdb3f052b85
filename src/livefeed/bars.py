"""Live OHLCV bars built from the trade stream: ``feed.bars("1s")``, ``feed.bars("1min")``.

Each market (venue, symbol) has one open bar per interval, aligned to the epoch in exchange time (receipt time
where the venue sends none). A trade at or after the open bar's end closes it: the closed bar is final and goes
into a bounded :class:`~livefeed.frames.RollingFrame` (``feed.frames["bars_1s"]``, exported like every frame);
the open bar keeps updating and is shown with ``closed=False``. Intervals without a trade make no bar (a bar
always has an open price). A trade older than its market's open bar (venues interleave a little) is folded into
the open bar so volumes add up, and counted in ``late_trades``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from .errors import ConfigError
from .frames import RollingFrame
from .model import Side, Trade

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Bars", "BAR_COLUMNS", "parse_interval", "interval_label"]

BAR_COLUMNS = {
    "ts": "time", "venue": "category", "symbol": "category", "open": "float", "high": "float", "low": "float",
    "close": "float", "volume": "float", "vwap": "float", "trades": "int", "buy_volume": "float",
    "sell_volume": "float",
}
"""``ts`` is the bar's start; ``volume`` in the base asset; ``buy_volume`` / ``sell_volume`` by taker side."""

_MS = 1_000_000
_DAY = 86_400_000_000_000


def parse_interval(interval: str) -> int:
    """``"250ms"``, ``"1s"``, ``"5min"``, ``"1h"`` (pandas' spellings) -> nanoseconds, 1 ms to 1 day."""
    import pandas as pd

    try:
        ns = pd.Timedelta(interval).value if isinstance(interval, str) else None
    except ValueError:
        ns = None
    if ns is None or not _MS <= ns <= _DAY:
        raise ConfigError(f"bar interval {interval!r} must be a duration from 1 ms to 1 day, e.g. '1s', '5min', '1h'")
    return int(ns)


def interval_label(ns: int) -> str:
    """A frame-name-safe label: 1_000_000_000 -> ``1s``, 300 s -> ``5min``, 250 ms -> ``250ms``."""
    for unit, size in (("d", _DAY), ("h", 3_600 * 10**9), ("min", 60 * 10**9), ("s", 10**9), ("ms", _MS)):
        if ns % size == 0:
            return f"{ns // size}{unit}"
    return f"{ns}ns"


class _OpenBar:
    __slots__ = ("buy", "close", "high", "low", "notional", "open", "sell", "start", "trades", "volume")

    def __init__(self, start: int, price: float) -> None:
        self.start = start
        self.open = self.high = self.low = self.close = price
        self.volume = self.notional = self.buy = self.sell = 0.0
        self.trades = 0

    def add(self, price: float, size: float, side: Side) -> None:
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        self.close = price
        self.volume += size
        self.notional += price * size
        self.trades += 1
        if side is Side.BUY:
            self.buy += size
        else:
            self.sell += size

    def row(self, venue: str, symbol: str) -> tuple[object, ...]:
        vwap = self.notional / self.volume if self.volume else self.close
        return (self.start, venue, symbol, self.open, self.high, self.low, self.close, self.volume, vwap,
                self.trades, self.buy, self.sell)


class Bars:
    """The bars of one interval for every market of a feed; :meth:`add` runs on the feed's loop."""

    def __init__(self, interval: str, capacity: int) -> None:
        self.interval_ns = parse_interval(interval)
        self.label = interval_label(self.interval_ns)
        self.frame = RollingFrame(BAR_COLUMNS, capacity)
        """The closed bars, oldest first (bounded: the oldest roll out)."""
        self.late_trades = 0
        self._open: dict[tuple[str, str], _OpenBar] = {}
        self._lock = threading.Lock()  # to_pandas copies the open bars from another thread

    def __repr__(self) -> str:
        return f"<Bars {self.label}: {len(self.frame)} closed, {len(self._open)} open>"

    def add(self, trade: Trade) -> None:
        ts = trade.exchange_ts if trade.exchange_ts is not None else trade.receipt_ts
        self.add_print(trade.venue, trade.symbol, ts, trade.price, trade.size, trade.side)

    def add_print(self, venue: str, symbol: str, ts: int, price: float, size: float, side: Side) -> None:
        key = (venue, symbol)
        start = ts - ts % self.interval_ns
        with self._lock:
            bar = self._open.get(key)
            if bar is None or start > bar.start:
                if bar is not None:
                    self.frame.append(bar.row(venue, symbol))
                bar = self._open[key] = _OpenBar(start, price)
            elif start < bar.start:
                self.late_trades += 1
            bar.add(price, size, side)

    def open_row(self, venue: str, symbol: str) -> tuple[object, ...] | None:
        """The market's open bar as a row in :data:`BAR_COLUMNS` order, or ``None`` before its first trade."""
        with self._lock:
            bar = self._open.get((venue, symbol))
            return None if bar is None else bar.row(venue, symbol)

    def to_pandas(self, closed_only: bool = False) -> pd.DataFrame:
        """Closed bars then each market's open bar, sorted by start time; ``closed`` says which is final."""
        import pandas as pd

        closed = self.frame.to_pandas()
        closed["closed"] = True
        if closed_only:
            return closed
        with self._lock:
            rows = [bar.row(venue, symbol) for (venue, symbol), bar in self._open.items()]
        current = pd.DataFrame(rows, columns=list(BAR_COLUMNS))
        current["ts"] = pd.to_datetime(current["ts"], unit="ns", utc=True)
        current["closed"] = False
        frame = pd.concat([closed, current], ignore_index=True) if len(closed) else current
        for column in ("venue", "symbol"):
            frame[column] = frame[column].astype(str).astype("category")
        frame["trades"] = frame["trades"].astype("int64")
        return frame.sort_values(["ts", "venue", "symbol"], kind="stable", ignore_index=True)
