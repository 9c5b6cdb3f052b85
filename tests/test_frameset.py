"""``FrameSet``: each event type lands in its frame with its row, adapter-declared frames are built and filled,
top of book is recorded only when it changes, and the Redis reader builds the same frames as a ``Feed``."""

from __future__ import annotations

import math

import pytest

from livefeed import BookDelta, BookSnapshot, Feed, OrderBook, Side, Ticker, Trade
from livefeed.chain.events import FRAMES as CHAIN_FRAMES
from livefeed.chain.events import Block
from livefeed.frameset import BUILT_IN, FrameSet
from livefeed.reader import RedisFeed
from livefeed.registry import adapter_class
from livefeed.venues import FrameSpec

KEY = ("binance", "BTC-USDT")


def rows(frameset: FrameSet, name: str) -> list[tuple[object, ...]]:
    frame = frameset.frames[name].to_pandas()
    return [tuple(r) for r in frame.astype(object).itertuples(index=False)]


def counts(frameset: FrameSet) -> dict[str, int]:
    return {name: frame.total for name, frame in frameset.frames.items()}


def test_each_market_event_type_lands_in_its_frame() -> None:
    book = OrderBook(*KEY)
    frameset = FrameSet(100, books={KEY: book})
    frameset.route(Trade("binance", "BTC-USDT", 101.5, 0.25, Side.SELL, "t1", 1_000, 2_000, 7))
    assert counts(frameset) == {"trades": 1, "top_of_book": 0, "tickers": 0}
    trade = frameset.trades.to_pandas().iloc[0]
    assert (trade["price"], trade["size"], trade["side"], trade["trade_id"]) == (101.5, 0.25, "sell", "t1")
    assert trade["ts"].value == 1_000 and trade["receipt_ts"].value == 2_000

    frameset.route(Ticker("binance", "BTC-USDT", 100.0, 1.0, 102.0, 2.0, None, 3_000, None))
    assert counts(frameset) == {"trades": 1, "top_of_book": 0, "tickers": 1}
    ticker = frameset.tickers.to_pandas().iloc[0]
    assert (ticker["bid_price"], ticker["ask_size"], ticker["sequence"]) == (100.0, 2.0, -1)

    snapshot = BookSnapshot("binance", "BTC-USDT", [(100.0, 1.0)], [(101.0, 3.0)], 4_000, 5_000, 9)
    book.apply_snapshot(snapshot.bids, snapshot.asks, snapshot.sequence)
    frameset.route(snapshot)
    assert counts(frameset) == {"trades": 1, "top_of_book": 1, "tickers": 1}
    top = frameset.top_of_book.to_pandas().iloc[0]
    assert (top["bid_price"], top["ask_price"], top["spread"], top["mid"], top["sequence"]) == (
        100.0, 101.0, 1.0, 100.5, 9)

    frameset.route(object())  # a type no frame takes: no row anywhere, no error
    assert counts(frameset) == {"trades": 1, "top_of_book": 1, "tickers": 1}


def test_top_of_book_is_recorded_only_when_the_best_bid_or_ask_changes() -> None:
    book = OrderBook(*KEY)
    frameset = FrameSet(100, books={KEY: book})

    def apply(event: BookSnapshot | BookDelta) -> int:
        if isinstance(event, BookSnapshot):
            book.apply_snapshot(event.bids, event.asks, event.sequence)
        else:
            book.apply_delta(event.bids, event.asks, event.sequence)
        frameset.route(event)
        return frameset.top_of_book.total

    assert apply(BookSnapshot(*KEY, [(100.0, 1.0), (99.0, 1.0)], [(101.0, 1.0)], 1, 1, 1)) == 1
    assert apply(BookDelta(*KEY, [(99.0, 5.0)], [], 2, 2, 2, 2)) == 1  # below the top: no row
    assert apply(BookDelta(*KEY, [(100.0, 2.0)], [], 3, 3, 3, 3)) == 2  # best bid size changed
    assert apply(BookDelta(*KEY, [], [(100.5, 1.0)], 4, 4, 4, 4)) == 3  # new best ask
    assert apply(BookDelta(*KEY, [], [(102.0, 1.0)], 5, 5, 5, 5)) == 3
    assert [r[4:8] for r in rows(frameset, "top_of_book")] == [
        (100.0, 1.0, 101.0, 1.0), (100.0, 2.0, 101.0, 1.0), (100.0, 2.0, 100.5, 1.0)]

    frameset.use_books({KEY: book})  # a new run: the same top is recorded again once
    assert apply(BookDelta(*KEY, [], [(102.0, 2.0)], 6, 6, 6, 6)) == 4
    assert apply(BookDelta(*KEY, [], [(103.0, 2.0)], 7, 7, 7, 7)) == 4

    one_sided = OrderBook("binance", "ETH-USDT")
    frameset.use_books({KEY: book, ("binance", "ETH-USDT"): one_sided})
    one_sided.apply_snapshot([(10.0, 1.0)], [], 1)
    frameset.route(BookSnapshot("binance", "ETH-USDT", [(10.0, 1.0)], [], 1, 1, 1))  # no ask: no top yet
    frameset.route(BookDelta("binance", "SOL-USDT", [(1.0, 1.0)], [], 1, 1, 1, 1))  # no such book
    assert frameset.top_of_book.total == 4


