from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from livefeed import ConnectionOptions, Feed
from livefeed.runtime import LoopThread
from livefeed.sim import BinanceSim

RECORDED = Path(__file__).resolve().parent / "data" / "recorded"
"""Real captures shipped with the repository (sources and licences in its README.md)."""


def recorded(name: str) -> Path:
    """A recorded capture from tests/data/recorded; a missing one fails the test, since the repository ships it."""
    path = RECORDED / name
    if not path.is_file():
        pytest.fail(f"recorded fixture {name} is missing from {RECORDED}; it ships with the repository")
    return path


async def until(feed: Feed, predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Wait until ``predicate()`` holds, re-checking whenever the feed emits an event (no polling sleeps)."""
    changed = asyncio.Event()

    def wake(_event: object) -> None:
        changed.set()

    feed.add_callback(wake)
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                changed.clear()
                await changed.wait()
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None
    finally:
        feed.remove_callback(wake)  # its own callback, not whichever was added last


FAST = ConnectionOptions(stale_after=1.0, backoff_initial=0.05, backoff_cap=0.2, ping_interval=None)
"""Recovery settings for fault tests: a stall is noticed in 1 s and reconnects retry within 0.2 s."""

STEADY = ConnectionOptions(stale_after=2.0, backoff_initial=0.05, backoff_cap=0.2)
"""Settings for tests that inject no stall: quick reconnects, and a silence of 2 s (not 1 s, so a loaded machine's
pause is not taken for a stall) counts as a dead connection."""

TOLERANT = ConnectionOptions(stale_after=5.0, backoff_initial=0.05, backoff_cap=0.2, ping_interval=None)
"""Settings for tests whose feed may be quiet for seconds on purpose (a paused replay, a Redis outage, a scrape)
without that counting as a stall; reconnects still retry within 0.2 s."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound and released, so a server may take it next)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def synced(feed: Feed) -> bool:
    """Every book of the feed is synced and has applied at least one update since its snapshot."""
    rows = feed.book_stats()
    return bool(len(rows)) and bool(rows["synced"].all()) and bool((rows["deltas"] > 0).all())


def stat(feed: Feed, column: str) -> int:
    """A connection counter summed over the feed's connections."""
    return int(feed.stats()[column].sum())


async def assert_books_exact(feed: Feed, sim: Any, venue: str, symbols: Iterable[str], *,
                             depth: int | None = None, last_sequence: Callable[[str], int] | None = None,
                             synced_timeout: float = 20.0, book_timeout: float = 10.0) -> None:
    """Pause the market, let the feed drain what is in flight, then compare every level of every book of
    ``venue`` with the simulator's truth (the market resumes afterwards, whatever happened).

    ``depth``: a venue's fixed book depth, which each side must have exactly. ``last_sequence(symbol)``: the
    simulator's last update id, which the book's ``sequence`` must equal once it has caught up."""
    await until(feed, lambda: synced(feed), timeout=synced_timeout, what=f"{venue} books synced")
    sim.pause()
    try:
        for symbol in symbols:
            book = feed.books[(venue, symbol)]
            await until(feed, lambda b=book, s=symbol: b.to_dict() == sim.true_book(s), timeout=book_timeout,
                        what=f"{venue} {symbol} equal to the simulator's true book")
            assert not book.crossed
            if depth is not None:
                assert book.bid_count == book.ask_count == depth
            if last_sequence is not None:
                assert book.sequence == last_sequence(symbol)
        assert synced(feed)
    finally:
        sim.resume()


@contextmanager
def sim_on_own_thread(seed: int) -> Iterator[BinanceSim]:
    """A Binance simulator (BTC-USDT, ETH-USDT, a step every 10 ms) on a loop thread of its own, standing in for a
    remote exchange while the feed runs on the shared loop thread, as in a notebook."""
    runner = LoopThread(name="sim-loop")
    server = BinanceSim(symbols=("BTC-USDT", "ETH-USDT"), seed=seed, interval=0.01)
    runner.run(server.start(), timeout=10)
    try:
        yield server
    finally:
        runner.run(server.stop(), timeout=10)
        runner.stop()
