"""Coinbase Advanced Trade parsing and the ``sequence_num`` rule, on literal messages.

Doc examples are Coinbase's published ones (docs.cdp.coinbase.com, "Advanced Trade WebSocket Channels", 2023
examples: timestamps ``2023-02-09T...``, ``event_time`` ``1970-01-01T00:00:00Z``, string ``heartbeat_counter``);
"real" frames are copied verbatim from the 2026 capture described in PROTOCOLS.md section 3.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest

from livefeed.errors import UnknownSymbolError
from livefeed.model import BookDelta, BookSnapshot, Side
from livefeed.symbols import check_known
from livefeed.venues.book_sync import Verdict
from livefeed.venues.coinbase import (
    CoinbaseAdapter,
    MalformedFrame,
    SequenceTracker,
    listed_products,
    parse_l2,
    parse_message,
    parse_tickers,
    parse_time,
    parse_trades,
    subscribe_message,
)

DOC_L2_SNAPSHOT = """{
  "channel": "l2_data",
  "client_id": "",
  "timestamp": "2023-02-09T20:32:50.714964855Z",
  "sequence_num": 0,
  "events": [
    {
      "type": "snapshot",
      "product_id": "BTC-USD",
      "updates": [
        {"side": "bid", "event_time": "1970-01-01T00:00:00Z", "price_level": "21921.73", "new_quantity": "0.06317902"},
        {"side": "bid", "event_time": "1970-01-01T00:00:00Z", "price_level": "21921.3", "new_quantity": "0.02"}
      ]
    }
  ]
}"""

DOC_MARKET_TRADES = """{
  "channel": "market_trades",
  "client_id": "",
  "timestamp": "2023-02-09T20:19:35.39625135Z",
  "sequence_num": 0,
  "events": [
    {
      "type": "snapshot",
      "trades": [
        {"trade_id": "000000000", "product_id": "ETH-USD", "price": "1260.01", "size": "0.3", "side": "BUY",
         "time": "2019-08-14T20:42:27.265Z"}
      ]
    }
  ]
}"""

DOC_TICKER = """{
  "channel": "ticker",
  "client_id": "",
  "timestamp": "2023-02-09T20:30:37.167359596Z",
  "sequence_num": 0,
  "events": [
    {
      "type": "snapshot",
      "tickers": [
        {"type": "ticker", "product_id": "BTC-USD", "price": "21932.98", "volume_24_h": "16038.28770938",
         "low_24_h": "21835.29", "high_24_h": "23011.18", "low_52_w": "15460", "high_52_w": "48240",
         "price_percent_chg_24_h": "-4.15775596190603", "best_bid": "21931.98", "best_bid_quantity": "8000.21",
         "best_ask": "21933.98", "best_ask_quantity": "8038.07770938"}
      ]
    }
  ]
}"""

DOC_HEARTBEAT = """{
  "channel": "heartbeats",
  "client_id": "",
  "timestamp": "2023-06-23T20:31:26.122969572Z",
  "sequence_num": 0,
  "events": [
    {"current_time": "2023-06-23 20:31:56.121961769 +0000 UTC m=+91717.525857105", "heartbeat_counter": "3049"}
  ]
}"""

REAL_L2_UPDATE = (
    '{"channel":"l2_data","timestamp":"2026-08-09T21:05:48.505350477Z","sequence_num":14,"events":[{"type":"update",'
    '"product_id":"BTC-USD","updates":[{"side":"bid","event_time":"2026-08-09T21:05:48.210883Z","price_level":'
    '"65062.5","new_quantity":"0.00583"},{"side":"bid","event_time":"2026-08-09T21:05:48.210883Z","price_level":'
    '"65061.91","new_quantity":"0"}]}]}'
)
REAL_TRADE = (
    '{"channel":"market_trades","timestamp":"2026-08-09T21:05:48.251397169Z","sequence_num":9,"events":[{"type":'
    '"update","trades":[{"product_id":"BTC-USD","trade_id":"1068572091","price":"65083.67","size":"0.01034361",'
    '"time":"2026-08-09T21:05:48.167634Z","side":"SELL"}]}]}'
)
REAL_TICKER = (
    '{"channel":"ticker","timestamp":"2026-08-09T21:05:48.229198328Z","sequence_num":6,"events":[{"type":"snapshot",'
    '"tickers":[{"type":"ticker","product_id":"BTC-USD","price":"65086.18","volume_24_h":"2867.54532609",'
    '"low_24_h":"64675.22","high_24_h":"65252.99","low_52_w":"57717.55","high_52_w":"126296",'
    '"price_percent_chg_24_h":"0.09601107287722","best_bid":"65083.66","best_ask":"65083.67",'
    '"best_bid_quantity":"0.20371215","best_ask_quantity":"0.24290402"}]}]}'
)
REAL_HEARTBEAT = (
    '{"channel":"heartbeats","timestamp":"2026-08-09T21:05:48.856364007Z","sequence_num":35,"events":[{'
    '"current_time":"2026-08-09 21:05:48.854840045 +0000 UTC m=+41691.260485341","heartbeat_counter":41691}]}'
)
REAL_SUBSCRIPTIONS = (
    '{"channel":"subscriptions","timestamp":"2026-08-09T21:05:48.629706932Z","sequence_num":26,"events":[{'
    '"subscriptions":{"candles":["ETH-USD","BTC-USD"],"heartbeats":["heartbeats"],"level2":["BTC-USD","ETH-USD"],'
    '"market_trades":["BTC-USD","ETH-USD"],"ticker":["BTC-USD","ETH-USD"]}}]}'
)
REAL_PRODUCTS = (
    '{"products":[{"product_id":"BTC-USD","price":"65086.18","base_increment":"0.00000001","quote_increment":"0.01",'
    '"status":"online","trading_disabled":false,"product_type":"SPOT","alias_to":["BTC-USDC"]},'
    '{"product_id":"ETH-USDC","status":"online","trading_disabled":false},'
    '{"product_id":"OLD-USD","status":"delisted","trading_disabled":true}],'
    '"num_products":3,"pagination":{"prev_cursor":"","next_cursor":"","has_next":false,"has_prev":false}}'
)
"""Fields as in the recorded REST response; OLD-USD stands in for the 8 delisted products it lists."""


# -- time ----------------------------------------------------------------------------------------------------------
def test_times_keep_every_nanosecond() -> None:
    assert parse_time("2026-08-09T21:05:48.629706932Z") == 1786309548_629706932
    assert parse_time("2026-08-09T21:05:48.167634Z") == 1786309548_167634000
    assert parse_time("2023-02-09T20:19:35.39625135Z") == 1675973975_396251350
    assert parse_time("1970-01-01T00:00:00Z") == 0


def test_a_bad_time_is_a_malformed_frame() -> None:
    with pytest.raises(MalformedFrame):
        parse_time("yesterday")


# -- level2 --------------------------------------------------------------------------------------------------------
def test_doc_l2_snapshot() -> None:
    (snapshot,) = parse_l2(parse_message(DOC_L2_SNAPSHOT), receipt_ns=7)
    assert isinstance(snapshot, BookSnapshot)
    assert snapshot.symbol == "BTC-USD" and snapshot.sequence == 0 and snapshot.receipt_ts == 7
    assert snapshot.bids == [(21921.73, 0.06317902), (21921.3, 0.02)]
    assert snapshot.asks == []
    assert snapshot.exchange_ts == parse_time("2023-02-09T20:32:50.714964855Z")


def test_real_l2_update_has_absolute_sizes_and_zero_deletes() -> None:
    (delta,) = parse_l2(parse_message(REAL_L2_UPDATE), receipt_ns=0)
    assert isinstance(delta, BookDelta)
    assert delta.bids == [(65062.5, 0.00583), (65061.91, 0.0)] and delta.asks == []
    assert delta.sequence == delta.first_sequence == 14


def test_offer_is_the_ask_side_and_ask_is_rejected() -> None:
    offer = REAL_L2_UPDATE.replace('"side":"bid"', '"side":"offer"')
    (delta,) = parse_l2(parse_message(offer), receipt_ns=0)
    assert delta.asks == [(65062.5, 0.00583), (65061.91, 0.0)] and delta.bids == []
    with pytest.raises(MalformedFrame, match="side"):
        parse_l2(parse_message(REAL_L2_UPDATE.replace('"side":"bid"', '"side":"ask"')), receipt_ns=0)


# -- trades and tickers --------------------------------------------------------------------------------------------
def test_trade_side_is_flipped_from_maker_to_taker() -> None:
    (doc,) = parse_trades(parse_message(DOC_MARKET_TRADES), receipt_ns=0)
    assert (doc.symbol, doc.price, doc.size, doc.trade_id) == ("ETH-USD", 1260.01, 0.3, "000000000")
    assert doc.side is Side.SELL  # "BUY" is the maker's side
    assert doc.exchange_ts == parse_time("2019-08-14T20:42:27.265Z")
    (real,) = parse_trades(parse_message(REAL_TRADE), receipt_ns=0)
    assert real.side is Side.BUY and real.price == 65083.67 and real.sequence == 1068572091  # the trade id


def test_tickers() -> None:
    (doc,) = parse_tickers(parse_message(DOC_TICKER), receipt_ns=0)
    assert (doc.bid_price, doc.bid_size, doc.ask_price, doc.ask_size) == (21931.98, 8000.21, 21933.98, 8038.07770938)
    assert doc.extra == {"price": 21932.98, "volume_24_h": 16038.28770938}
    (real,) = parse_tickers(parse_message(REAL_TICKER), receipt_ns=0)
    assert (real.bid_price, real.ask_price, real.sequence) == (65083.66, 65083.67, 6)


@pytest.mark.parametrize(("frame", "channel", "sequence"), [
    (DOC_HEARTBEAT, "heartbeats", 0), (REAL_HEARTBEAT, "heartbeats", 35), (REAL_SUBSCRIPTIONS, "subscriptions", 26),
])
def test_heartbeats_and_acks_count_in_the_sequence_and_emit_nothing(frame: str, channel: str, sequence: int) -> None:
    """They pass the envelope check with their number, and the connection's sequence counts them like any frame
    (a heartbeat in the right place is what keeps the next book update from looking like a gap)."""
    message = parse_message(frame)
    assert (message["channel"], message["sequence_num"]) == (channel, sequence)
    events: list[object] = []
    adapter = CoinbaseAdapter(["BTC-USD"], ["book"], events.append)
    adapter.tracker.expected = sequence
    adapter.on_frame(frame, 0, FakeConnection())  # type: ignore[arg-type]
    assert events == [] and adapter.tracker.expected == sequence + 1 and adapter.tracker.gaps == 0


@pytest.mark.parametrize("frame", ['{"channel":"ticker"', "[1,2]", '{"channel":"ticker","events":[]}'])
def test_bad_envelopes_are_malformed(frame: str) -> None:
    with pytest.raises(MalformedFrame):
        parse_message(frame)


# -- the sequence rule ---------------------------------------------------------------------------------------------
def test_sequence_starts_at_zero_and_counts_one_by_one() -> None:
    tracker = SequenceTracker()
    assert [tracker.judge(n) for n in range(3)] == [Verdict.APPLY] * 3


def test_a_skipped_number_is_one_gap_then_counting_resumes() -> None:
    tracker = SequenceTracker()
    tracker.judge(0)
    assert tracker.judge(3) is Verdict.GAP
    assert tracker.judge(4) is Verdict.APPLY
    assert tracker.gaps == 1


def test_lower_numbers_are_out_of_order_and_ignored() -> None:
    tracker = SequenceTracker()
    for n in range(5):
        tracker.judge(n)
    assert tracker.judge(2) is Verdict.STALE
    assert tracker.judge(4) is Verdict.STALE  # a duplicate
    assert tracker.judge(5) is Verdict.APPLY


def test_a_new_connection_counts_from_zero_again() -> None:
    tracker = SequenceTracker()
    for n in range(10):
        tracker.judge(n)
    tracker.reset()
    assert tracker.judge(0) is Verdict.APPLY
    assert tracker.judge(0) is Verdict.STALE
    assert SequenceTracker().judge(1) is Verdict.GAP  # frame 0 of a connection was lost


# -- requests and listing ------------------------------------------------------------------------------------------
def test_one_subscribe_message_per_channel() -> None:
    assert orjson.loads(subscribe_message("level2", ["BTC-USD", "ETH-USD"])) == {
        "type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "level2",
    }
    adapter = CoinbaseAdapter(["BTC-USD"], ["book", "trades", "ticker"], lambda e: None)
    channels = [orjson.loads(m)["channel"] for m in adapter.subscribe_messages()]
    assert channels == ["level2", "market_trades", "ticker", "heartbeats"]


def test_listing_skips_delisted_products_and_suggests_close_matches() -> None:
    listed = listed_products(orjson.loads(REAL_PRODUCTS))
    assert listed == ["BTC-USD", "ETH-USDC"]
    with pytest.raises(UnknownSymbolError, match="ETH-USDC"):
        check_known("coinbase", ["ETH-USDD"], listed)
    with pytest.raises(UnknownSymbolError, match="OLD-USD"):
        check_known("coinbase", ["OLD-USD"], listed)


# -- the adapter's frame handler -----------------------------------------------------------------------------------
class FakeStats:
    def observe_lag(self, exchange_ns: int, receipt_ns: int) -> None:
        pass


class FakeConnection:
    """Records what the adapter sends; enough of :class:`Connection` for ``on_frame``."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.stats = FakeStats()
        self.connected = True

    async def send(self, text: str) -> None:
        self.sent.append(orjson.loads(text))


