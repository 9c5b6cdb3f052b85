"""Coverage: which stretches of every book and trade stream were synced, and why the others were not.

A venue adapter (:class:`~livefeed.venues.base.MarketAdapter`) emits one :class:`CoverageChange` event each time a
stream's state changes: a snapshot applied (``synced``), a sequence gap or failed checksum (``resyncing``), a book
silent past ``book_stale_after`` (``stale``), a dropped connection (``disconnected``), trade ids missing between
two trades (``gap``). Nothing is recorded per message. A :class:`Coverage` turns those changes into intervals::

    venue    symbol    stream  state         start                 end                   reason
    binance  BTC-USDT  book    synced        2026-11-30 21:40:01   2026-11-30 21:40:07   snapshot applied
    binance  BTC-USDT  book    resyncing     2026-11-30 21:40:07   2026-11-30 21:40:08   gap: book at 812, next ...

Intervals are half-open ``[start, end)`` in wall-clock UTC (the clock of the frames' ``receipt_ts``); the open
interval of each stream has ``end`` NaT. :func:`valid_rows` keeps the rows of a frame received inside ``synced``
intervals, for live frames and for exported files read back alike.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CoverageState", "CoverageChange", "Coverage", "COVERAGE_COLUMNS", "STREAMS", "FRAME_STREAMS", "valid_rows",
]

STREAMS = ("book", "trades")
"""The streams whose coverage is recorded."""

FRAME_STREAMS = {"trades": "trades", "top_of_book": "book"}
"""Which stream's coverage says whether a built-in frame's rows are valid."""

COVERAGE_COLUMNS = ("venue", "symbol", "stream", "state", "start", "end", "reason")


class CoverageState(StrEnum):
    """What a stream was doing over an interval; only ``synced`` rows are to be trusted."""

    SYNCED = "synced"
    """Book: a snapshot applied and every message since in sequence. Trades: subscribed, no id missing."""
    RESYNCING = "resyncing"
    """Book: waiting for a fresh snapshot (before the first, after a gap or a failed checksum)."""
    STALE = "stale"
    """Book: no update for ``book_stale_after`` on a live connection (from its last update to the next snapshot)."""
    DISCONNECTED = "disconnected"
    """The connection carrying the stream was down (or not yet up, or the feed stopped)."""
    GAP = "gap"
    """Trades: the venue's trade ids skipped (the reason names the missing range)."""


@dataclass(slots=True)
class CoverageChange:
    """From ``at_ns`` (wall clock, ns) on, ``venue:symbol``'s ``stream`` is in ``state`` because of ``reason``."""

    venue: str
    symbol: str
    stream: str
    state: str
    reason: str
    at_ns: int


class Coverage:
    """The intervals of every stream's state, built from :class:`CoverageChange` events (a feed's or a Redis
    reader's). ``add`` runs on the loop that routes events; :meth:`to_pandas` from any thread. At most
    ``capacity`` changes are kept (the oldest roll out, like a frame's rows)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._changes: deque[CoverageChange] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self.version = 0
        """Moves on every change: a live view redraws only when it moved."""

    def __len__(self) -> int:
        return len(self._changes)

    def __repr__(self) -> str:
        return f"<Coverage changes={len(self)}>"

    def add(self, change: CoverageChange) -> None:
        with self._lock:
            self._changes.append(change)
            self.version += 1

    def changes(self) -> list[CoverageChange]:
        """Every change kept, in the order they happened."""
        with self._lock:
            return list(self._changes)

    def to_pandas(self) -> pd.DataFrame:
        """One row per interval (columns :data:`COVERAGE_COLUMNS`), per stream in time order."""
        return intervals(self.changes())

    def unsynced(self, venue: str, symbol: str, stream: str) -> list[tuple[int, int | None, str, str]]:
        """``(start_ns, end_ns or None while open, state, reason)`` of every interval of one stream that was not
        ``synced``, oldest first (what a live plot shades)."""
        spans: list[tuple[int, int | None, str, str]] = []
        previous: CoverageChange | None = None
        for c in self.changes():
            if c.venue != venue or c.symbol != symbol or c.stream != stream:
                continue
            if previous is not None and previous.state != CoverageState.SYNCED:
                spans.append((previous.at_ns, c.at_ns, previous.state, previous.reason))
            previous = c
        if previous is not None and previous.state != CoverageState.SYNCED:
            spans.append((previous.at_ns, None, previous.state, previous.reason))
        return spans

    def valid_rows(self, frame: pd.DataFrame, stream: str) -> pd.DataFrame:
        """The rows of ``frame`` received inside a ``synced`` interval of their market's ``stream``."""
        return valid_rows(frame, self.to_pandas(), stream)


