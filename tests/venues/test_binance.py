"""Binance spot parsing and the local-book rule, on literal frames from Binance's documentation."""

from __future__ import annotations

import orjson

from livefeed.model import BookDelta, Side
from livefeed.venues.binance import (
    DepthSequencer,
    parse_book_ticker,
    parse_depth,
    parse_snapshot,
    parse_trade,
    stream_names,
)
from livefeed.venues.book_sync import Verdict

# Literal payloads from binance-spot-api-docs web-socket-streams.md and rest-api.md.
DOC_TRADE = '{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}'
DOC_DEPTH = '{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}'
DOC_BOOK_TICKER = '{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000","a":"25.36520000","A":"40.66000000"}'
DOC_SNAPSHOT = '{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]}'


def test_trade_from_docs() -> None:
    trade = parse_trade(orjson.loads(DOC_TRADE), "BNB-BTC", receipt_ns=1)
    assert (trade.price, trade.size, trade.trade_id) == (0.001, 100.0, "12345")
    assert trade.side is Side.SELL  # m=true: the buyer was the maker, so the taker sold
    assert trade.exchange_ts == 1672515782136 * 1_000_000
    assert trade.venue == "binance" and trade.symbol == "BNB-BTC"


def test_buyer_taker_trade_is_a_buy() -> None:
    data = orjson.loads(DOC_TRADE)
    data["m"] = False
    assert parse_trade(data, "BNB-BTC", 1).side is Side.BUY


def test_depth_from_docs() -> None:
    delta = parse_depth(orjson.loads(DOC_DEPTH), "BNB-BTC", receipt_ns=5)
    assert delta.bids == [(0.0024, 10.0)] and delta.asks == [(0.0026, 100.0)]
    assert (delta.first_sequence, delta.sequence) == (157, 160)
    assert delta.receipt_ts == 5


def test_book_ticker_from_docs() -> None:
    ticker = parse_book_ticker(orjson.loads(DOC_BOOK_TICKER), "BNB-USDT", 1)
    assert (ticker.bid_price, ticker.bid_size, ticker.ask_price, ticker.ask_size) == (25.3519, 31.21, 25.3652, 40.66)
    assert ticker.sequence == 400900217 and ticker.exchange_ts is None


def test_snapshot_from_docs() -> None:
    snapshot = parse_snapshot(orjson.loads(DOC_SNAPSHOT), "BNB-BTC", 1)
    assert snapshot.sequence == 1027024
    assert snapshot.bids == [(4.0, 431.0)] and snapshot.asks == [(4.000002, 12.0)]


def test_stream_names_follow_channels() -> None:
    assert stream_names("BTC-USDT", {"trades", "book", "ticker"}) == [
        "btcusdt@trade", "btcusdt@depth@100ms", "btcusdt@bookTicker",
    ]
    assert stream_names("ETH-USDT", {"book"}) == ["ethusdt@depth@100ms"]


def diff(first: int, last: int) -> BookDelta:
    return BookDelta("binance", "BTC-USDT", [], [], None, 0, last, first)


def test_sequencer_buffers_until_a_snapshot() -> None:
    seq = DepthSequencer()
    assert seq.judge(diff(100, 105)) is Verdict.BUFFERED
    assert seq.judge(diff(106, 110)) is Verdict.BUFFERED
    assert not seq.synced


def test_sequencer_drops_covered_events_and_requires_straddle() -> None:
    # The real 2021 capture: snapshot 499869752, buffered (499869750..499869752) is dropped, next starts at +1.
    seq = DepthSequencer()
    seq.judge(diff(499869750, 499869752))
    seq.judge(diff(499869753, 499869760))
    verdict, pending = seq.start(499869752)
    assert verdict is Verdict.APPLY
    assert [(d.first_sequence, d.sequence) for d in pending] == [(499869753, 499869760)]
    assert seq.last_id == 499869760


def test_first_event_may_straddle_the_snapshot() -> None:
    seq = DepthSequencer()
    seq.judge(diff(95, 104))
    verdict, pending = seq.start(100)
    assert verdict is Verdict.APPLY and [d.sequence for d in pending] == [104]


def test_snapshot_older_than_the_stream_is_refused() -> None:
    seq = DepthSequencer()
    seq.judge(diff(200, 210))
    assert seq.start(150) == (Verdict.STALE, [])
    assert len(seq.buffer) == 1  # kept for the next snapshot
    verdict, pending = seq.start(205)
    assert verdict is Verdict.APPLY and [d.sequence for d in pending] == [210]


def test_snapshot_that_does_not_join_is_a_gap() -> None:
    seq = DepthSequencer()
    seq.judge(diff(100, 104))
    seq.judge(diff(110, 120))  # 105..109 missing
    verdict, _ = seq.start(102)
    assert verdict is Verdict.GAP
    assert not seq.synced


def test_live_events_must_chain_exactly() -> None:
    seq = DepthSequencer()
    seq.start(100)
    assert seq.judge(diff(101, 103)) is Verdict.APPLY
    assert seq.judge(diff(104, 104)) is Verdict.APPLY
    assert seq.judge(diff(100, 104)) is Verdict.STALE
    assert seq.judge(diff(106, 108)) is Verdict.GAP
    assert not seq.synced
    # the event that revealed the gap is kept: a fresh snapshot at 105 joins it
    verdict, pending = seq.start(105)
    assert verdict is Verdict.APPLY and [d.sequence for d in pending] == [108]


def test_overlap_after_the_first_event_counts_as_gap() -> None:
    seq = DepthSequencer()
    seq.start(100)
    assert seq.judge(diff(99, 102)) is Verdict.APPLY  # first event may straddle
    assert seq.judge(diff(102, 105)) is Verdict.GAP  # later ones must start at previous u + 1


def test_first_event_after_the_snapshot_must_cover_the_next_id() -> None:
    """The first diff applied on a snapshot must straddle lastUpdateId + 1 (U <= id + 1 <= u): one that starts
    later leaves ids 101..102 unapplied, a gap."""
    seq = DepthSequencer()
    seq.start(100)
    assert seq.judge(diff(103, 105)) is Verdict.GAP
    assert not seq.synced


def test_a_snapshot_right_before_the_first_buffered_diff_joins_it() -> None:
    """lastUpdateId = U - 1 covers every id up to the first diff: accepted, not fetched again."""
    seq = DepthSequencer()
    seq.judge(diff(101, 105))
    verdict, pending = seq.start(100)
    assert verdict is Verdict.APPLY and [d.sequence for d in pending] == [105]


def test_buffered_diffs_the_book_already_has_are_not_returned_to_apply() -> None:
    """After the snapshot, a buffered duplicate (u at or below what the diffs before it reach) is stale: start()
    drops it rather than return it to be applied a second time."""
    seq = DepthSequencer()
    for first, last in [(99, 102), (101, 102), (103, 105)]:
        seq.judge(diff(first, last))
    verdict, pending = seq.start(100)
    assert verdict is Verdict.APPLY
    assert [(d.first_sequence, d.sequence) for d in pending] == [(99, 102), (103, 105)]
    assert seq.last_id == 105
