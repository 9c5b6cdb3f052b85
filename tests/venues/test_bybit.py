"""Bybit v5 spot parsing and the ``u`` rule, on literal messages from Bybit's documentation (bybit-exchange/docs)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from livefeed.connection import ConnectionStats
from livefeed.coverage import CoverageChange
from livefeed.errors import LivefeedError
from livefeed.model import BookDelta, BookSnapshot, Side, Ticker, Trade
from livefeed.venues.book_sync import Verdict
from livefeed.venues.bybit import (
    BybitAdapter,
    MalformedFrame,
    UpdateSequencer,
    listed_symbols,
    parse_book,
    parse_trades,
    split_topic,
    spot_ws_url,
    topics_for,
)

# docs/v5/websocket/public/trade.mdx, "Response Example".
DOC_TRADE = '{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1672304486868,"data":[{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","L":"PlusTick","i":"20f43950-d8dd-5b31-9112-a178eb6023af","BT":false}]}'
# docs/v5/websocket/public/orderbook.mdx, "Response Example", with its two "..." placeholders left out.
DOC_BOOK = '{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1672304484978,"data":{"s":"BTCUSDT","b":[["16493.50","0.006"],["16493.00","0.100"]],"a":[["16611.00","0.029"],["16612.00","0.213"]],"u":18521288,"seq":7961638724}}'
# docs/v5/ws/connect, spot pong; docs/v5/websocket/public/ticker.mdx spot example (no best bid/ask in it).
DOC_PONG = '{"success":true,"ret_msg":"pong","conn_id":"0970e817-426e-429a-a679-ff7f55e0b16a","op":"ping"}'
DOC_SPOT_TICKER = '{"topic":"tickers.BTCUSDT","ts":1672305380595,"type":"snapshot","cs":496622841,"data":{"symbol":"BTCUSDT","lastPrice":"16363.78","highPrice24h":"16566.64","lowPrice24h":"16009.19","prevPrice24h":"16443.66","volume24h":"5865.470182","turnover24h":"95949815.680875","price24hPcnt":"-0.0049"}}'


def book_frame(kind: str, u: int, bids: list, asks: list, depth: int = 50) -> bytes:
    """A frame in the documented shape (our values), for sequences the docs do not print."""
    return orjson.dumps({"topic": f"orderbook.{depth}.BTCUSDT", "type": kind, "ts": 1672304484978,
                         "data": {"s": "BTCUSDT", "b": bids, "a": asks, "u": u, "seq": 7961638724 + u}})


# -- pure parsers ----------------------------------------------------------------------------------------------------
def test_trade_from_docs_keeps_the_taker_side() -> None:
    [trade] = parse_trades(orjson.loads(DOC_TRADE), "BTC-USDT", receipt_ns=9)
    assert trade == Trade("bybit", "BTC-USDT", 16578.5, 0.001, Side.BUY, "20f43950-d8dd-5b31-9112-a178eb6023af",
                          1672304486865 * 1_000_000, 9, None)
    sell = orjson.loads(DOC_TRADE)
    sell["data"][0]["S"] = "Sell"
    assert parse_trades(sell, "BTC-USDT", 9)[0].side is Side.SELL
    sell["data"][0]["S"] = "sell"
    with pytest.raises(MalformedFrame):
        parse_trades(sell, "BTC-USDT", 9)


def test_book_snapshot_from_docs() -> None:
    snap = parse_book(orjson.loads(DOC_BOOK), "BTC-USDT", receipt_ns=3)
    assert isinstance(snap, BookSnapshot)
    assert snap.bids == [(16493.5, 0.006), (16493.0, 0.1)]
    assert snap.asks == [(16611.0, 0.029), (16612.0, 0.213)]
    assert snap.sequence == 18521288 and snap.exchange_ts == 1672304484978 * 1_000_000


def test_delta_and_the_restart_rule() -> None:
    delta = parse_book(orjson.loads(book_frame("delta", 18521289, [["16493.50", "0"]], [])), "BTC-USDT", 1)
    assert isinstance(delta, BookDelta) and delta.bids == [(16493.5, 0.0)]
    assert delta.sequence == delta.first_sequence == 18521289
    # docs: "Occasionally, you'll receive "u"=1, which is a snapshot data due to the restart of the service"
    restart = parse_book(orjson.loads(book_frame("delta", 1, [["1", "2"]], [])), "BTC-USDT", 1)
    assert isinstance(restart, BookSnapshot)
    with pytest.raises(MalformedFrame):
        parse_book(orjson.loads(book_frame("partial", 5, [], [])), "BTC-USDT", 1)


def test_topics_and_urls() -> None:
    assert topics_for("BTCUSDT", {"trades", "book", "ticker"}) == [
        "publicTrade.BTCUSDT", "orderbook.50.BTCUSDT", "orderbook.1.BTCUSDT"]
    assert split_topic("orderbook.200.ETHUSDT") == ("orderbook", 200, "ETHUSDT")
    assert split_topic("publicTrade.ETHUSDT") == ("publicTrade", 0, "ETHUSDT")
    with pytest.raises(MalformedFrame):
        split_topic("kline.1.BTCUSDT")
    assert spot_ws_url("ws://127.0.0.1:9") == "ws://127.0.0.1:9/v5/public/spot"
    assert spot_ws_url("wss://stream.bybit.com/v5/public/spot") == "wss://stream.bybit.com/v5/public/spot"
    assert BybitAdapter.default_endpoints.ws == "wss://stream.bybit.com/v5/public/spot"
    assert BybitAdapter.default_endpoints.rest == "https://api.bybit.com"


def test_listing_maps_base_and_quote_coins() -> None:
    body = {"retCode": 0, "retMsg": "OK", "result": {"category": "spot", "list": [
        {"symbol": "BTCUSDT", "baseCoin": "BTC", "quoteCoin": "USDT", "status": "Trading"},
        {"symbol": "OLDUSDT", "baseCoin": "OLD", "quoteCoin": "USDT", "status": "Closed"},
    ]}}
    assert listed_symbols(body) == {"BTC-USDT": "BTCUSDT"}
    with pytest.raises(LivefeedError, match="10001"):
        listed_symbols({"retCode": 10001, "retMsg": "params error"})


# -- the integrity rule ----------------------------------------------------------------------------------------------
def snap(u: int) -> BookSnapshot:
    return BookSnapshot("bybit", "BTC-USDT", [], [], None, 0, u)


def delta(u: int) -> BookDelta:
    return BookDelta("bybit", "BTC-USDT", [], [], None, 0, u, u)


def test_sequencer_applies_contiguous_deltas_only_after_a_snapshot() -> None:
    seq = UpdateSequencer()
    assert seq.judge(delta(10)) is Verdict.STALE
    assert seq.judge(snap(10)) is Verdict.APPLY
    assert [seq.judge(delta(u)) for u in (11, 12, 12, 9)] == [
        Verdict.APPLY, Verdict.APPLY, Verdict.STALE, Verdict.STALE]
    assert seq.last_u == 12


def test_sequencer_gap_waits_for_the_next_snapshot() -> None:
    seq = UpdateSequencer()
    seq.judge(snap(100))
    assert seq.judge(delta(102)) is Verdict.GAP
    assert not seq.synced
    assert seq.judge(delta(103)) is Verdict.STALE
    assert seq.judge(snap(105)) is Verdict.APPLY
    assert seq.judge(delta(106)) is Verdict.APPLY


def test_any_snapshot_resets_even_backwards_after_a_restart() -> None:
    seq = UpdateSequencer()
    seq.judge(snap(500))
    assert seq.judge(snap(1)) is Verdict.APPLY  # u=1: the service restarted, overwrite
    assert seq.judge(delta(2)) is Verdict.APPLY


# -- the adapter's frame handler -------------------------------------------------------------------------------------
class FakeConnection:
    def __init__(self) -> None:
        self.stats = ConnectionStats("fake", "ws://fake")
        self.sent: list[dict] = []

    async def send(self, text: str) -> None:
        self.sent.append(orjson.loads(text))


def adapter() -> tuple[BybitAdapter, list, FakeConnection]:
    events: list = []
    a = BybitAdapter(["BTC-USDT"], {"trades", "book", "ticker"}, events.append)
    conn = FakeConnection()
    a._conn_of["BTC-USDT"] = conn  # type: ignore[assignment]
    return a, events, conn


def test_control_frames_and_unknown_frames() -> None:
    a, events, conn = adapter()
    a.on_frame(DOC_PONG, 1, conn)  # type: ignore[arg-type]
    a.on_frame('{"success":true,"ret_msg":"subscribe","conn_id":"x","op":"subscribe"}', 1, conn)  # type: ignore[arg-type]
    a.on_frame('{"success":false,"ret_msg":"Invalid symbol :[orderbook.50.X]","conn_id":"x","op":"subscribe"}', 1,
               conn)  # type: ignore[arg-type]
    assert a.pongs == 1 and events == []
    for bad in ("{not json", "[1,2]", '{"hello":1}', DOC_SPOT_TICKER):
        with pytest.raises(MalformedFrame):
            a.on_frame(bad, 1, conn)  # type: ignore[arg-type]


def test_level_one_book_becomes_the_ticker() -> None:
    a, events, conn = adapter()
    a.on_frame(book_frame("snapshot", 7, [["16493.5", "0.006"]], [["16611", "0.029"]], depth=1), 2, conn)  # type: ignore[arg-type]
    [ticker] = events
    assert isinstance(ticker, Ticker)
    assert (ticker.bid_price, ticker.bid_size, ticker.ask_price, ticker.ask_size) == (16493.5, 0.006, 16611.0, 0.029)
    assert a.books["BTC-USDT"].best_bid is None  # the level-1 topic never touches the depth-50 book


async def test_gap_resubscribes_the_topic_on_the_same_socket() -> None:
    a, events, conn = adapter()
    a.on_frame(DOC_BOOK, 1, conn)  # type: ignore[arg-type]
    a.on_frame(book_frame("delta", 18521289, [["16493.50", "0"]], [["16610.00", "1"]]), 2, conn)  # type: ignore[arg-type]
    book = a.books["BTC-USDT"]
    assert book.to_dict() == {"bids": {16493.0: 0.1}, "asks": {16610.0: 1.0, 16611.0: 0.029, 16612.0: 0.213}}
    a.on_frame(book_frame("delta", 18521291, [], []), 3, conn)  # type: ignore[arg-type]
    stats = a.sync["BTC-USDT"]
    assert (stats.gaps, stats.resyncs, stats.synced, stats.deltas) == (1, 1, False, 1)
    a.on_frame(book_frame("delta", 18521292, [], []), 3, conn)  # type: ignore[arg-type]
    assert stats.gaps == 1  # one gap, one resubscribe: later deltas just wait for the snapshot
    await asyncio.gather(*a._tasks)
    assert [(m["op"], m["args"]) for m in conn.sent] == [
        ("unsubscribe", ["orderbook.50.BTCUSDT"]), ("subscribe", ["orderbook.50.BTCUSDT"])]
    a.on_frame(book_frame("snapshot", 18521300, [["1", "1"]], [["2", "1"]]), 4, conn)  # type: ignore[arg-type]
    assert stats.synced and stats.snapshots == 2 and book.to_dict() == {"bids": {1.0: 1.0}, "asks": {2.0: 1.0}}
    market = [e for e in events if not isinstance(e, CoverageChange)]
    assert [type(e) for e in market] == [BookSnapshot, BookDelta, BookSnapshot]
    coverage = [(e.stream, e.state) for e in events if isinstance(e, CoverageChange)]
    assert coverage == [("book", "synced"), ("book", "resyncing"), ("book", "synced")]  # the gap, then the snapshot
