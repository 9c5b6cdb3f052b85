"""MarketSim: a seeded book that numbers its changes as Binance does and never contradicts itself."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livefeed.sim.market import DEFAULT_SPECS, MarketSim, SymbolSpec, spec_for

BTC = DEFAULT_SPECS["BTC-USDT"]


def run(market: MarketSim, n: int, start_ms: int = 1_700_000_000_000) -> list:
    return [market.step(start_ms + 100 * i) for i in range(n)]


def apply(book: dict[str, dict[str, str]], step) -> None:
    for side, changes in (("bids", step.bid_changes), ("asks", step.ask_changes)):
        for price, qty in changes:
            if float(qty) == 0:
                book[side].pop(price, None)
            else:
                book[side][price] = qty


def test_symbol_spec_names_and_wire_strings():
    assert BTC.venue_symbol == "BTCUSDT"
    assert BTC.canonical == "BTC-USDT"
    assert BTC.price_str(6_000_001) == "60000.01000000"
    assert BTC.qty_str(0) == "0.00000000"
    assert BTC.qty_str(2_000) == "0.02000000"
    assert BTC.tick_size_str() == "0.01000000"
    assert BTC.step_size_str() == "0.00001000"


def test_any_pair_gets_a_stable_spec_and_bad_names_fail():
    spec = spec_for("pepe-usdt")
    assert spec.canonical == "PEPE-USDT"
    assert spec_for("PEPE/USDT") == spec
    assert spec_for("BTC-USDT") is BTC
    with pytest.raises(ValueError, match="BASE-QUOTE"):
        spec_for("BTCUSDT")


def test_same_seed_same_steps_and_other_seed_differs():
    a, b, c = MarketSim(BTC, seed=3), MarketSim(BTC, seed=3), MarketSim(BTC, seed=4)
    steps_a, steps_b, steps_c = run(a, 300), run(b, 300), run(c, 300)
    assert [dataclasses.asdict(s) for s in steps_a] == [dataclasses.asdict(s) for s in steps_b]
    assert a.snapshot(5000) == b.snapshot(5000)
    assert [dataclasses.asdict(s) for s in steps_a] != [dataclasses.asdict(s) for s in steps_c]


def test_initial_book_has_about_levels_per_side_and_binance_snapshot_shape():
    market = MarketSim(BTC, seed=1, levels=200)
    snap = market.snapshot(5000)
    assert list(snap) == ["lastUpdateId", "bids", "asks"]
    assert snap["lastUpdateId"] == market.last_update_id
    assert 100 <= len(snap["bids"]) <= 200 and 100 <= len(snap["asks"]) <= 200
    bids = [float(p) for p, _ in snap["bids"]]
    asks = [float(p) for p, _ in snap["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert market.best_bid_ask() == (bids[0], asks[0])
    top = market.snapshot(5)
    assert len(top["bids"]) == len(top["asks"]) == 5 and top["bids"] == snap["bids"][:5]


def test_ids_are_contiguous_and_every_change_takes_one():
    market = MarketSim(BTC, seed=2, max_changes=10)
    previous = market.last_update_id
    for step in run(market, 500):
        assert step.first_id == previous + 1
        assert 1 <= step.last_id - step.first_id + 1 <= 10
        # A price changed twice in one step appears once, with its final size; ids still count both changes.
        assert len(step.bid_changes) + len(step.ask_changes) <= step.last_id - step.first_id + 1
        assert step.bid_changes or step.ask_changes
        previous = step.last_id
    assert market.last_update_id == previous


def test_book_is_never_crossed_stays_on_grid_and_keeps_its_depth():
    market = MarketSim(BTC, seed=5, levels=200)
    for i in range(1000):
        step = market.step(i)
        bid, ask = market.best_bid_ask()
        assert bid < ask
        for price, qty in step.bid_changes + step.ask_changes:
            # 8 decimals on the wire, values on the 0.01 tick and 0.00001 lot grids.
            assert len(price.split(".")[1]) == 8 and price.endswith("000000")
            assert len(qty.split(".")[1]) == 8 and qty.endswith("000")
    book = market.true_book()
    assert 120 <= len(book["bids"]) <= 300 and 120 <= len(book["asks"]) <= 300


def test_snapshot_plus_diffs_reproduces_the_true_book():
    market = MarketSim(BTC, seed=8)
    snap = market.snapshot(5000)
    book = {"bids": dict(snap["bids"]), "asks": dict(snap["asks"])}
    for step in run(market, 400):
        apply(book, step)
    truth = market.true_book()
    assert {s: {float(p): float(q) for p, q in book[s].items()} for s in book} == truth
    final = market.snapshot(5000)
    assert dict(final["bids"]) == book["bids"] and dict(final["asks"]) == book["asks"]


def test_trades_hit_the_best_level_and_shrink_it_in_the_same_diff():
    # One change per step, always a trade: each step is exactly "a taker order against the top".
    market = MarketSim(BTC, seed=9, max_changes=1, trade_prob=1.0)
    last_trade_id = None
    for step in run(market, 300):
        (trade,) = step.trades
        assert trade.update_id == step.first_id == step.last_id
        if last_trade_id is not None:
            assert trade.trade_id == last_trade_id + 1
        last_trade_id = trade.trade_id
        side_changes = step.bid_changes if trade.buyer_is_maker else step.ask_changes
        assert [price for price, _ in side_changes] == [trade.price]
        assert not (step.ask_changes if trade.buyer_is_maker else step.bid_changes)
        (ticker,) = step.tickers
        assert ticker.update_id == trade.update_id


def test_trade_size_is_taken_from_the_resting_level():
    market = MarketSim(BTC, seed=10, max_changes=1, trade_prob=1.0)
    for i in range(300):
        snap = market.snapshot(1)
        step = market.step(i)
        (trade,) = step.trades
        best_price, best_qty = (snap["bids"] if trade.buyer_is_maker else snap["asks"])[0]
        assert trade.price == best_price
        (change,) = step.bid_changes or step.ask_changes
        assert float(change[1]) == pytest.approx(float(best_qty) - float(trade.qty), abs=1e-9)
        assert 0 < float(trade.qty) <= float(best_qty)
        # The top of book announced for this id is the book right after the trade.
        (ticker,) = step.tickers
        bid, ask = market.best_bid_ask()
        assert (float(ticker.bid_price), float(ticker.ask_price)) == (bid, ask)


def test_book_tickers_follow_every_change_of_the_top():
    market = MarketSim(BTC, seed=11)
    for i in range(300):
        step = market.step(i)
        ids = [t.update_id for t in step.tickers]
        assert ids == sorted(ids) and all(step.first_id <= i <= step.last_id for i in ids)
        if step.tickers:
            last = step.tickers[-1]
            bid, ask = market.best_bid_ask()
            assert (float(last.bid_price), float(last.ask_price)) == (bid, ask)


def test_steps_are_a_function_of_the_seed_and_the_event_times():
    # The price follows a clock-indexed fair-price path (shared across venues), so the event times are an input:
    # the same seed stepped at the same times repeats exactly; the same seed an hour later moves differently.
    a, b, later = MarketSim(BTC, seed=12), MarketSim(BTC, seed=12), MarketSim(BTC, seed=12)
    steps_a = [dataclasses.asdict(s) for s in run(a, 200)]
    steps_b = [dataclasses.asdict(s) for s in run(b, 200)]
    steps_later = [dataclasses.asdict(s) for s in run(later, 200, start_ms=1_700_003_600_000)]
    assert steps_a == steps_b
    assert [(s["bid_changes"], s["ask_changes"]) for s in steps_a] != [
        (s["bid_changes"], s["ask_changes"]) for s in steps_later
    ]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), levels=st.integers(10, 60), max_changes=st.integers(1, 20))
def test_property_never_crossed_and_contiguous(seed: int, levels: int, max_changes: int):
    spec = SymbolSpec("ABC", "USDT", price_decimals=4, qty_decimals=2, tick=0.0005, start_price=1.0)
    market = MarketSim(spec, seed=seed, levels=levels, max_changes=max_changes)
    previous = market.last_update_id
    for step in run(market, 60):
        assert step.first_id == previous + 1
        previous = step.last_id
        bid, ask = market.best_bid_ask()
        assert 0 < bid < ask
        for price, _ in step.bid_changes + step.ask_changes:
            assert int(price.replace(".", "")) % 5_0000 == 0  # 0.0005 tick, printed with 8 decimals
