"""Binance USD-M: names, parsers on literal frames (Binance's docs and the recorded session), and the ``pu`` book
rule stated one rule per test."""

from __future__ import annotations

import pytest

from livefeed.book import OrderBook
from livefeed.errors import UnknownSymbolError
from livefeed.model import BookDelta, Side
from livefeed.venues.binance_usdm import (
    BinanceUsdmAdapter,
    PuSequencer,
    listed_symbols,
    open_interest_spacing,
    parse_agg_trade,
    parse_book_ticker,
    parse_depth,
    parse_force_order,
    parse_mark_price,
    parse_open_interest,
    parse_snapshot,
    route_of,
    stream_names,
    venue_symbol,
)
from livefeed.venues.book_sync import Verdict

from .rules import drive

S = "BTC-USDT-PERP"


def diff(first: int, last: int, bids: list[tuple[float, float]] | None = None) -> BookDelta:
    return BookDelta("binance", S, bids or [(100.0, float(last))], [], None, 0, last, first)


# -- names ------------------------------------------------------------------------------------------------------
def test_venue_symbols_of_a_perpetual_and_a_dated_future() -> None:
    assert venue_symbol("BTC-USDT-PERP") == "BTCUSDT"
    assert venue_symbol("BTC-USDT-20261225") == "BTCUSDT_261225"


def test_streams_per_channel_plus_funding_and_liquidations() -> None:
    assert stream_names("ETH-USDT-PERP", {"trades", "book", "ticker"}) == [
        "ethusdt@aggTrade", "ethusdt@depth@100ms", "ethusdt@bookTicker", "ethusdt@markPrice@1s",
        "ethusdt@forceOrder"]
    assert stream_names("BTC-USDT-20261225", {"book"}) == [
        "btcusdt_261225@depth@100ms", "btcusdt_261225@markPrice@1s", "btcusdt_261225@forceOrder"]


def test_depth_and_book_ticker_are_public_streams_the_others_market_streams() -> None:
    routes = {name: route_of(name) for name in stream_names("BTC-USDT-PERP", {"trades", "book", "ticker"})}
    assert routes == {"btcusdt@aggTrade": "market", "btcusdt@depth@100ms": "public", "btcusdt@bookTicker": "public",
                      "btcusdt@markPrice@1s": "market", "btcusdt@forceOrder": "market"}


def test_listing_keeps_trading_perpetuals_and_quarterlies_only() -> None:
    def entry(symbol: str, contract: str, status: str = "TRADING", delivery: int = 4133404800000) -> dict:
        return {"symbol": symbol, "pair": "BTCUSDT", "contractType": contract, "deliveryDate": delivery,
                "status": status, "baseAsset": "BTC", "quoteAsset": "USDT"}

    body = {"symbols": [
        entry("BTCUSDT", "PERPETUAL"),
        entry("BTCUSDT_261225", "CURRENT_QUARTER", delivery=1798185600000),  # 2026-12-25 08:00 UTC
        entry("BTCUSDT_270326", "NEXT_QUARTER", delivery=1806048000000),  # 2027-03-26 08:00 UTC
        entry("BTCUSDT_260925", "CURRENT_QUARTER", status="SETTLING", delivery=1790323200000),
        entry("BTCUSDT_X", "TRADIFI_PERPETUAL"),
    ]}
    assert listed_symbols(body) == {"BTC-USDT-PERP", "BTC-USDT-20261225", "BTC-USDT-20270326"}


def test_open_interest_polls_spread_evenly_within_a_quarter_of_the_weight_budget() -> None:
    assert open_interest_spacing(10.0, 4) == 2.5  # each of 4 symbols every 10 s
    assert open_interest_spacing(10.0, 500) == 0.1  # 500 symbols: 10 requests/s (600 of 2,400 weight a minute)
    assert 60 / open_interest_spacing(1.0, 10_000) <= 2400 / 4


def test_spot_and_option_names_are_refused_by_the_source() -> None:
    assert BinanceUsdmAdapter.normalize_target("btc-usdt-perp") == "BTC-USDT-PERP"
    with pytest.raises(UnknownSymbolError, match="perpetuals and dated futures"):
        BinanceUsdmAdapter.normalize_target("BTC-USDT")


@pytest.mark.parametrize("option, value", [("open_interest_every", -1), ("open_interest_every", True),
                                           ("snapshot_limit", 5000), ("streams_per_connection", 0)])
def test_bad_options_are_refused_at_the_call(option: str, value: object) -> None:
    with pytest.raises(ValueError, match=option):
        BinanceUsdmAdapter([S], ["book"], lambda e: None, **{option: value})


# -- parsers ----------------------------------------------------------------------------------------------------
def test_depth_update_keeps_u_range_and_pu() -> None:
    data = {"e": "depthUpdate", "E": 1626992741037, "T": 1626992741024, "s": "SUSHIUSDT", "U": 600859599090,
            "u": 600859600917, "pu": 600859598061, "b": [["7.5040", "813"], ["7.6090", "0"]],
            "a": [["7.6150", "1563"]]}
    delta, previous = parse_depth(data, "SUSHI-USDT-PERP", 7)
    assert (delta.first_sequence, delta.sequence, previous) == (600859599090, 600859600917, 600859598061)
    assert delta.bids == [(7.504, 813.0), (7.609, 0.0)] and delta.asks == [(7.615, 1563.0)]
    assert delta.exchange_ts == 1626992741037 * 10**6 and delta.receipt_ts == 7


