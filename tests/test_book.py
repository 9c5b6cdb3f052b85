"""OrderBook behaviour: literal cases for every method, then a model-based check against a naive reference."""

from __future__ import annotations

from itertools import accumulate

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livefeed.book import OrderBook
from livefeed.model import Level

BIDS: list[Level] = [(100.0, 1.0), (99.5, 2.0), (99.0, 3.0)]
ASKS: list[Level] = [(100.5, 1.5), (101.0, 2.5), (102.0, 4.0)]


@pytest.fixture
def book() -> OrderBook:
    book = OrderBook("binance", "BTC-USDT")
    book.apply_snapshot(BIDS, ASKS, sequence=10)
    return book


# -- construction and empty book -------------------------------------------------------------------------------


def test_new_book_is_empty_and_unsequenced() -> None:
    book = OrderBook("kraken", "XBT/USD")
    assert (book.venue, book.symbol, book.sequence) == ("kraken", "XBT/USD", None)
    assert len(book) == book.bid_count == book.ask_count == 0
    assert book.best_bid is None and book.best_ask is None
    assert book.spread is None and book.mid is None
    assert book.crossed is False
    assert book.bids() == [] and book.asks() == [] and book.bids(5) == []
    assert book.imbalance() is None
    assert book.depth_within(0.01) == (0.0, 0.0)
    assert book.to_dict() == {"bids": {}, "asks": {}}


def test_empty_book_cumulative_depth_is_empty_float_arrays() -> None:
    for depth in (OrderBook().cumulative_depth(), OrderBook().cumulative_depth(band=0.01, levels=5)):
        assert set(depth) == {"bid_price", "bid_cum", "ask_price", "ask_cum"}
        for array in depth.values():
            assert array.dtype == np.float64 and array.shape == (0,)


def test_defaults_allow_unlabelled_book() -> None:
    book = OrderBook()
    assert book.venue == "" and book.symbol == ""
    assert repr(book) == "<OrderBook bids=0 asks=0 best=-/- seq=None>"


# -- snapshots -------------------------------------------------------------------------------------------------


def test_snapshot_sets_levels_sorted_best_first_and_sequence(book: OrderBook) -> None:
    assert book.sequence == 10
    assert book.bids() == [(100.0, 1.0), (99.5, 2.0), (99.0, 3.0)]
    assert book.asks() == [(100.5, 1.5), (101.0, 2.5), (102.0, 4.0)]
    assert (book.bid_count, book.ask_count, len(book)) == (3, 3, 6)


def test_snapshot_accepts_unsorted_input_and_lists_and_ignores_zero_sizes() -> None:
    book = OrderBook()
    book.apply_snapshot([[99.0, 3.0], [100.0, 1.0], [98.0, 0.0]], ([101.0, 2.5], [100.5, 1.5], [103.0, 0]))
    assert book.bids() == [(100.0, 1.0), (99.0, 3.0)]
    assert book.asks() == [(100.5, 1.5), (101.0, 2.5)]
    assert all(isinstance(level, tuple) for level in book.bids() + book.asks())


def test_snapshot_replaces_previous_state_entirely(book: OrderBook) -> None:
    book.apply_snapshot([(50.0, 1.0)], [], sequence=20)
    assert book.bids() == [(50.0, 1.0)]
    assert book.asks() == [] and book.best_ask is None
    assert book.sequence == 20
    book.apply_snapshot([], [])
    assert len(book) == 0 and book.sequence is None


def test_snapshot_accepts_generators() -> None:
    book = OrderBook()
    book.apply_snapshot(((p, 1.0) for p in (1.0, 2.0)), iter([(3.0, 1.0)]))
    assert book.bids() == [(2.0, 1.0), (1.0, 1.0)] and book.asks() == [(3.0, 1.0)]


# -- deltas ----------------------------------------------------------------------------------------------------


def test_delta_replaces_size_inserts_and_removes(book: OrderBook) -> None:
    book.apply_delta([(99.5, 7.0), (100.0, 0.0), (99.75, 0.5)], [(101.0, 0.0), (100.25, 9.0)], sequence=11)
    assert book.bids() == [(99.75, 0.5), (99.5, 7.0), (99.0, 3.0)]
    assert book.asks() == [(100.25, 9.0), (100.5, 1.5), (102.0, 4.0)]
    assert book.sequence == 11