def _frame(seq: int, kind: str, updates: list[tuple[str, str, str]]) -> str:
    return orjson.dumps({
        "channel": "l2_data", "timestamp": "2026-08-09T21:05:48.505350477Z", "sequence_num": seq,
        "events": [{"type": kind, "product_id": "BTC-USD", "updates": [
            {"side": s, "event_time": "2026-08-09T21:05:48.210883Z", "price_level": p, "new_quantity": q}
            for s, p, q in updates
        ]}],
    }).decode()


async def test_a_gap_unsyncs_the_book_and_resubscribes_level2_on_the_same_socket() -> None:
    events: list[object] = []
    adapter = CoinbaseAdapter(["BTC-USD"], ["book"], events.append)
    conn = FakeConnection()
    adapter.on_frame(_frame(0, "snapshot", [("bid", "100", "1"), ("offer", "101", "2")]), 0, conn)  # type: ignore[arg-type]
    adapter.on_frame(_frame(1, "update", [("bid", "100.5", "3")]), 0, conn)  # type: ignore[arg-type]
    assert adapter.books["BTC-USD"].best_bid == (100.5, 3.0)
    adapter.on_frame(_frame(3, "update", [("bid", "100.5", "0")]), 0, conn)  # type: ignore[arg-type]
    stats = adapter.sync["BTC-USD"]
    assert not stats.synced and stats.gaps == 1
    assert adapter.books["BTC-USD"].best_bid == (100.5, 3.0)  # not applied to an untrusted book
    await asyncio.sleep(0)  # let the resubscribe task send
    assert [(m["type"], m["channel"]) for m in conn.sent] == [("unsubscribe", "level2"), ("subscribe", "level2")]
    adapter.on_frame(_frame(4, "snapshot", [("bid", "99", "1"), ("offer", "101", "2")]), 0, conn)  # type: ignore[arg-type]
    assert stats.synced and stats.resyncs == 1 and stats.snapshots == 2
    assert adapter.books["BTC-USD"].to_dict() == {"bids": {99.0: 1.0}, "asks": {101.0: 2.0}}
    adapter.on_frame(_frame(2, "update", [("bid", "98", "1")]), 0, conn)  # type: ignore[arg-type]
    # Dropped: frame 3 (an update for the untrusted book) and frame 2 (behind the connection's sequence_num).
    assert stats.stale == 2 and 98.0 not in adapter.books["BTC-USD"].to_dict()["bids"]
    await adapter.close()