def test_futures_book_ticker_with_event_type() -> None:
    data = {"e": "bookTicker", "u": 600859600576, "s": "SUSHIUSDT", "b": "7.6110", "B": "2", "a": "7.6120",
            "A": "297", "T": 1626992741012, "E": 1626992741017}
    t = parse_book_ticker(data, "SUSHI-USDT-PERP", 1)
    assert (t.bid_price, t.bid_size, t.ask_price, t.ask_size, t.sequence) == (7.611, 2.0, 7.612, 297.0, 600859600576)
    assert t.exchange_ts == 1626992741017 * 10**6


def test_agg_trade_side_is_the_takers() -> None:
    data = {"e": "aggTrade", "E": 123456789, "s": "BTCUSDT", "a": 5933014, "p": "0.001", "q": "100",
            "f": 100, "l": 105, "T": 123456785, "m": True}
    trade = parse_agg_trade(data, S, 1)
    assert (trade.price, trade.size, trade.side, trade.trade_id) == (0.001, 100.0, Side.SELL, "5933014")
    assert parse_agg_trade({**data, "m": False}, S, 1).side is Side.BUY


def test_mark_price_of_a_perpetual_and_of_a_dated_future() -> None:
    perp = parse_mark_price({"e": "markPriceUpdate", "E": 1562305380000, "s": "BTCUSDT", "p": "11794.15000000",
                             "i": "11784.62659091", "P": "11784.25641265", "r": "0.00038167",
                             "T": 1562306400000}, S, 1)
    assert (perp.mark_price, perp.index_price, perp.funding_rate) == (11794.15, 11784.62659091, 0.00038167)
    assert perp.next_funding_ts == 1562306400000 * 10**6 and perp.exchange_ts == 1562305380000 * 10**6
    future = parse_mark_price({"e": "markPriceUpdate", "E": 1596095725000, "s": "BTCUSDT_261225",
                               "p": "10934.62615417", "P": "10962.17178236", "i": "10933.62615417", "r": "",
                               "T": 0}, "BTC-USDT-20261225", 1)
    assert future.funding_rate is None and future.next_funding_ts is None and future.index_price == 10933.62615417


def test_force_order_is_a_liquidation_at_its_average_fill() -> None:
    data = {"e": "forceOrder", "E": 1568014460893, "o": {"s": "BTCUSDT", "S": "SELL", "o": "LIMIT", "f": "IOC",
            "q": "0.014", "p": "9910", "ap": "9915.5", "X": "FILLED", "l": "0.014", "z": "0.012",
            "T": 1568014460893}}
    liq = parse_force_order(data, S, 1)
    assert (liq.side, liq.price, liq.size, liq.exchange_ts) == (Side.SELL, 9915.5, 0.012, 1568014460893 * 10**6)
    unfilled = {**data, "o": {**data["o"], "S": "BUY", "ap": "0", "z": "0"}}
    assert (parse_force_order(unfilled, S, 1).price, parse_force_order(unfilled, S, 1).side) == (9910.0, Side.BUY)


def test_open_interest_and_snapshot_bodies() -> None:
    oi = parse_open_interest({"openInterest": "10659.509", "symbol": "BTCUSDT", "time": 1589437530011}, S, 1)
    assert (oi.open_interest, oi.value, oi.exchange_ts) == (10659.509, None, 1589437530011 * 10**6)
    snap = parse_snapshot({"lastUpdateId": 1027024, "E": 1589436922972, "T": 1589436922959,
                           "bids": [["4.00000000", "431.00000000"]], "asks": [["4.00000200", "12.00000000"]]}, S, 1)
    assert (snap.sequence, snap.bids, snap.asks) == (1027024, [(4.0, 431.0)], [(4.000002, 12.0)])


# -- the pu rule, one rule per test -----------------------------------------------------------------------------
def started(snapshot_id: int = 100) -> PuSequencer:
    rule = PuSequencer()
    assert rule.start(snapshot_id) == (Verdict.APPLY, [])
    return rule


def test_a_diff_before_any_snapshot_is_buffered() -> None:
    rule = PuSequencer()
    assert rule.judge(diff(10, 20), 5) is Verdict.BUFFERED
    assert not rule.synced and len(rule.buffer) == 1


def test_first_diff_after_snapshot_with_u_below_last_update_id_is_dropped() -> None:
    rule = started(100)
    assert rule.judge(diff(90, 99), 80) is Verdict.STALE
    assert rule.last_id == 100


def test_first_diff_ending_exactly_at_last_update_id_applies() -> None:
    """``U <= L <= u`` with ``u == L``: the recorded session's usual case, which a ``L + 1`` straddle refuses."""
    rule = started(100)
    assert rule.judge(diff(95, 100), 80) is Verdict.APPLY
    assert rule.last_id == 100