def test_delta_removing_absent_level_is_a_no_op(book: OrderBook) -> None:
    before = book.to_dict()
    book.apply_delta([(42.0, 0.0)], [(999.0, 0.0)])
    assert book.to_dict() == before
    empty = OrderBook()
    empty.apply_delta([(1.0, 0.0)], [(2.0, 0.0)])
    assert len(empty) == 0


def test_delta_without_sequence_keeps_previous_sequence(book: OrderBook) -> None:
    book.apply_delta([(99.0, 1.0)], [])
    assert book.sequence == 10


def test_delta_accepts_list_levels_and_builds_book_from_nothing() -> None:
    book = OrderBook()
    book.apply_delta([[10.0, 1.0], [11.0, 2.0]], [[12.0, 3.0]], sequence=1)
    assert book.best_bid == (11.0, 2.0) and book.best_ask == (12.0, 3.0)
    assert book.sequence == 1


def test_delta_repeated_price_in_one_message_last_entry_wins() -> None:
    book = OrderBook()
    book.apply_delta([(10.0, 1.0), (10.0, 0.0), (11.0, 1.0), (11.0, 5.0)], [])
    assert book.bids() == [(11.0, 5.0)]


def test_removing_every_level_empties_the_side(book: OrderBook) -> None:
    book.apply_delta([(p, 0.0) for p, _ in BIDS], [])
    assert book.best_bid is None and book.bid_count == 0
    assert book.spread is None and book.mid is None and book.crossed is False


def test_clear_drops_levels_and_sequence(book: OrderBook) -> None:
    book.clear()
    assert len(book) == 0 and book.sequence is None and book.best_bid is None
    assert (book.venue, book.symbol) == ("binance", "BTC-USDT")
    book.apply_delta([(1.0, 1.0)], [])
    assert book.bids() == [(1.0, 1.0)]


# -- top of book -----------------------------------------------------------------------------------------------


def test_top_of_book_values(book: OrderBook) -> None:
    assert book.best_bid == (100.0, 1.0)
    assert book.best_ask == (100.5, 1.5)
    assert book.spread == 0.5
    assert book.mid == 100.25
    assert book.crossed is False


def test_one_sided_book_has_best_but_no_spread_or_mid() -> None:
    book = OrderBook()
    book.apply_snapshot([], ASKS)
    assert book.best_bid is None and book.best_ask == (100.5, 1.5)
    assert book.spread is None and book.mid is None and book.crossed is False
    assert book.depth_within(1.0) == (0.0, 0.0)
    assert book.imbalance() == -1.0


def test_crossed_and_locked_books_are_reported() -> None:
    book = OrderBook()
    book.apply_snapshot([(101.0, 1.0)], [(100.0, 1.0)])
    assert book.crossed is True and book.spread == -1.0
    book.apply_snapshot([(100.0, 1.0)], [(100.0, 1.0)])
    assert book.crossed is True and book.spread == 0.0


def test_bids_and_asks_limit_n(book: OrderBook) -> None:
    assert book.bids(2) == [(100.0, 1.0), (99.5, 2.0)]
    assert book.asks(1) == [(100.5, 1.5)]
    assert book.bids(0) == [] and book.asks(0) == []
    assert book.bids(100) == book.bids()


# -- depth -----------------------------------------------------------------------------------------------------


def test_depth_within_band_edges_are_inclusive() -> None:
    book = OrderBook()
    book.apply_snapshot([(99.0, 1.0), (98.0, 2.0), (90.0, 4.0)], [(101.0, 1.5), (102.0, 2.5), (110.0, 8.0)])
    assert book.mid == 100.0
    assert book.depth_within(0.0) == (0.0, 0.0)
    assert book.depth_within(0.01) == (1.0, 1.5)  # 99.0 and 101.0 sit exactly on the edge
    assert book.depth_within(0.02) == (3.0, 4.0)
    assert book.depth_within(0.099) == (3.0, 4.0)
    assert book.depth_within(0.1) == (7.0, 12.0)
    assert book.depth_within(5.0) == (7.0, 12.0)


def test_depth_within_rejects_negative_band(book: OrderBook) -> None:
    with pytest.raises(ValueError):
        book.depth_within(-0.01)


