"""``feed.export``: a partitioned Parquet dataset that pandas, Polars, DuckDB and Dask read as they are; CSV too."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from livefeed.export import export_frames
from livefeed.feed import TOP_OF_BOOK_COLUMNS, TRADE_COLUMNS
from livefeed.frames import RollingFrame

DAY = 86_400 * 10**9
T0 = 1_764_115_200 * 10**9  # 2025-11-26 00:00 UTC


def trades_frame(rows: int = 120) -> RollingFrame:
    frame = RollingFrame(TRADE_COLUMNS, capacity=1_000)
    for i in range(rows):
        ts = T0 - DAY // 2 + i * (DAY // 50)  # spans three UTC days
        symbol = "BTC-USDT" if i % 3 else "ETH-USDT"
        frame.append((ts, ts + 1_000, "binance", symbol, 100.0 + i, 0.5 + i % 7, "buy" if i % 2 else "sell", str(i),
                      "live"))
    return frame


def test_parquet_layout_is_hive_partitioned(tmp_path: Path) -> None:
    written = export_frames({"trades": trades_frame(), "top_of_book": RollingFrame(TOP_OF_BOOK_COLUMNS, 10)},
                            tmp_path, "parquet")
    assert list(written) == ["trades"]  # empty frames are skipped
    root = written["trades"]
    parts = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet"))
    assert "venue=binance/symbol=BTC-USDT/date=2025-11-25/part-0.parquet" in parts
    assert {p.split("/")[2] for p in parts} == {"date=2025-11-25", "date=2025-11-26", "date=2025-11-27"}
    assert {p.split("/")[1] for p in parts} == {"symbol=BTC-USDT", "symbol=ETH-USDT"}


def test_pandas_reads_the_dataset_back(tmp_path: Path) -> None:
    frame = trades_frame()
    root = export_frames({"trades": frame}, tmp_path)["trades"]
    back = pd.read_parquet(root).sort_values("trade_id", key=lambda s: s.astype(int)).reset_index(drop=True)
    original = frame.to_pandas()
    assert len(back) == len(original) == 120
    assert str(back["ts"].dtype) == "datetime64[ns, UTC]"
    assert back["price"].tolist() == original["price"].tolist()
    assert back["symbol"].astype(str).tolist() == original["symbol"].astype(str).tolist()
    assert set(back["date"].astype(str)) == {"2025-11-25", "2025-11-26", "2025-11-27"}


def test_polars_duckdb_dask_read_it_as_is(tmp_path: Path) -> None:
    root = export_frames({"trades": trades_frame()}, tmp_path)["trades"]
    pl = pytest.importorskip("polars")
    duckdb = pytest.importorskip("duckdb")
    dd = pytest.importorskip("dask.dataframe")
    df = pl.read_parquet(root / "**" / "*.parquet", hive_partitioning=True)
    assert df.height == 120 and set(df["symbol"].cast(pl.Utf8).unique()) == {"BTC-USDT", "ETH-USDT"}
    con = duckdb.connect()
    n, vol = con.execute(f"SELECT count(*), sum(size) FROM read_parquet('{root}/**/*.parquet', hive_partitioning=true)"
                         " WHERE symbol = 'ETH-USDT'").fetchone()
    assert n == 40 and vol == pytest.approx(sum(0.5 + i % 7 for i in range(0, 120, 3)))
    ddf = dd.read_parquet(str(root))
    assert len(ddf.compute()) == 120


def test_csv_and_bad_format(tmp_path: Path) -> None:
    path = export_frames({"trades": trades_frame(10)}, tmp_path, "csv")["trades"]
    assert path.name == "trades.csv" and len(pd.read_csv(path)) == 10
    with pytest.raises(ValueError, match="format must be one of"):
        export_frames({}, tmp_path, "xlsx")


def test_re_export_replaces_and_progress_reports(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    export_frames({"trades": trades_frame()}, tmp_path)
    root = export_frames({"trades": trades_frame(30)}, tmp_path, progress=lambda d, t: seen.append((d, t)))["trades"]
    assert len(pd.read_parquet(root)) == 30  # no rows left over from the first export
    assert seen[-1] == (30, 30) and all(t == 30 for _, t in seen) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_text_progress_for_long_exports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export_frames({"trades": trades_frame(20)}, tmp_path, progress=True)
    assert "export: 20 / 20 rows (100%)" in capsys.readouterr().err
