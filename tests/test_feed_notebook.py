"""The notebook form: ``feed.start()`` returns at once, work runs on one background loop thread, ``stop()`` ends
every task, and repeated start/stop cycles leave no stray threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from livefeed import BookDelta, ConnectionOptions, Feed
from livefeed.runtime import LoopThread
from livefeed.sim import BinanceSim

from .conftest import sim_on_own_thread

FAST = ConnectionOptions(stale_after=2.0, backoff_initial=0.05, backoff_cap=0.2)


@pytest.fixture
def sim() -> Iterator[BinanceSim]:
    with sim_on_own_thread(seed=3) as server:
        yield server


def livefeed_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("livefeed")]


def test_start_returns_and_stop_leaves_nothing_running(sim: BinanceSim) -> None:
    for _cycle in range(2):
        feed = Feed(["binance:BTC-USDT", "binance:ETH-USDT"], channels=["trades", "book"],
                    endpoints={"binance": sim}, connection=FAST)
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
    feed = Feed("binance:BTC-USDT", channels=["book"], endpoints={"binance": sim}, connection=FAST)
    got = threading.Event()
    feed.add_callback(lambda e: got.set() if isinstance(e, BookDelta) else None)
    feed.start()
    assert got.wait(20)
    feed.stop()
    assert len(feed.top_of_book.to_pandas()) > 0
    assert feed.book("binance", "BTC-USDT").best_bid is not None