def test_cumulative_depth_values(book: OrderBook) -> None:
    depth = book.cumulative_depth()
    np.testing.assert_array_equal(depth["bid_price"], [100.0, 99.5, 99.0])
    np.testing.assert_array_equal(depth["bid_cum"], [1.0, 3.0, 6.0])
    np.testing.assert_array_equal(depth["ask_price"], [100.5, 101.0, 102.0])
    np.testing.assert_array_equal(depth["ask_cum"], [1.5, 4.0, 8.0])
    assert all(array.dtype == np.float64 for array in depth.values())


def test_cumulative_depth_limited_by_levels_band_and_both(book: OrderBook) -> None:
    top = book.cumulative_depth(levels=2)
    np.testing.assert_array_equal(top["bid_price"], [100.0, 99.5])
    np.testing.assert_array_equal(top["ask_cum"], [1.5, 4.0])
    # mid 100.25; 0.5% band keeps bids >= 99.74875 and asks <= 100.75125
    near = book.cumulative_depth(band=0.005)
    np.testing.assert_array_equal(near["bid_price"], [100.0])
    np.testing.assert_array_equal(near["ask_price"], [100.5])
    both = book.cumulative_depth(band=0.01, levels=1)
    np.testing.assert_array_equal(both["bid_cum"], [1.0])
    np.testing.assert_array_equal(both["ask_cum"], [1.5])


def test_cumulative_depth_one_sided_without_and_with_band() -> None:
    book = OrderBook()
    book.apply_snapshot(BIDS, [])
    depth = book.cumulative_depth()
    np.testing.assert_array_equal(depth["bid_cum"], [1.0, 3.0, 6.0])
    assert depth["ask_price"].shape == (0,)
    assert all(array.shape == (0,) for array in book.cumulative_depth(band=0.5).values())


def test_imbalance(book: OrderBook) -> None:
    assert book.imbalance(1) == pytest.approx((1.0 - 1.5) / 2.5)
    assert book.imbalance() == pytest.approx((6.0 - 8.0) / 14.0)
    assert book.imbalance(0) is None


# -- whole-book views ------------------------------------------------------------------------------------------


def test_to_dict_is_a_detached_copy(book: OrderBook) -> None:
    snapshot = book.to_dict()
    assert snapshot == {"bids": dict(BIDS), "asks": dict(ASKS)}
    snapshot["bids"][1.0] = 1.0
    assert 1.0 not in book.to_dict()["bids"]


def test_copy_is_independent_and_keeps_labels(book: OrderBook) -> None:
    twin = book.copy()
    assert twin == book and twin is not book
    assert (twin.venue, twin.symbol, twin.sequence) == ("binance", "BTC-USDT", 10)
    twin.apply_delta([(100.0, 0.0), (100.2, 1.0)], [(100.5, 9.0)], sequence=11)
    assert book.bids() == BIDS and book.asks() == ASKS and book.sequence == 10
    assert twin.best_bid == (100.2, 1.0) and twin.best_ask == (100.5, 9.0)


def test_equality_ignores_labels_and_compares_levels(book: OrderBook) -> None:
    other = OrderBook("coinbase", "BTC-USD")
    other.apply_snapshot(list(reversed(BIDS)), ASKS, sequence=999)
    assert other == book
    other.apply_delta([], [(102.0, 4.5)])
    assert other != book
    assert book != "not a book"


def test_repr_is_short_and_informative(book: OrderBook) -> None:
    assert repr(book) == "<OrderBook binance BTC-USDT bids=3 asks=3 best=100.0/100.5 seq=10>"


# -- model-based check against a naive reference ---------------------------------------------------------------


class ReferenceBook:
    """Two plain dicts, sorted on every query: obviously right, hopelessly slow."""

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}

    def snapshot(self, bids: list[Level], asks: list[Level]) -> None:
        self.bids = {p: s for p, s in bids if s}
        self.asks = {p: s for p, s in asks if s}

    def delta(self, bids: list[Level], asks: list[Level]) -> None:
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, size in levels:
                if size:
                    side[price] = size
                else:
                    side.pop(price, None)

    def sorted_bids(self) -> list[Level]:
        return sorted(self.bids.items(), reverse=True)

    def sorted_asks(self) -> list[Level]:
        return sorted(self.asks.items())

    def mid(self) -> float | None:
        if not self.bids or not self.asks:
            return None
        return (max(self.bids) + min(self.asks)) / 2.0


