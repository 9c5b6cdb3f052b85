from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livefeed.frames import RollingFrame

COLUMNS = {"ts": "time", "venue": "category", "price": "float", "n": "int", "tag": "object"}


def test_rolls_over_and_keeps_order() -> None:
    frame = RollingFrame(COLUMNS, capacity=3)
    for i in range(5):
        frame.append((1_700_000_000_000_000_000 + i, "binance" if i % 2 else "kraken", float(i), i, f"t{i}"))
    assert len(frame) == 3 and frame.total == 5 and frame.rolled_out == 2
    df = frame.to_pandas()
    assert list(df["n"]) == [2, 3, 4]
    assert list(df["tag"]) == ["t2", "t3", "t4"]
    assert str(df["ts"].dtype) == "datetime64[ns, UTC]"
    assert isinstance(df["venue"].dtype, pd.CategoricalDtype)
    assert list(df["venue"].astype(str)) == ["kraken", "binance", "kraken"]
    assert df["ts"].iloc[0] == pd.Timestamp(1_700_000_000_000_000_002, tz="UTC")


def test_missing_time_reads_as_nat() -> None:
    frame = RollingFrame({"ts": "time"}, capacity=2)
    frame.append((None,))
    assert frame.to_pandas()["ts"].isna().all()


def test_read_since_returns_only_new_rows() -> None:
    frame = RollingFrame(COLUMNS, capacity=4)
    cursor = 0
    frame.append((1, "a", 1.0, 1, None))
    frame.append((2, "b", 2.0, 2, None))
    cols, cursor = frame.read_since(cursor)
    assert list(cols["n"]) == [1, 2] and list(cols["venue"]) == ["a", "b"] and cursor == 2
    for i in range(3, 10):
        frame.append((i, "a", float(i), i, None))
    cols, cursor = frame.read_since(cursor)
    assert list(cols["n"]) == [6, 7, 8, 9]  # rows 3..5 rolled out before they were read
    assert cursor == 9
    cols, cursor = frame.read_since(cursor)
    assert len(cols["n"]) == 0


def test_memory_is_bounded() -> None:
    frame = RollingFrame({"price": "float"}, capacity=1000)
    before = frame._arrays[0].nbytes
    for i in range(10_000):
        frame.append((float(i),))
    assert frame._arrays[0].nbytes == before
    assert np.array_equal(frame.to_pandas()["price"].to_numpy(), np.arange(9000, 10_000, dtype=float))


def test_bad_definitions_fail_clearly() -> None:
    with pytest.raises(ValueError, match="capacity"):
        RollingFrame(COLUMNS, capacity=0)
    with pytest.raises(ValueError, match="unknown column kinds"):
        RollingFrame({"x": "decimal"})


@settings(max_examples=60, deadline=None)
@given(capacity=st.integers(1, 700), ops=st.lists(st.one_of(st.integers(1, 600), st.just(0)), max_size=12))
def test_batched_appends_match_a_plain_list(capacity: int, ops: list[int]) -> None:
    """Rows are buffered and written in batches; whatever the interleaving of appends (n > 0) and reads (0),
    the frame reads back exactly the last ``capacity`` rows of a plain list."""
    frame = RollingFrame({"n": "int", "venue": "category"}, capacity=capacity)
    reference: list[int] = []
    for op in ops:
        for _ in range(op):
            frame.append((len(reference), f"v{len(reference) % 3}"))
            reference.append(len(reference))
        df = frame.to_pandas()
        assert list(df["n"]) == reference[-capacity:]
        assert list(df["venue"].astype(str)) == [f"v{i % 3}" for i in reference[-capacity:]]
        assert frame.total == len(reference)
