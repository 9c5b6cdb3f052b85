"""OKX v5 parsing, the checksum and the book rule, on literal messages from OKX's documentation.

Sources: OKX API v5 docs, "Order book channel" (subscribe/ack/error and push examples, the checksum rule and its
two check-string examples; quoted in shared/notes/PROTOCOLS.md section 6, where the long level lists and the error
text are elided: the elided parts below are filled in by us) and "Trades channel" (push example).
"""

from __future__ import annotations

import asyncio
import zlib

import orjson
import pytest

from livefeed.book import OrderBook
from livefeed.connection import ConnectionStats
from livefeed.model import BookDelta, BookSnapshot, Side
from livefeed.venues.book_sync import Verdict
from livefeed.venues.okx import (
    BookChecker,
    MalformedFrame,
    OkxAdapter,
    checksum,
    checksum_string,
    parse_book,
    parse_ticker,
    parse_trade,
    subscription_args,
)

from .rules import drive_okx

DOC_SUBSCRIBE = '{"id":"1512","op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}'
DOC_ACK = '{"id":"1512","event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a4d3ae55"}'
DOC_ERROR = '{"id":"1512","event":"error","code":"60012","msg":"Invalid request: {\\"op\\": \\"subscribe\\", \\"argss\\":[{ \\"channel\\" : \\"books\\", \\"instId\\" : \\"BTC-USDT\\"}]}","connId":"a4d3ae55"}'
DOC_SNAPSHOT = '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"asks":[["8476.98","415","0","13"],["8477","7","0","2"]],"bids":[["8476.97","256","0","12"],["8475.55","101","0","1"]],"ts":"1597026383085","checksum":-855196043,"prevSeqId":-1,"seqId":123456}]}'
DOC_UPDATE = '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["8476.98","0","0","0"]],"bids":[["8476.97","300","0","13"]],"ts":"1597026383085","checksum":-855196043,"prevSeqId":123456,"seqId":123457}]}'
DOC_TRADE = '{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","ts":"1630048897897"}]}'
# A real tickers push (cryptofeed capture, 2022-05-13): the doc's example has the same fields.
REAL_TICKER = '{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"instType":"SPOT","instId":"BTC-USDT","last":"30236","lastSz":"0.0002","askPx":"30228.7","askSz":"1.55896972","bidPx":"30228.6","bidSz":"0.23393","open24h":"29700.4","high24h":"31073","low24h":"28020.3","sodUtc0":"29028.8","sodUtc8":"30337.7","volCcy24h":"525802090.62716611","vol24h":"17602.13085371","ts":"1652459224956"}]}'

# The docs' checksum examples: more than 25 levels (2 shown), and one side shorter than the other.
DOC_CHECK_FULL = ([("3366.1", "7"), ("3366", "6")], [("3366.8", "9"), ("3368", "8")])
DOC_CHECK_SHORT = ([("3366.1", "7")], [("3366.8", "9"), ("3368", "8"), ("3372", "8")])


def item(text: str) -> dict:
    return orjson.loads(text)["data"][0]


def signed_crc(text: str) -> int:
    value = zlib.crc32(text.encode())
    return value - 2**32 if value >= 2**31 else value


# -- checksum ---------------------------------------------------------------------------------------------------
def test_checksum_string_interleaves_bids_and_asks_as_documented() -> None:
    assert checksum_string(*DOC_CHECK_FULL) == "3366.1:7:3366.8:9:3366:6:3368:8"


def test_checksum_string_continues_with_the_longer_side() -> None:
    assert checksum_string(*DOC_CHECK_SHORT) == "3366.1:7:3366.8:9:3368:8:3372:8"


def test_checksum_is_signed_crc32() -> None:
    # The first string's unsigned CRC32 (2413953002) is above 2**31, so its signed form is negative.
    assert zlib.crc32(b"3366.1:7:3366.8:9:3366:6:3368:8") == 2413953002
    assert checksum(*DOC_CHECK_FULL) == 2413953002 - 2**32 == signed_crc("3366.1:7:3366.8:9:3366:6:3368:8")
    assert checksum(*DOC_CHECK_SHORT) == 831078360  # below 2**31: unchanged