PRICES = st.sampled_from([round(100.0 + 0.25 * i, 2) for i in range(-12, 13)])  # small grid: collisions happen
SIZES = st.one_of(st.just(0.0), st.sampled_from([0.001, 0.5, 1.0, 2.25, 10.0]))
LEVELS = st.lists(st.tuples(PRICES, SIZES), max_size=12)
OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["snapshot", "delta", "delta", "delta"]), LEVELS, LEVELS), min_size=1, max_size=25
)
BANDS = [0.0, 0.001, 0.01, 0.03, 0.5]


def assert_matches(book: OrderBook, ref: ReferenceBook) -> None:
    bids, asks = ref.sorted_bids(), ref.sorted_asks()
    assert book.bids() == bids and book.asks() == asks
    assert book.bids(3) == bids[:3] and book.asks(3) == asks[:3]
    assert book.best_bid == (bids[0] if bids else None)
    assert book.best_ask == (asks[0] if asks else None)
    mid = ref.mid()
    assert book.mid == mid
    assert book.spread == (asks[0][0] - bids[0][0] if mid is not None else None)
    assert book.crossed == (mid is not None and bids[0][0] >= asks[0][0])
    assert book.to_dict() == {"bids": ref.bids, "asks": ref.asks}
    assert (book.bid_count, book.ask_count, len(book)) == (len(bids), len(asks), len(bids) + len(asks))
    for band in BANDS:
        if mid is None:
            assert book.depth_within(band) == (0.0, 0.0)
            continue
        bid_in = [(p, s) for p, s in bids if p >= mid * (1 - band)]
        ask_in = [(p, s) for p, s in asks if p <= mid * (1 + band)]
        assert book.depth_within(band) == (sum(s for _, s in bid_in), sum(s for _, s in ask_in))  # same order
        for levels in (None, 2):
            assert_depth_arrays(book.cumulative_depth(band=band, levels=levels), bid_in[:levels], ask_in[:levels])
    assert_depth_arrays(book.cumulative_depth(), bids, asks)
    assert_depth_arrays(book.cumulative_depth(levels=2), bids[:2], asks[:2])


def assert_depth_arrays(depth: dict[str, np.ndarray], bids: list[Level], asks: list[Level]) -> None:
    # np.cumsum accumulates left to right like itertools.accumulate, so exact equality is the right check.
    for side, levels in (("bid", bids), ("ask", asks)):
        assert depth[f"{side}_price"].tolist() == [p for p, _ in levels]
        assert depth[f"{side}_cum"].tolist() == list(accumulate(s for _, s in levels))
        assert depth[f"{side}_cum"].dtype == np.float64


@settings(max_examples=100, deadline=None)
@given(OPERATIONS)
def test_matches_naive_reference_after_every_operation(operations: list[tuple[str, list[Level], list[Level]]]) -> None:
    book, ref = OrderBook("test", "X"), ReferenceBook()
    for sequence, (kind, bids, asks) in enumerate(operations):
        if kind == "snapshot":
            book.apply_snapshot(bids, asks, sequence=sequence)
            ref.snapshot(bids, asks)
        else:
            book.apply_delta(bids, asks, sequence=sequence)
            ref.delta(bids, asks)
        assert book.sequence == sequence
        assert_matches(book, ref)
        assert book.copy() == book


def test_repr_and_print_round_prices_to_the_venue_tick() -> None:
    book = OrderBook("binance", "BTC-USDT")
    book.apply_snapshot([(59727.15, 1.5), (59727.1, 0.25)], [(59728.910000000001, 2.0), (59729.0, 12345.678)], 7)
    assert book.price_decimals() == 2
    assert repr(book) == "<OrderBook binance BTC-USDT bids=2 asks=2 best=59,727.15/59,728.91 seq=7>"
    lines = str(book).splitlines()
    assert lines[1].split() == ["ask", "59,729.00", "12,345.678"]
    assert "spread 1.76" in lines[3] and lines[-1].split() == ["bid", "59,727.10", "0.25"]
    coarse = OrderBook()
    coarse.apply_snapshot([(3000.0, 1.0)], [(3001.0, 1.0)])
    assert coarse.price_decimals() == 0 and "best=3,000/3,001" in repr(coarse)
