"""Rolling, fixed-capacity columnar buffers: the bounded memory behind ``feed.trades`` and friends.

Rows are appended on the feed's loop thread (one numpy slot write per column, no allocation) and read as tidy
pandas DataFrames from any thread. Once ``capacity`` rows are held, each new row overwrites the oldest, so a feed
left running for days holds the same memory as one running for a minute. Columns start small and double as rows
arrive, up to ``capacity``: a large capacity costs memory only once it is used.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RollingFrame", "NAT", "MAX_CAPACITY"]

NAT = np.iinfo(np.int64).min
"""Stored in a time column for "no time" (e.g. a venue that sends no exchange timestamp); reads back as NaT."""

MAX_CAPACITY = 10_000_000
"""Most rows one frame may hold: ~1 GB for a trade frame. Past it, export or sink the data instead."""

_KINDS = {"time", "float", "int", "category", "object"}
_BATCH = 256  # rows buffered before they are written into the columns
_FIRST_ALLOCATION = 4096  # rows allocated up front; columns double from here up to the capacity


class RollingFrame:
    """A ring buffer of typed columns.

    ``columns`` maps column name to kind: ``"time"`` (int ns since epoch -> ``datetime64[ns, UTC]``),
    ``"float"``, ``"int"``, ``"category"`` (few distinct strings, e.g. venue) or ``"object"``.
    """

    def __init__(self, columns: Mapping[str, str], capacity: int = 100_000) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int | np.integer) or not 0 < capacity <= MAX_CAPACITY:
            raise ConfigError(f"capacity must be a whole number of rows from 1 to {MAX_CAPACITY:,}, got {capacity!r}")
        capacity = int(capacity)
        unknown = {kind for kind in columns.values() if kind not in _KINDS}
        if unknown:
            raise ValueError(f"unknown column kinds {sorted(unknown)}; use {sorted(_KINDS)}")
        self.capacity = capacity
        self.kinds = dict(columns)
        self._allocated = min(capacity, _FIRST_ALLOCATION)
        self._arrays: list[np.ndarray] = [self._allocate(kind, self._allocated) for kind in columns.values()]
        self._codes: dict[int, dict[str, int]] = {
            i: {} for i, kind in enumerate(columns.values()) if kind == "category"
        }
        self._total = 0
        self._pending: list[Sequence[object]] = []
        self._width = len(self.kinds)
        self._lock = threading.Lock()

    @staticmethod
    def _allocate(kind: str, capacity: int) -> np.ndarray:
        if kind == "time" or kind == "int":
            return np.zeros(capacity, dtype=np.int64)
        if kind == "float":
            return np.full(capacity, np.nan, dtype=np.float64)
        if kind == "category":
            return np.zeros(capacity, dtype=np.int32)
        return np.empty(capacity, dtype=object)

    @property
    def columns(self) -> list[str]:
        return list(self.kinds)

    @property
    def total(self) -> int:
        """Rows appended since creation (or ``clear``), including those rolled out."""
        return self._total + len(self._pending)

    @property
    def rolled_out(self) -> int:
        return max(0, self.total - self.capacity)

    def __len__(self) -> int:
        return min(self.total, self.capacity)

    def __repr__(self) -> str:
        return f"<RollingFrame rows={len(self)}/{self.capacity} total={self.total} columns={self.columns}>"

    def append(self, row: Sequence[object]) -> None:
        """Append one row, values in column order. On the hot path: rows are buffered and written to the
        columns in batches (a per-row numpy write per column costs ~10x a list append)."""
        if len(row) != self._width:
            raise ValueError(f"row has {len(row)} values, frame has {self._width} columns {self.columns}")
        with self._lock:
            pending = self._pending
            pending.append(row)
            if len(pending) >= _BATCH:
                self._flush()

    def clear(self) -> None:
        with self._lock:
            self._total = 0
            self._pending = []

    def _flush(self) -> None:
        """Write the buffered rows into the ring (caller holds the lock)."""
        rows, self._pending = self._pending, []
        if not rows:
            return
        cap = self.capacity
        if len(rows) > cap:
            self._total += len(rows) - cap
            rows = rows[-cap:]
        count = len(rows)
        if self._allocated < cap:
            self._grow(self._total + count)
        start = self._total % cap
        first = min(count, cap - start)  # rows that fit before the ring wraps
        columns = zip(*rows, strict=True)
        for i, (kind, array, column) in enumerate(zip(self.kinds.values(), self._arrays, columns, strict=True)):
            if kind == "category":
                table = self._codes[i]
                values = np.fromiter((table[v] if v in table else table.setdefault(v, len(table)) for v in column),
                                     dtype=np.int32, count=count)
            elif kind == "time":
                values = np.fromiter((NAT if v is None else v for v in column), dtype=np.int64, count=count)
            elif kind == "object":
                values = np.empty(count, dtype=object)
                values[:] = column
            else:
                values = np.asarray(column, dtype=array.dtype)
            array[start : start + first] = values[:first]
            if first < count:
                array[: count - first] = values[first:]
        self._total += count

    def _grow(self, rows: int) -> None:
        """Make room for ``rows`` rows (doubling, at most ``capacity``); the ring has not wrapped yet."""
        size = min(self.capacity, max(rows, 2 * self._allocated))
        if size <= self._allocated:
            return
        grown = []
        for kind, array in zip(self.kinds.values(), self._arrays, strict=True):
            bigger = self._allocate(kind, size)
            bigger[: self._allocated] = array
            grown.append(bigger)
        self._arrays = grown
        self._allocated = size

    def _ordered(self, since: int | None = None) -> tuple[list[np.ndarray], int]:
        """Copies of the columns, oldest row first; ``since`` keeps only rows with index >= since."""
        with self._lock:
            self._flush()
            total, cap = self._total, self.capacity
            first = max(0, total - cap) if since is None else max(since, total - cap, 0)
            count = total - first
            start = first % cap
            out = []
            for array in self._arrays:
                if start + count <= cap:
                    out.append(array[start : start + count].copy())
                else:
                    out.append(np.concatenate((array[start:], array[: (start + count) - cap])))
            return out, total

    def to_pandas(self, since: int | None = None) -> pd.DataFrame:
        """A tidy DataFrame of the rows held (oldest first); a copy, safe to keep and modify."""
        import pandas as pd  # lazy: pandas pulls in pyarrow, which a bare `import livefeed` should not pay for

        arrays, _ = self._ordered(since)
        data: dict[str, object] = {}
        for i, (name, kind) in enumerate(self.kinds.items()):
            values = arrays[i]
            if kind == "time":
                data[name] = pd.to_datetime(values.view("datetime64[ns]")).tz_localize("UTC")
            elif kind == "category":
                categories = list(self._codes[i])
                data[name] = pd.Categorical.from_codes(values, categories=categories)
            else:
                data[name] = values
        return pd.DataFrame(data)

    def read_since(self, cursor: int) -> tuple[dict[str, np.ndarray], int]:
        """Raw columns appended since ``cursor`` (a previous return value) and the new cursor.

        For streaming plots: each refresh sends only the new rows. Rows that rolled out before they were read
        are skipped. Category columns come back as their string values.
        """
        arrays, total = self._ordered(cursor)
        out: dict[str, np.ndarray] = {}
        for i, (name, kind) in enumerate(self.kinds.items()):
            if kind == "category":
                categories = np.array(list(self._codes[i]) or [""], dtype=object)
                out[name] = categories[arrays[i]]
            else:
                out[name] = arrays[i]
        return out, total
