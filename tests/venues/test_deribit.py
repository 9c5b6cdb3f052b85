"""Deribit's names, parsers and book rule on literal frames (shapes from Deribit's API v2 pages and the recorded
session in tests/data/recorded)."""

from __future__ import annotations

import orjson
import pytest

from livefeed.connection import Connection
from livefeed.derivatives import Funding
from livefeed.errors import UnknownSymbolError
from livefeed.model import BookDelta, BookSnapshot, Side
from livefeed.naming import Kind
from livefeed.registry import parse_subscription
from livefeed.venues.base import MalformedFrame, Verdict
from livefeed.venues.deribit import (
    ChangeIdChain,
    DeribitAdapter,
    canonical_symbol,
    channel_names,
    listed_instruments,
    parse_book,
    parse_ticker,
    parse_trades,
    venue_symbol,
)

NAMES = [
    ("BTC-USD-PERP", "BTC-PERPETUAL"),
    ("ETH-USD-PERP", "ETH-PERPETUAL"),
    ("BTC-USD-20261225", "BTC-25DEC26"),
    ("BTC-USD-20270105", "BTC-5JAN27"),
    ("BTC-USD-20261225-80000-C", "BTC-25DEC26-80000-C"),
    ("ETH-USD-20210730-2800-C", "ETH-30JUL21-2800-C"),
    ("BTC-USD-20210924-8000-P", "BTC-24SEP21-8000-P"),
    ("BTC-USDC-PERP", "BTC_USDC-PERPETUAL"),
    ("XRP-USDC-20261225-0.625-P", "XRP_USDC-25DEC26-0d625-P"),
]


@pytest.mark.parametrize(("canonical", "deribit"), NAMES)
def test_names_map_both_ways(canonical: str, deribit: str) -> None:
    assert venue_symbol(canonical) == deribit
    assert canonical_symbol(deribit) == canonical


def test_names_of_other_shapes_are_refused() -> None:
    for name in ("BTC_USDC", "BTC-FS-25DEC26_PERP", "BTC-DERIBIT-INDEX", "BTC-25XYZ26", "BTC-25DEC26-80000-X"):
        with pytest.raises(ValueError):
            canonical_symbol(name)
    with pytest.raises(UnknownSymbolError, match="perpetuals, futures and options"):
        venue_symbol("BTC-USD")


def test_subscriptions_route_each_kind_to_deribit_and_refuse_spot() -> None:
    for text in ("deribit:btc-usd-perp", "deribit:BTC-USD-20261225", "deribit:BTC-USD-20261225-80000-C"):
        sub = parse_subscription(text)
        assert (sub.venue, sub.source, sub.symbol) == ("deribit", "deribit", text.split(":")[1].upper())
    with pytest.raises(UnknownSymbolError, match="deribit has no spot markets"):
        parse_subscription("deribit:BTC-USD")
    with pytest.raises(UnknownSymbolError, match="ends in 'X'"):
        parse_subscription("deribit:BTC-USD-20261225-80000-X")


def test_channels_are_batched_books_first() -> None:
    names = channel_names(["BTC-USD-PERP", "BTC-USD-20261225-80000-C"], ["ticker", "trades", "book"])
    assert names == ["book.BTC-PERPETUAL.100ms", "book.BTC-25DEC26-80000-C.100ms",
                     "trades.BTC-PERPETUAL.100ms", "trades.BTC-25DEC26-80000-C.100ms",
                     "ticker.BTC-PERPETUAL.100ms", "ticker.BTC-25DEC26-80000-C.100ms"]


SNAPSHOT = {"type": "snapshot", "timestamp": 1626993723632, "instrument_name": "ETH-30JUL21-2800-C",
            "change_id": 13169025645,
            "bids": [["new", 0.0015, 4714.0], ["new", 0.001, 861.0]], "asks": [["new", 0.0025, 873.0]]}
CHANGE = {"type": "change", "timestamp": 1626993724100, "instrument_name": "ETH-30JUL21-2800-C",
          "change_id": 13169025700, "prev_change_id": 13169025645,
          "bids": [["delete", 0.001, 0.0], ["change", 0.0015, 4000.0]], "asks": [["new", 0.003, 5.0]]}


def test_book_levels_delete_to_zero_and_events_carry_the_change_id() -> None:
    snap, change = parse_book(SNAPSHOT), parse_book(CHANGE)
    assert snap.is_snapshot and snap.prev_change_id is None
    assert change.bids == [(0.001, 0.0), (0.0015, 4000.0)] and change.asks == [(0.003, 5.0)]
    event = change.to_event("ETH-USD-20210730-2800-C", 7)
    assert type(event) is BookDelta and event.sequence == event.first_sequence == 13169025700
    assert event.exchange_ts == 1626993724100 * 1_000_000
    assert type(snap.to_event("ETH-USD-20210730-2800-C", 7)) is BookSnapshot
    with pytest.raises(MalformedFrame):
        parse_book({**CHANGE, "bids": [["move", 1.0, 1.0]]})
    with pytest.raises(MalformedFrame):
        parse_book({**CHANGE, "type": "delta"})