def test_checksum_uses_only_the_best_25_levels_per_side() -> None:
    bids = [(str(1000 - i), "1") for i in range(30)]
    asks = [(str(2000 + i), "2") for i in range(30)]
    assert checksum(bids, asks) == checksum(bids[:25], asks[:25])
    assert checksum(bids, asks) != checksum(bids[:24], asks[:25])


# -- parsers ----------------------------------------------------------------------------------------------------
def test_trade_from_docs() -> None:
    trade = parse_trade(item(DOC_TRADE), "BTC-USDT", receipt_ns=1)
    assert (trade.price, trade.size, trade.trade_id, trade.sequence) == (42219.9, 0.12060306, "130639474", 130639474)
    assert trade.side is Side.BUY  # OKX's side is the taker's
    assert trade.exchange_ts == 1630048897897 * 1_000_000
    assert (trade.venue, trade.symbol, trade.receipt_ts) == ("okx", "BTC-USDT", 1)


def test_sell_trade_and_bad_side() -> None:
    data = item(DOC_TRADE)
    data["side"] = "sell"
    assert parse_trade(data, "BTC-USDT", 1).side is Side.SELL
    data["side"] = "bid"
    with pytest.raises(MalformedFrame):
        parse_trade(data, "BTC-USDT", 1)


def test_ticker_is_top_of_book() -> None:
    ticker = parse_ticker(item(REAL_TICKER), "BTC-USDT", 2)
    assert ticker is not None
    assert (ticker.bid_price, ticker.bid_size, ticker.ask_price, ticker.ask_size) == (
        30228.6, 0.23393, 30228.7, 1.55896972)
    assert ticker.exchange_ts == 1652459224956 * 1_000_000
    assert ticker.extra["last"] == 30236.0


def test_ticker_with_an_empty_side_is_skipped() -> None:
    data = item(REAL_TICKER)
    data["bidPx"] = data["bidSz"] = ""
    assert parse_ticker(data, "BTC-USDT", 2) is None


def test_book_snapshot_from_docs() -> None:
    message = parse_book("snapshot", item(DOC_SNAPSHOT))
    assert message.is_snapshot and not message.is_keepalive
    assert (message.seq_id, message.prev_seq_id, message.checksum) == (123456, -1, -855196043)
    assert message.bids[0] == ("8476.97", "256") and message.asks[0] == ("8476.98", "415")
    event = message.to_event("BTC-USDT", 9)
    assert isinstance(event, BookSnapshot)
    assert event.bids == [(8476.97, 256.0), (8475.55, 101.0)] and event.sequence == 123456


def test_book_update_from_docs() -> None:
    message = parse_book("update", item(DOC_UPDATE))
    event = message.to_event("BTC-USDT", 9)
    assert isinstance(event, BookDelta)
    assert event.asks == [(8476.98, 0.0)]  # size "0" deletes
    assert (event.sequence, message.prev_seq_id) == (123457, 123456)


def test_bad_books_message_is_malformed() -> None:
    with pytest.raises(MalformedFrame):
        parse_book("partial", item(DOC_UPDATE))
    with pytest.raises(MalformedFrame):
        parse_book("update", {"bids": [[]], "asks": [], "ts": "1"})


def test_subscription_args_per_channel() -> None:
    assert subscription_args(["BTC-USDT"], {"book"}) == orjson.loads(DOC_SUBSCRIBE)["args"]
    assert [a["channel"] for a in subscription_args(["BTC-USDT"], {"ticker", "trades", "book"})] == [
        "trades", "books", "tickers"]


# -- the book rule ----------------------------------------------------------------------------------------------
def frame(bids: list, asks: list, prev: int | None, seq: int | None) -> dict:
    """A ``books`` data item (without its checksum); ``seq=None`` leaves out both sequence fields (pre-2023 form)."""
    body: dict = {"bids": [[p, s, "0", "1"] for p, s in bids], "asks": [[p, s, "0", "1"] for p, s in asks], "ts": "1"}
    if seq is not None:
        body["seqId"], body["prevSeqId"] = seq, prev
    return body


