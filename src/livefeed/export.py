"""Writing captured frames to files that pandas, Polars, DuckDB and Dask read as they are.

Parquet output is a Hive-partitioned dataset per frame, the layout every one of those engines understands without
options beyond "this is Hive-partitioned"::

    captures/trades.parquet/venue=binance/symbol=BTC-USDT/date=2026-11-26/part-0.parquet

``venue``, ``symbol`` and ``date`` (UTC day of ``ts``) live in the directory names, not in the files, exactly as
``pandas.DataFrame.to_parquet(partition_cols=...)`` and Spark write them; readers add them back as columns. A
frame without venue/symbol columns (e.g. on-chain blocks) is partitioned by date only. CSV output is one plain file
per frame. Long exports report progress (a widget in a notebook, a line on stderr elsewhere).

Partition values become directory names, so each must be a plain name: a symbol such as
``x/../../../../elsewhere`` (from a hostile Redis stream or token contract) would otherwise write outside the
target. Rows whose venue or symbol is not a plain name are skipped, logged and counted in ``ExportResult.skipped``.
"""

from __future__ import annotations

import logging
import shutil
import sys
import unicodedata
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import UnsafePartitionError

__all__ = ["export_frames", "ExportResult", "is_plain_name", "FORMATS", "PARTITION_COLUMNS", "PROGRESS_THRESHOLD"]

log = logging.getLogger(__name__)

FORMATS = ("parquet", "csv")
PARTITION_COLUMNS = ("venue", "symbol", "date")
PROGRESS_THRESHOLD = 500_000
"""Exports of at least this many rows show progress unless told otherwise."""

Progress = Callable[[int, int], None]

_NAME_PUNCTUATION = frozenset("._+-")


class Table(Protocol):
    """What an export reads: a :class:`~livefeed.frames.RollingFrame`, or the feed's
    :class:`~livefeed.coverage.Coverage` (written as ``coverage``, partitioned by venue and symbol only)."""

    def __len__(self) -> int: ...

    def to_pandas(self) -> pd.DataFrame: ...


def is_plain_name(value: object) -> bool:
    """True when ``value`` can be one directory name and nothing else: letters and digits of any script, currency
    signs (``USD₮0``) and ``. _ + -``, starting with a letter or digit, with no ``..``, at most 128 characters."""
    if not isinstance(value, str) or not 0 < len(value) <= 128 or ".." in value or not value[0].isalnum():
        return False
    return all(c.isalnum() or c in _NAME_PUNCTUATION or unicodedata.category(c) == "Sc" for c in value)


class ExportResult(dict[str, Path]):
    """The path written per frame name; ``skipped`` counts, per frame, rows left out for an unsafe partition."""

    def __init__(self) -> None:
        super().__init__()
        self.skipped: dict[str, int] = {}


def export_frames(
    frames: Mapping[str, Table],
    directory: str | Path,
    format: str = "parquet",
    *,
    progress: bool | Progress | None = None,
) -> ExportResult:
    """Write each non-empty frame under ``directory``; returns the path written per frame name.

    ``format="parquet"`` writes the partitioned dataset ``<name>.parquet/`` (replacing an earlier export of the
    same frame there); ``format="csv"`` writes ``<name>.csv``. ``progress``: ``None`` shows it for exports of
    ``PROGRESS_THRESHOLD`` rows or more, ``True``/``False`` force it on/off, a callable gets ``(rows_done, total)``.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    for name in frames:
        if not is_plain_name(name):
            raise UnsafePartitionError(f"frame name {name!r} is not a plain name; it would not stay in {directory}")
    out_dir = Path(directory)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"export target {out_dir} exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = {name: frame for name, frame in frames.items() if len(frame)}
    total = sum(len(frame) for frame in todo.values())
    report = _reporter(progress, total)
    done = 0
    written = ExportResult()
    for name, frame in todo.items():
        df = frame.to_pandas()
        if format == "parquet":
            path = out_dir / f"{name}.parquet"
            df, skipped = _safe_partitions(name, df)
            if skipped:
                written.skipped[name] = skipped
                done += skipped
            done = _write_dataset(df, path, done, total, report)
        else:
            path = out_dir / f"{name}.csv"
            df.to_csv(path, index=False)
            done += len(df)
            report(done, total)
        written[name] = path
    report(total, total)
    return written


def _safe_partitions(name: str, df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """``df`` without the rows whose venue or symbol is not a plain name, and how many those were."""
    safe = pd.Series(True, index=df.index)
    for column in ("venue", "symbol"):
        if column in df.columns:
            values = df[column].astype(object)
            checked = {v: pd.isna(v) or is_plain_name(v) for v in values.unique()}  # no value: no directory
            safe &= values.map(checked).astype(bool)
    skipped = int((~safe).sum())
    if skipped:
        bad = sorted({str(v) for c in ("venue", "symbol") if c in df.columns for v in df.loc[~safe, c].unique()
                      if not pd.isna(v) and not is_plain_name(v)})
        log.warning("export of %s: skipped %d row(s) whose venue/symbol is not a plain name (%s): as a partition "
                    "directory it would not stay inside the export", name, skipped, ", ".join(map(repr, bad[:5])))
    return (df[safe] if skipped else df), skipped


def _write_dataset(df: pd.DataFrame, path: Path, done: int, total: int, report: Progress) -> int:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()  # a single-file export from an older livefeed
    df = df.copy()
    if "ts" in df.columns:
        ts = df["ts"]
        if "receipt_ts" in df.columns:
            ts = ts.fillna(df["receipt_ts"])
        df["date"] = ts.dt.strftime("%Y-%m-%d").fillna("unknown")
    keys = [c for c in PARTITION_COLUMNS if c in df.columns]
    if not keys:
        path.mkdir(parents=True)
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path / "part-0.parquet")
        return done + len(df)
    for values, part in df.groupby(keys, observed=True, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        folder = path.joinpath(*(f"{k}={v}" for k, v in zip(keys, values, strict=True)))
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(part.drop(columns=keys), preserve_index=False)
        pq.write_table(table, folder / "part-0.parquet")
        done += len(part)
        report(done, total)
    return done


def _reporter(progress: bool | Progress | None, total: int) -> Progress:
    if callable(progress):
        return progress
    if progress is False or (progress is None and total < PROGRESS_THRESHOLD):
        return lambda _done, _total: None
    return _widget_progress(total) or _text_progress()


def _widget_progress(total: int) -> Progress | None:
    """An ipywidgets bar when running inside a Jupyter kernel, else ``None``."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None or not hasattr(shell, "kernel"):
            return None
        import ipywidgets as w
        from IPython.display import display
    except ImportError:
        return None
    bar = w.IntProgress(value=0, min=0, max=max(total, 1), description="export")
    label = w.Label(f"0 / {total:,} rows")
    display(w.HBox([bar, label]))

    def update(done: int, total: int) -> None:
        bar.value = done
        label.value = f"{done:,} / {total:,} rows"

    return update


def _text_progress() -> Progress:
    def update(done: int, total: int) -> None:
        end = "\n" if done >= total else ""
        print(f"\rexport: {done:,} / {total:,} rows ({100 * done / max(total, 1):.0f}%)", end=end, file=sys.stderr,
              flush=True)

    return update
