"""Where a feed's events go besides its own frames: Redis, Kafka, Parquet, raw capture.

A sink is any object with this shape; the feed starts it on its loop before connecting, calls ``on_event`` for
every event (on the loop: it must not block, so buffer and write from a task of your own), and stops it (flush
there) when the feed stops.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..model import Event

__all__ = ["Sink"]


@runtime_checkable
class Sink(Protocol):
    async def start(self) -> None: ...

    def on_event(self, event: Event) -> None: ...

    async def stop(self) -> None: ...