def sums(bids: list[tuple[str, str]], asks: list[tuple[str, str]], good: bool = True) -> int:
    value = checksum(bids, asks)
    return value if good else value ^ 1


SNAP_BIDS = [("100.5", "2"), ("100", "1")]
SNAP_ASKS = [("101", "3"), ("101.5", "4")]


def snapshot(checker: BookChecker, book: OrderBook, seq: int | None = 10) -> Verdict:
    body = frame(SNAP_BIDS, SNAP_ASKS, -1, seq)
    body["checksum"] = sums(SNAP_BIDS, SNAP_ASKS)
    return drive_okx(checker, book, parse_book("snapshot", body))


def update(checker: BookChecker, book: OrderBook, prev: int | None, seq: int | None, good: bool = True) -> Verdict:
    """Move the best bid 100.5 -> size 5; the checksum covers the resulting book."""
    body = frame([("100.5", "5")], [], prev, seq)
    body["checksum"] = sums([("100.5", "5"), ("100", "1")], SNAP_ASKS, good)
    return drive_okx(checker, book, parse_book("update", body))


def test_snapshot_then_chained_update_applies() -> None:
    checker, book = BookChecker(), OrderBook()
    assert snapshot(checker, book) is Verdict.APPLY
    assert update(checker, book, 10, 11) is Verdict.APPLY
    assert book.best_bid == (100.5, 5.0) and checker.last_seq == 11 and checker.checksums_verified == 2


def test_update_whose_prev_seq_id_skips_is_a_gap() -> None:
    checker, book = BookChecker(), OrderBook()
    snapshot(checker, book)
    assert update(checker, book, 11, 12) is Verdict.GAP
    assert not checker.synced
    assert update(checker, book, 12, 13) is Verdict.STALE  # nothing applies until the next snapshot
    assert snapshot(checker, book, seq=20) is Verdict.APPLY and checker.synced


def test_update_whose_prev_seq_id_is_behind_the_last_is_a_gap_too() -> None:
    """prevSeqId must be exactly the last seqId: an update from behind it (the same update again, or a stale one)
    is not applied even when its checksum would pass, and the book waits for a fresh snapshot."""
    checker, book = BookChecker(), OrderBook()
    snapshot(checker, book)
    assert update(checker, book, 10, 11) is Verdict.APPLY
    assert update(checker, book, 10, 11) is Verdict.GAP  # a duplicate: its checksum matches the book, still a gap
    assert not checker.synced
    assert update(checker, book, 11, 12) is Verdict.STALE


def test_wrong_checksum_unsyncs() -> None:
    checker, book = BookChecker(), OrderBook()
    snapshot(checker, book)
    assert update(checker, book, 10, 11, good=False) is Verdict.CHECKSUM_FAIL
    assert not checker.synced


def test_keepalive_update_changes_nothing() -> None:
    checker, book = BookChecker(), OrderBook()
    snapshot(checker, book)
    before = book.to_dict()
    body = frame([], [], 10, 10)
    body["checksum"] = sums(SNAP_BIDS, SNAP_ASKS)
    message = parse_book("update", body)
    assert message.is_keepalive
    assert drive_okx(checker, book, message) is Verdict.APPLY
    assert book.to_dict() == before and update(checker, book, 10, 11) is Verdict.APPLY


def test_seq_id_may_reset_lower_after_maintenance() -> None:
    checker, book = BookChecker(), OrderBook()
    snapshot(checker, book, seq=15)
    assert update(checker, book, 15, 3) is Verdict.APPLY  # the docs' example: prevSeqId=15, seqId=3
    body = frame([("100", "0")], [], 3, 4)
    body["checksum"] = sums([("100.5", "5")], SNAP_ASKS)
    assert drive_okx(checker, book, parse_book("update", body)) is Verdict.APPLY
    assert book.bids() == [(100.5, 5.0)]


def test_frames_without_seq_ids_are_checked_by_checksum_only() -> None:
    checker, book = BookChecker(), OrderBook()
    assert snapshot(checker, book, seq=None) is Verdict.APPLY
    assert update(checker, book, None, None) is Verdict.APPLY
    assert update(checker, book, None, None, good=False) is Verdict.CHECKSUM_FAIL


