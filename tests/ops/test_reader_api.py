"""The Redis reader's own API before anything is read: arguments checked at the call, books and coverage empty
with a clear answer (no Redis needed until it starts)."""

from __future__ import annotations

import pytest

from livefeed.coverage import COVERAGE_COLUMNS, Coverage
from livefeed.reader import RedisFeed


def test_one_subscription_may_be_a_string_and_names_are_normalised() -> None:
    reader = RedisFeed("redis://127.0.0.1:1/0", "Binance:btc/usdt")
    assert [str(s) for s in reader.subscriptions] == ["binance:BTC-USDT"]  # type: ignore[union-attr]


@pytest.mark.parametrize(("initial", "cap"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 1.0)])
def test_retry_pacing_must_be_positive_and_capped(initial: float, cap: float) -> None:
    with pytest.raises(ValueError, match="0 < retry_initial <= retry_cap"):
        RedisFeed("redis://127.0.0.1:1/0", retry_initial=initial, retry_cap=cap)


def test_before_a_snapshot_there_is_no_book_and_no_coverage() -> None:
    reader = RedisFeed("redis://127.0.0.1:1/0", ["binance:BTC-USDT"])
    with pytest.raises(KeyError, match=r"no book for binance:btc-usdt yet \(it appears with the first snapshot read\)"):
        reader.book("binance", "btc-usdt")
    assert reader.books == {}
    assert isinstance(reader.coverage_log, Coverage)
    coverage = reader.coverage()
    assert list(coverage.columns) == list(COVERAGE_COLUMNS) and coverage.empty


def test_removing_a_callback_never_added_is_ignored() -> None:
    reader = RedisFeed("redis://127.0.0.1:1/0")

    def callback(event: object) -> None:
        raise AssertionError("never called")

    reader.remove_callback(callback)  # unknown: ignored
    reader.add_callback(callback)
    reader.remove_callback(callback)
    reader.remove_callback(callback)  # already gone: ignored
