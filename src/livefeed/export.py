"""Writing captured frames to files that pandas, Polars, DuckDB and Dask read as they are."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .frames import RollingFrame

__all__ = ["export_frames", "FORMATS"]

FORMATS = ("parquet", "csv")


def export_frames(
    frames: Mapping[str, RollingFrame], directory: str | Path, format: str = "parquet"
) -> dict[str, Path]:
    """Write each non-empty frame to ``directory/<name>.<format>``; returns the paths written by frame name."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in frames.items():
        if not len(frame):
            continue
        df = frame.to_pandas()
        path = out_dir / f"{name}.{format}"
        if format == "parquet":
            df.to_parquet(path, index=False)
        else:
            df.to_csv(path, index=False)
        written[name] = path
    return written