async def test_when_the_resubscribes_snapshot_is_lost_it_asks_again() -> None:
    """The snapshot that should follow a resubscribe can itself be lost: after ``resync_timeout`` without it the
    adapter unsubscribes and subscribes level2 again (a second round, counted as a resync), until one arrives."""
    adapter = CoinbaseAdapter(["BTC-USD"], ["book"], lambda event: None)
    adapter.resync_timeout = 0.05
    conn = FakeConnection()
    adapter.on_frame(_frame(0, "snapshot", [("bid", "100", "1"), ("offer", "101", "2")]), 0, conn)  # type: ignore[arg-type]
    adapter.on_frame(_frame(2, "update", [("bid", "100", "0")]), 0, conn)  # type: ignore[arg-type]  # 1 lost: a gap
    stats = adapter.sync["BTC-USD"]
    try:
        async with asyncio.timeout(10):  # no snapshot comes: wait for the second round's two messages
            while len(conn.sent) < 4:
                await asyncio.sleep(0.01)
        assert [(m["type"], m["channel"]) for m in conn.sent] == [("unsubscribe", "level2"), ("subscribe", "level2")] * 2
        assert not stats.synced and stats.gaps == 1 and stats.resyncs == 2
        adapter.on_frame(_frame(3, "snapshot", [("bid", "99", "1"), ("offer", "101", "2")]), 0, conn)  # type: ignore[arg-type]
        assert stats.synced and stats.snapshots == 2
    finally:
        await adapter.close()
