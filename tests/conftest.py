from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from livefeed import ConnectionOptions, Feed

_CANDIDATES = [
    Path(os.environ.get("LIVEFEED_FIXTURES", "/nonexistent")),
    Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "recorded",
    Path("/work/shared/fixtures/recorded"),
]
RECORDED = next((p for p in _CANDIDATES if p.is_dir()), _CANDIDATES[1])


def recorded(name: str) -> Path:
    """A real recorded capture from ../shared/fixtures/recorded, or skip when that folder is absent here."""
    path = RECORDED / name
    if not path.exists():
        pytest.skip(f"recorded fixture {path} is not on this machine")
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


def synced(feed: Feed) -> bool:
    """Every book of the feed is synced and has applied at least one update since its snapshot."""
    rows = feed.book_stats()
    return bool(len(rows)) and bool(rows["synced"].all()) and bool((rows["deltas"] > 0).all())


def stat(feed: Feed, column: str) -> int:
    """A connection counter summed over the feed's connections."""
    return int(feed.stats()[column].sum())
