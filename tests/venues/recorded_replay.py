"""Feed recorded frames straight into a venue adapter (no socket), as the recorded-data tests of OKX and Deribit do."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from livefeed.connection import Connection
from livefeed.model import BookDelta, BookSnapshot, Event
from livefeed.venues.base import MarketAdapter

A = TypeVar("A", bound=MarketAdapter)

__all__ = ["replay_frames"]


def replay_frames(make: Callable[[Callable[[Event], None]], A], frames: list[tuple[int, str]], url: str,
                  watch: Callable[[A, Event], None] | None = None) -> tuple[A, list[Any], list[str]]:
    """The adapter ``make(emit)`` builds after every frame, every event it emitted and the moments a book was
    crossed; ``watch`` sees each event as it is emitted, with the adapter's books as they are then."""
    events: list[Any] = []
    crossed: list[str] = []
    adapter: A

    def emit(event: Event) -> None:
        events.append(event)
        if isinstance(event, BookSnapshot | BookDelta) and adapter.books[event.symbol].crossed:
            crossed.append(f"{event.symbol} at {event.exchange_ts}")
        if watch is not None:
            watch(adapter, event)

    adapter = make(emit)

    async def feed_frames() -> None:
        conn = Connection(url, name=f"{adapter.name}-0", on_frame=adapter.on_frame)  # never run
        for receipt_ns, payload in frames:
            adapter.on_frame(payload, receipt_ns, conn)
        await asyncio.gather(*adapter._tasks)  # a resubscribe on the never-connected socket fails, logged

    asyncio.run(feed_frames())
    return adapter, events, crossed