def intervals(changes: Iterable[CoverageChange]) -> pd.DataFrame:
    """The intervals ``changes`` make: each lasts until the next change of the same stream (the last one is open)."""
    import pandas as pd

    rows: list[list[object]] = []
    open_row: dict[tuple[str, str, str], list[object]] = {}
    for c in changes:
        key = (c.venue, c.symbol, c.stream)
        before = open_row.get(key)
        if before is not None:
            before[5] = c.at_ns
        row: list[object] = [c.venue, c.symbol, c.stream, c.state, c.at_ns, None, c.reason]
        rows.append(row)
        open_row[key] = row
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(COVERAGE_COLUMNS)
    data: dict[str, object] = {}
    for name, values in zip(COVERAGE_COLUMNS, columns, strict=True):
        if name in ("start", "end"):  # int ns, not through float: a float64 loses the last digits
            ns = pd.array([None if v is None else int(v) for v in values], dtype="Int64")  # type: ignore[arg-type]
            data[name] = pd.to_datetime(ns, unit="ns", utc=True)
        elif name == "reason":
            data[name] = pd.Series(list(values), dtype=object)
        else:
            data[name] = pd.Categorical(list(values))
    frame = pd.DataFrame(data)
    order = frame.sort_values(["venue", "symbol", "stream"], kind="stable").index  # per stream, as they happened
    return frame.loc[order].reset_index(drop=True)


def valid_rows(frame: pd.DataFrame, coverage: pd.DataFrame, stream: str) -> pd.DataFrame:
    """The rows of ``frame`` (a frame's ``to_pandas()`` or an exported file read back) whose receipt time falls
    inside a ``synced`` interval of ``coverage`` for the row's venue, symbol and ``stream`` (``"book"`` for
    ``top_of_book``, ``"trades"`` for ``trades``). A market with no coverage at all keeps no rows."""
    import numpy as np

    if stream not in STREAMS:
        raise ValueError(f"stream must be one of {STREAMS}, got {stream!r}")
    if frame.empty:
        return frame
    column = "receipt_ts" if "receipt_ts" in frame.columns else "ts"
    times = frame[column].dt.as_unit("ns").array.asi8  # NaT reads as int64's minimum: before every interval
    keep = np.zeros(len(frame), dtype=bool)
    synced = coverage[(coverage["stream"].astype(str) == stream) & (coverage["state"].astype(str) == "synced")]
    never = np.iinfo(np.int64).max
    venues, symbols = frame["venue"].astype(str).to_numpy(), frame["symbol"].astype(str).to_numpy()
    for (venue, symbol), spans in synced.groupby([synced["venue"].astype(str), synced["symbol"].astype(str)]):
        spans = spans.sort_values("start")
        starts = spans["start"].dt.as_unit("ns").array.asi8
        ends = np.where(spans["end"].isna().to_numpy(), never, spans["end"].dt.as_unit("ns").array.asi8)
        rows = np.flatnonzero((venues == venue) & (symbols == symbol))
        if not len(rows):
            continue
        at = times[rows]
        index = np.searchsorted(starts, at, side="right") - 1
        inside = (index >= 0) & (at < ends[np.maximum(index, 0)])
        keep[rows[inside]] = True
    return frame[keep]