def test_the_chain_applies_in_order_and_says_gap_on_a_break() -> None:
    rule = ChangeIdChain()
    assert rule.judge(parse_book(CHANGE)) is Verdict.STALE  # no snapshot yet
    assert rule.judge(parse_book(SNAPSHOT)) is Verdict.APPLY
    assert rule.judge(parse_book(CHANGE)) is Verdict.APPLY
    assert rule.last_change_id == 13169025700
    assert rule.judge(parse_book(CHANGE)) is Verdict.GAP  # its prev_change_id is no longer the last change_id
    assert not rule.synced and rule.last_change_id is None
    assert rule.judge(parse_book({**CHANGE, "prev_change_id": 13169025700, "change_id": 13169025800})) \
        is Verdict.STALE  # after a gap, nothing until the next snapshot
    assert rule.judge(parse_book(SNAPSHOT)) is Verdict.APPLY


OPTION_TICKER = {
    "underlying_price": 32749.6, "underlying_index": "BTC-31DEC21", "timestamp": 1626993754148, "state": "open",
    "settlement_price": 0.24, "open_interest": 4.6, "mark_price": 0.23341173, "mark_iv": 80.02, "last_price": 0.229,
    "instrument_name": "BTC-31DEC21-34000-P", "index_price": 32208.37,
    "greeks": {"vega": 85.23008, "theta": -21.13017, "rho": -94.97157, "gamma": 2e-05, "delta": -0.42245},
    "bid_iv": 79.67, "best_bid_price": 0.2325, "best_bid_amount": 1.5, "best_ask_price": 0.236,
    "best_ask_amount": 8.4, "ask_iv": 81.02,
}


def test_an_option_ticker_has_ivs_as_fractions_and_its_greeks() -> None:
    ticker, funding, interest, option = parse_ticker(OPTION_TICKER, "BTC-USD-20211231-34000-P", Kind.OPTION, 5)
    assert funding is None and interest is None
    assert ticker is not None and (ticker.bid_price, ticker.ask_size) == (0.2325, 8.4)
    assert option is not None
    assert (option.mark_iv, option.bid_iv, option.ask_iv) == (0.8002, 0.7967, 0.8102)
    assert (option.delta, option.gamma, option.vega, option.theta) == (-0.42245, 2e-05, 85.23008, -21.13017)
    assert (option.underlying_price, option.index_price, option.mark_price) == (32749.6, 32208.37, 0.23341173)
    assert option.open_interest == 4.6 and option.exchange_ts == 1626993754148 * 1_000_000


def test_an_option_without_bids_has_no_bid_and_no_bid_iv() -> None:
    data = {**OPTION_TICKER, "best_bid_price": 0.0, "best_bid_amount": 0.0, "bid_iv": 0.0}
    ticker, _, _, option = parse_ticker(data, "BTC-USD-20211231-34000-P", Kind.OPTION, 5)
    assert ticker is None  # no top of book with one side empty
    assert option is not None and (option.bid_price, option.bid_size, option.bid_iv) == (None, None, None)
    assert option.ask_iv == 0.8102


def test_a_perpetual_ticker_gives_funding_and_open_interest() -> None:
    data = {"instrument_name": "BTC-PERPETUAL", "timestamp": 1751800000200, "best_bid_price": 60000.0,
            "best_bid_amount": 12000.0, "best_ask_price": 60000.5, "best_ask_amount": 3000.0, "mark_price": 60000.3,
            "index_price": 59990.1, "current_funding": 0.00002, "funding_8h": 0.0001, "open_interest": 812345670.0}
    ticker, funding, interest, option = parse_ticker(data, "BTC-USD-PERP", Kind.PERP, 9)
    assert option is None and ticker is not None and ticker.extra["current_funding"] == 0.00002
    assert funding is not None and (funding.mark_price, funding.index_price, funding.funding_rate) == \
        (60000.3, 59990.1, 0.0001)
    assert funding.next_funding_ts is None
    assert interest is not None and interest.open_interest == interest.value == 812345670.0
    _, funding, interest, _ = parse_ticker(data, "BTC-USD-20261225", Kind.FUTURE, 9)
    assert funding is None and interest is not None