def test_adapter_declared_frames_are_built_and_filled_with_their_rows() -> None:
    frameset = FrameSet(100, [adapter_class("binance"), adapter_class("eth")])
    assert list(frameset.frames) == [*BUILT_IN, *CHAIN_FRAMES]
    for name, spec in CHAIN_FRAMES.items():
        assert frameset.frames[name].kinds == spec.columns

    block = Block(17, "0xb", "0xa", 1_700_000_000_000_000_000, None, 21_000, 30_000_000, 1, 1_700_000_000_500_000_000)
    frameset.route(block)
    assert {name: n for name, n in counts(frameset).items() if n} == {"blocks": 1}
    row = rows(frameset, "blocks")[0]
    assert (row[0].value, row[1].value) == (block.timestamp, block.receipt_ts)
    assert row[2:5] == (17, "0xb", "0xa") and math.isnan(row[5]) and row[6:] == (21_000, 30_000_000, 1, 0)


def test_one_event_type_may_fill_several_frames_and_a_spec_is_declared_once() -> None:
    def price(t: Trade) -> tuple[object, ...]:
        return (t.receipt_ts, t.price)

    def size(t: Trade) -> tuple[object, ...]:
        return (t.receipt_ts, t.size)

    specs = {"prices": FrameSpec({"ts": "time", "price": "float"}, Trade, price),
             "sizes": FrameSpec({"ts": "time", "size": "float"}, Trade, size)}
    frameset = FrameSet(10, [specs, specs])  # declared twice (two venues sharing one spec): frames built once
    assert frameset.declare(specs) == []
    frameset.route(Trade(*KEY, 5.0, 2.0, Side.BUY, "1", None, 9, None))
    assert counts(frameset) == {"trades": 1, "top_of_book": 0, "tickers": 0, "prices": 1, "sizes": 1}
    assert rows(frameset, "prices")[0][1] == 5.0 and rows(frameset, "sizes")[0][1] == 2.0

    with pytest.raises(ValueError, match="prices"):
        frameset.declare({"prices": FrameSpec({"ts": "time"}, Trade, lambda t: (t.receipt_ts,))})
    with pytest.raises(ValueError, match="trades"):
        frameset.declare({"trades": FrameSpec({"ts": "time"}, Block, lambda b: (b.receipt_ts,))})


def test_declaring_replaces_the_frames_dict_so_a_reader_on_another_thread_never_sees_it_resized() -> None:
    frameset = FrameSet(10)
    before = frameset.frames
    assert frameset.declare(CHAIN_FRAMES) == list(CHAIN_FRAMES)
    assert list(before) == list(BUILT_IN) and frameset.frames is not before
    assert frameset.frames["trades"] is before["trades"]


@pytest.mark.parametrize("subscriptions", [["binance:BTC-USDT"], ["binance:BTC-USDT", "eth:newHeads"]])
def test_the_redis_reader_builds_the_frames_a_feed_of_the_same_venues_has(subscriptions: list[str]) -> None:
    feed = Feed(subscriptions, validate=False, capacity=50)
    remote = RedisFeed("redis://127.0.0.1:1/0", subscriptions, capacity=50)  # not started: no connection
    assert list(remote.frames) == list(feed.frames)
    for name, frame in feed.frames.items():
        assert remote.frames[name].kinds == frame.kinds and remote.frames[name].capacity == 50
        assert getattr(remote, name) is remote.frames[name] and getattr(feed, name) is frame
    assert (remote.trades, remote.top_of_book, remote.tickers) == tuple(remote.frames[n] for n in BUILT_IN)
    with pytest.raises(AttributeError, match="no_such_frame"):
        remote.no_such_frame  # noqa: B018
