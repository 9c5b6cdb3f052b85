"""The notebook form: ``feed.start()`` returns at once, work runs on one background loop thread, ``stop()`` ends
every task, and repeated start/stop cycles leave no stray threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pandas as pd
import pytest

from livefeed import BookDelta, Feed
from livefeed.runtime import LoopThread
from livefeed.sim import BinanceSim

from .conftest import STEADY, sim_on_own_thread


@pytest.fixture
def sim() -> Iterator[BinanceSim]:
    with sim_on_own_thread(seed=3) as server:
        yield server


def livefeed_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("livefeed")]


def test_start_returns_and_stop_leaves_nothing_running(sim: BinanceSim) -> None:
    for _cycle in range(2):
        feed = Feed(["binance:BTC-USDT", "binance:ETH-USDT"], channels=["trades", "book"],
                    endpoints={"binance": sim}, connection=STEADY)
        books_ready = threading.Event()
        seen: set[str] = set()

        def on_event(event: object, seen: set[str] = seen, ready: threading.Event = books_ready) -> None:
            if isinstance(event, BookDelta):
                seen.add(event.symbol)
                if len(seen) == 2:
                    ready.set()

        feed.add_callback(on_event)
        assert feed.start() is feed
        assert feed.running
        assert feed.start() is feed  # a second start() is a no-op, not a second set of connections
        assert books_ready.wait(20), "no book updates within 20 s"

        book = feed.book("binance", "BTC-USDT")
        assert book.best_bid is not None and book.best_ask is not None and not book.crossed
        assert book is not feed.books[("binance", "BTC-USDT")]  # a copy, safe to read on this thread
        stats = feed.stats()
        assert list(stats.index) == ["binance-0"] and int(stats["messages"].iloc[0]) > 0
        assert feed.trades.to_pandas().columns.tolist()[:4] == ["ts", "receipt_ts", "venue", "symbol"]

        feed.stop()
        assert not feed.running
        runner = LoopThread.shared()
        leftover = runner.call(lambda: [t for t in asyncio.all_tasks() if t is not asyncio.current_task()])
        assert leftover == [], f"tasks left after stop(): {leftover}"
        feed.stop()  # idempotent
    assert livefeed_threads() == ["livefeed-loop"]


def test_data_stays_readable_after_stop(sim: BinanceSim) -> None:
    feed = Feed("binance:BTC-USDT", channels=["book"], endpoints={"binance": sim}, connection=STEADY)
    got = threading.Event()
    feed.add_callback(lambda e: got.set() if isinstance(e, BookDelta) else None)
    feed.start()
    assert got.wait(20)
    feed.stop()
    top = feed.top_of_book.to_pandas()
    book = feed.book("binance", "BTC-USDT")
    assert book.best_bid is not None and book.best_ask is not None
    last = top.iloc[-1]
    # the frame's last row is the book's top as it stopped: the two are read from the same stopped state
    assert (last.bid_price, last.bid_size, last.ask_price, last.ask_size) == (*book.best_bid, *book.best_ask)
    assert set(top["venue"].astype(str)) == {"binance"} and set(top["symbol"].astype(str)) == {"BTC-USDT"}
    assert (top["bid_price"] < top["ask_price"]).all()
    # In receipt order after the snapshot's row: diffs buffered while the REST snapshot was in flight were received
    # before it and are applied right after it (Binance's procedure), so only row 0 may be later than row 1.
    assert top["receipt_ts"].iloc[1:].is_monotonic_increasing
    assert pd.isna(top["ts"].iloc[0])  # the first top comes from the REST snapshot, which carries no exchange time
    assert top["ts"].iloc[1:].notna().all() and top["ts"].iloc[1:].is_monotonic_increasing