def test_trades_and_their_liquidations() -> None:
    items = [
        {"trade_seq": 30289, "trade_id": "48079269", "timestamp": 1590484156350, "tick_direction": 2,
         "price": 8950.0, "mark_price": 8948.9, "instrument_name": "BTC-PERPETUAL", "index_price": 8955.88,
         "direction": "sell", "amount": 10.0},
        {"trade_seq": 30290, "trade_id": "48079270", "timestamp": 1590484156351, "tick_direction": 2,
         "price": 8949.5, "mark_price": 8948.9, "instrument_name": "BTC-PERPETUAL", "index_price": 8955.88,
         "direction": "sell", "amount": 20.0, "liquidation": "MT"},
    ]
    trades, liquidations = parse_trades(items, "BTC-USD-PERP", 3)
    assert [(t.side, t.size, t.trade_id, t.sequence) for t in trades] == [
        (Side.SELL, 10.0, "48079269", 30289), (Side.SELL, 20.0, "48079270", 30290)]
    # the taker sold: a liquidated maker was buying (its forced order a buy), a liquidated taker selling
    assert [(q.side, q.price, q.size) for q in liquidations] == [(Side.BUY, 8949.5, 20.0), (Side.SELL, 8949.5, 20.0)]
    with pytest.raises(MalformedFrame):
        parse_trades([{**items[0], "direction": "up"}], "BTC-USD-PERP", 3)


def test_the_listing_keeps_active_perpetuals_futures_and_options() -> None:
    body = {"jsonrpc": "2.0", "result": [
        {"instrument_name": "BTC-PERPETUAL", "kind": "future", "is_active": True, "tick_size": 0.5,
         "contract_size": 10.0, "min_trade_amount": 10.0, "settlement_currency": "BTC",
         "expiration_timestamp": 32503708800000},
        {"instrument_name": "BTC-5JAN27-80000-C", "kind": "option", "is_active": True, "tick_size": 0.0001,
         "expiration_timestamp": 1799136000000, "strike": 80000.0, "option_type": "call"},
        {"instrument_name": "BTC-FS-5JAN27_PERP", "kind": "future_combo", "is_active": True},
        {"instrument_name": "BTC_USDC", "kind": "spot", "is_active": True},
        {"instrument_name": "BTC-26DEC25", "kind": "future", "is_active": False},
    ]}
    listed = listed_instruments(body)
    assert [(i.symbol, i.kind, i.strike, i.right) for i in listed] == [
        ("BTC-USD-PERP", Kind.PERP, None, None), ("BTC-USD-20270105-80000-C", Kind.OPTION, 80000.0, "C")]
    assert listed[0].expiry_ts is None and listed[1].expiry_ts == 1799136000000 * 1_000_000


def test_the_adapter_keeps_one_funding_row_a_second_and_open_interest_on_change() -> None:
    """A perpetual's ticker comes every 100 ms: funding is kept once a second, open interest when it changes, the
    top of book every time."""
    events: list[object] = []
    adapter = DeribitAdapter(["BTC-USD-PERP"], ["ticker"], events.append)
    conn = Connection("ws://127.0.0.1:9/ws/api/v2", name="deribit-0", on_frame=adapter.on_frame)  # never run
    for i in range(25):  # 2.4 s of tickers; open interest changes every tenth
        data = {"instrument_name": "BTC-PERPETUAL", "timestamp": 1_751_800_000_000 + 100 * i,
                "best_bid_price": 60000.0, "best_bid_amount": 10.0, "best_ask_price": 60000.5, "best_ask_amount": 20.0,
                "mark_price": 60000.2, "index_price": 59990.0, "funding_8h": 0.0001, "open_interest": 1000.0 + i // 10}
        frame = {"jsonrpc": "2.0", "method": "subscription",
                 "params": {"channel": "ticker.BTC-PERPETUAL.100ms", "data": data}}
        adapter.on_frame(orjson.dumps(frame), 1, conn)
    kinds = [type(e).__name__ for e in events]
    assert (kinds.count("Ticker"), kinds.count("Funding"), kinds.count("OpenInterest")) == (25, 3, 3)
    assert [e.exchange_ts // 1_000_000 - 1_751_800_000_000 for e in events if isinstance(e, Funding)] == [0, 1000, 2000]


def test_a_plain_heartbeat_asks_nothing_and_a_frame_of_no_known_shape_is_malformed() -> None:
    """(A ``test_request`` is answered against the simulator, in test_deribit_feed.py.)"""
    adapter = DeribitAdapter(["BTC-USD-PERP"], ["book"], lambda _e: None)
    conn = Connection("ws://127.0.0.1:9/ws/api/v2", name="deribit-0", on_frame=adapter.on_frame)  # never run
    adapter.on_frame('{"jsonrpc":"2.0","method":"heartbeat","params":{"type":"heartbeat"}}', 1, conn)
    assert not adapter._tasks and adapter.test_requests_answered == 0
    for frame in ('{"jsonrpc":"2.0","method":"subscription","params":{"channel":"book.ETH-PERPETUAL.100ms",'
                  '"data":{}}}', '{"jsonrpc":"2.0","result":[]}', '[1, 2]'):
        with pytest.raises(MalformedFrame):
            adapter.on_frame(frame, 1, conn)