def test_checksum_uses_the_original_strings_not_reformatted_floats() -> None:
    checker, book = BookChecker(), OrderBook()
    body = frame([("100.50", "2.0")], [("101", "3")], -1, 1)
    body["checksum"] = signed_crc("100.50:2.0:101:3")  # what OKX computes; "100.5:2.0:..." would not match
    assert drive_okx(checker, book, parse_book("snapshot", body)) is Verdict.APPLY


# -- the adapter's frame handling -------------------------------------------------------------------------------
class FakeConnection:
    """Records what the adapter sends; enough of :class:`Connection` for the resubscribe path."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.stats = ConnectionStats("fake", "ws://fake")

    async def send(self, text: str) -> None:
        self.sent.append(text)


def make_adapter(events: list) -> OkxAdapter:
    return OkxAdapter(["BTC-USDT"], ["trades", "book", "ticker"], events.append)


def test_adapter_handles_control_and_data_frames() -> None:
    events: list = []
    adapter, conn = make_adapter(events), FakeConnection()
    for frame in (DOC_ACK, DOC_ERROR, "pong", DOC_TRADE, REAL_TICKER):
        adapter.on_frame(frame, 1, conn)  # type: ignore[arg-type]
    assert [type(e).__name__ for e in events] == ["Trade", "Ticker"]


async def test_adapter_counts_a_checksum_failure_and_resubscribes() -> None:
    events: list = []
    adapter, conn = make_adapter(events), FakeConnection()
    snap = orjson.loads(DOC_SNAPSHOT)
    data = snap["data"][0]
    levels = ([(b[0], b[1]) for b in data["bids"]], [(a[0], a[1]) for a in data["asks"]])
    data["checksum"] = checksum(*levels)
    adapter.on_frame(orjson.dumps(snap), 1, conn)  # type: ignore[arg-type]
    assert adapter.sync["BTC-USDT"].synced and adapter.sync["BTC-USDT"].snapshots == 1
    adapter.on_frame(DOC_UPDATE, 2, conn)  # type: ignore[arg-type]  # the docs' placeholder checksum does not match
    stats = adapter.sync["BTC-USDT"]
    assert (stats.synced, stats.checksum_failures, stats.resyncs) == (False, 1, 1)
    await asyncio.gather(*adapter._tasks)
    assert [orjson.loads(t)["op"] for t in conn.sent] == ["unsubscribe", "subscribe"]  # for a fresh snapshot


@pytest.mark.parametrize("bad", ['{"arg":{"channel":"books","instId":"ETH-USDT"},"data":[]}', "[1,2]", "nope",
                                 '{"event":"whatever"}'])
def test_adapter_rejects_bad_frames(bad: str) -> None:
    with pytest.raises(MalformedFrame):
        make_adapter([]).on_frame(bad, 1, FakeConnection())  # type: ignore[arg-type]


async def test_an_update_after_the_ack_but_before_a_snapshot_resubscribes() -> None:
    """If the snapshot itself is lost (garbled), updates after OKX's ack prove it: subscribe again."""
    adapter = make_adapter([])
    conn = FakeConnection()
    adapter._awaiting = {"BTC-USDT": False}
    adapter.on_frame(DOC_UPDATE, 1, conn)  # type: ignore[arg-type]  # before the ack: in flight from an old subscription, ignored
    assert adapter.sync["BTC-USDT"].resyncs == 0
    adapter.on_frame(DOC_ACK, 1, conn)
    adapter.on_frame(DOC_UPDATE, 1, conn)
    await asyncio.gather(*adapter._tasks)
    assert [orjson.loads(t)["op"] for t in conn.sent] == ["unsubscribe", "subscribe"]
    assert orjson.loads(conn.sent[1])["args"] == [{"channel": "books", "instId": "BTC-USDT"}]
    assert adapter.sync["BTC-USDT"].resyncs == 1 and adapter._awaiting == {"BTC-USDT": False}