def test_first_diff_straddling_last_update_id_applies_whatever_its_pu() -> None:
    rule = started(100)
    assert rule.judge(diff(100, 130), 12345) is Verdict.APPLY
    assert rule.last_id == 130


def test_first_diff_starting_after_last_update_id_is_a_gap() -> None:
    rule = started(100)
    assert rule.judge(diff(101, 130), 100) is Verdict.GAP
    assert not rule.synced and [d.sequence for d, _ in rule.buffer] == [130]  # kept for the next snapshot


def test_next_diff_applies_when_its_pu_is_the_previous_u_even_with_ids_skipped() -> None:
    rule = started(100)
    rule.judge(diff(90, 110), 80)
    assert rule.judge(diff(150, 160), 110) is Verdict.APPLY  # U != previous u + 1: futures ids are not contiguous
    assert rule.last_id == 160


def test_next_diff_whose_pu_is_not_the_previous_u_is_a_gap_even_when_u_plus_one_chains() -> None:
    rule = started(100)
    rule.judge(diff(90, 110), 80)
    assert rule.judge(diff(111, 120), 109) is Verdict.GAP  # spot's U == u + 1 holds; the pu chain does not
    assert not rule.synced and [(d.sequence, pu) for d, pu in rule.buffer] == [(120, 109)]


def test_a_chained_diff_wholly_behind_the_book_is_stale_not_a_gap() -> None:
    rule = started(100)
    rule.judge(diff(90, 110), 80)
    assert rule.judge(diff(100, 110), 95) is Verdict.STALE  # a repeat of what was applied
    assert rule.last_id == 110 and rule.synced


def test_reset_forgets_the_position_and_the_buffer() -> None:
    rule = started(100)
    rule.judge(diff(90, 110), 80)
    rule.reset()
    assert not rule.synced and not rule.buffer
    assert rule.judge(diff(150, 160), 110) is Verdict.BUFFERED


def test_start_refuses_a_snapshot_older_than_the_first_buffered_diff() -> None:
    rule = PuSequencer()
    rule.judge(diff(101, 110), 90)
    assert rule.start(100) == (Verdict.STALE, [])
    assert not rule.synced and len(rule.buffer) == 1  # kept for the next snapshot


def test_start_accepts_a_snapshot_at_the_first_buffered_diffs_first_id() -> None:
    rule = PuSequencer()
    rule.judge(diff(100, 110), 90)
    verdict, pending = rule.start(100)
    assert verdict is Verdict.APPLY and [d.sequence for d in pending] == [110]


def test_start_drops_buffered_diffs_below_the_snapshot_and_returns_the_chain_after_it() -> None:
    rule = PuSequencer()
    for first, last, pu in [(80, 90, 70), (95, 100, 90), (105, 120, 100), (130, 140, 120)]:
        rule.judge(diff(first, last), pu)
    verdict, pending = rule.start(100)
    assert verdict is Verdict.APPLY
    assert [d.sequence for d in pending] == [100, 120, 140]  # u == L is kept and applied (U <= L <= u)
    assert rule.last_id == 140 and not rule.buffer


def test_start_after_a_snapshot_beyond_every_buffered_diff_waits_for_a_straddling_live_diff() -> None:
    rule = PuSequencer()
    rule.judge(diff(80, 90), 70)
    assert rule.start(150) == (Verdict.APPLY, [])
    assert rule.judge(diff(95, 149), 90) is Verdict.STALE
    assert rule.judge(diff(150, 170), 149) is Verdict.APPLY


def test_start_reports_a_pu_break_inside_the_buffer_and_keeps_what_follows() -> None:
    rule = PuSequencer()
    for first, last, pu in [(95, 100, 90), (105, 120, 100), (130, 140, 119), (150, 160, 140)]:
        rule.judge(diff(first, last), pu)
    assert rule.start(100) == (Verdict.GAP, [])
    assert not rule.synced and [d.sequence for d, _ in rule.buffer] == [140, 160]


def test_a_duplicate_buffered_diff_is_not_returned_twice() -> None:
    rule = PuSequencer()
    for first, last, pu in [(95, 100, 90), (105, 120, 100), (105, 120, 100), (130, 140, 120)]:
        rule.judge(diff(first, last), pu)
    verdict, pending = rule.start(100)
    assert verdict is Verdict.APPLY and [d.sequence for d in pending] == [100, 120, 140]


def test_verify_always_passes_and_applied_diffs_reach_the_book() -> None:
    rule, book = started(100), OrderBook("binance", S)
    book.apply_snapshot([(99.0, 1.0)], [(101.0, 1.0)], 100)
    assert drive(rule, book, diff(90, 110, [(99.5, 2.0)]), 80) is Verdict.APPLY
    assert book.sequence == 110 and book.best_bid == (99.5, 2.0)
    assert drive(rule, book, diff(120, 130, [(99.7, 2.0)]), 111) is Verdict.GAP
    assert book.best_bid == (99.5, 2.0)  # a gap is never applied
