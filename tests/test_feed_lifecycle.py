"""Start, stop and ``with``: a failed start leaves nothing running, a slow callback is reported and never makes
``stop()`` fail, and the sync context manager a notebook user reaches for works."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator

import pytest

from livefeed import BookDelta, Feed, LivefeedError
from livefeed.errors import StartTimeoutError
from livefeed.runtime import LoopThread
from livefeed.sim import BinanceSim

from .conftest import STEADY, sim_on_own_thread


@pytest.fixture
def sim() -> Iterator[BinanceSim]:
    with sim_on_own_thread(seed=5) as server:
        yield server


def feed_tasks() -> list[str]:
    """Names of the tasks still alive on the shared feed loop."""
    return LoopThread.shared().call(
        lambda: sorted(t.get_name() for t in asyncio.all_tasks() if t is not asyncio.current_task())
    )


def first_delta(feed: Feed) -> threading.Event:
    got = threading.Event()
    feed.add_callback(lambda event: got.set() if isinstance(event, BookDelta) else None)
    return got


def test_a_start_that_times_out_leaves_nothing_running(sim: BinanceSim) -> None:
    feed = Feed(["binance:BTC-USDT"], channels=["trades", "book"], endpoints={"binance": sim}, connection=STEADY)
    with pytest.raises(StartTimeoutError, match=r"did not start within 0.001 s.*nothing is left running") as info:
        feed.start(timeout=0.001)
    assert isinstance(info.value, LivefeedError) and isinstance(info.value, TimeoutError)
    assert not feed.running
    assert feed_tasks() == []
    assert len(feed.stats()) == 0  # no connection was opened
    # The same feed starts properly afterwards (a failed start is not a half-started feed).
    got = first_delta(feed)
    feed.start()
    try:
        assert feed.running and got.wait(20)
    finally:
        feed.stop()
    assert not feed.running and feed_tasks() == []


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), "5"])
def test_start_timeout_must_be_positive(timeout: object) -> None:
    feed = Feed(["binance:BTC-USDT"], endpoints={"binance": "http://127.0.0.1:9"})
    with pytest.raises(LivefeedError, match="positive number of seconds"):
        feed.start(timeout=timeout)  # type: ignore[arg-type]
    assert not feed.running


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.behind = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.messages.append(message)
        if "falling behind" in message:
            self.behind.set()


def test_a_blocking_callback_is_reported_and_stop_still_works(sim: BinanceSim) -> None:
    feed = Feed(["binance:BTC-USDT", "binance:ETH-USDT"], channels=["trades", "book"], endpoints={"binance": sim},
                connection=STEADY)
    feed.add_callback(lambda _event: time.sleep(0.02))  # the mistake: blocking work on the feed's loop
    handler = _Warnings()
    logger = logging.getLogger("livefeed")
    logger.addHandler(handler)
    try:
        feed.start()
        assert handler.behind.wait(30), f"no 'falling behind' warning; saw {handler.messages}"
        feed.stop(timeout=10)  # the backlog of queued events must not hold the stop up
    finally:
        logger.removeHandler(handler)
        if feed.running:
            feed.stop()
    behind = [m for m in handler.messages if "falling behind" in m]
    assert len(behind) == 1, behind  # rate-limited: once per 30 s, not once per event
    assert "test_a_blocking_callback" in behind[0] and "keep callbacks quick" in behind[0]
    assert not feed.running and feed_tasks() == []


def test_sync_context_manager_starts_and_stops(sim: BinanceSim) -> None:
    with Feed(["binance:BTC-USDT"], channels=["book"], endpoints={"binance": sim}, connection=STEADY) as feed:
        assert feed.running
        assert first_delta(feed).wait(20)
    assert not feed.running
    assert feed.book("binance", "BTC-USDT").best_bid is not None  # data stays readable
    assert feed_tasks() == []


def test_sync_context_manager_stops_on_error(sim: BinanceSim) -> None:
    feed = Feed(["binance:BTC-USDT"], channels=["book"], endpoints={"binance": sim}, connection=STEADY)
    with pytest.raises(KeyError), feed:
        raise KeyError("user code failed")
    assert not feed.running and feed_tasks() == []
