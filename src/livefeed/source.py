"""What every source of a feed is: a market venue or a chain node, seen from ``Feed``.

A :class:`Source` turns one venue's (or node's) wire protocol into events handed to ``emit``. It owns its
connections and tasks and reports their health as :class:`~livefeed.connection.ConnectionStats`. Market venues
add order books on top of this (:class:`livefeed.venues.base.MarketAdapter`); the Ethereum source does not, so it
is a plain ``Source`` with nothing it has to pretend to have.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .connection import ConnectionOptions, ConnectionStats
from .model import Event
from .symbols import canonical

__all__ = ["Source", "SourceOptions", "AdapterOptions", "VenueEndpoints", "FrameSpec", "DEFAULT_MAX_BODY"]

DEFAULT_MAX_BODY = 64 * 2**20
"""Largest REST body read (bytes, after decompression): ~12x Coinbase's 5.4 MB full snapshot, the largest seen."""


@dataclass(slots=True, frozen=True)
class VenueEndpoints:
    """Where a venue lives. ``ws`` is the WebSocket base URL, ``rest`` the REST base URL."""

    ws: str
    rest: str

    @classmethod
    def from_value(cls, value: object, default: VenueEndpoints) -> VenueEndpoints:
        """Accept a ``VenueEndpoints``, a ``{"ws": ..., "rest": ...}`` dict, an object with ``ws_url`` /
        ``rest_url`` (a simulator), or one base URL used for both (``http`` <-> ``ws`` schemes mapped)."""
        if isinstance(value, VenueEndpoints):
            return value
        if isinstance(value, dict):
            unknown = set(value) - {"ws", "rest"}
            if unknown:
                raise ValueError(f"endpoint keys must be 'ws' and/or 'rest', got {sorted(unknown)}")
            return cls(ws=value.get("ws", default.ws), rest=value.get("rest", default.rest))
        ws_url, rest_url = getattr(value, "ws_url", None), getattr(value, "rest_url", None)
        if isinstance(ws_url, str) and isinstance(rest_url, str):
            return cls(ws=ws_url, rest=rest_url)
        if isinstance(value, str):
            base = value.rstrip("/")
            if base.startswith(("ws://", "wss://")):
                return cls(ws=base, rest="http" + base[2:])
            if base.startswith(("http://", "https://")):
                return cls(ws="ws" + base[4:], rest=base)
        raise ValueError(f"cannot use {value!r} as an endpoint: give a URL, a dict with ws/rest, or a simulator")


@dataclass(slots=True, frozen=True)
class FrameSpec:
    """A rolling frame a source's events fill beyond the built-in ones (trades, top_of_book, tickers).

    Every event of type ``event`` is turned into a row by ``row(event)`` (values in ``columns`` order) and
    appended to ``feed.frames[name]`` (also reachable as ``feed.<name>``).
    """

    columns: dict[str, str]
    event: type
    row: Callable[[Any], tuple[object, ...]]


@dataclass(slots=True)
class SourceOptions:
    """Settings every source takes (``Feed(connection=...)`` and the REST limits of ``venue_options``)."""

    connection: ConnectionOptions = field(default_factory=ConnectionOptions)
    http_timeout: float = 10.0
    """Seconds to connect, and between two reads of a REST body."""
    http_deadline: float = 120.0
    """Seconds for a whole REST request, so a server dripping an endless body cannot hold a task for ever."""
    max_body: int = DEFAULT_MAX_BODY
    """Bytes of one REST body (after decompression) before the request fails with ``ResponseTooLargeError``."""


AdapterOptions = SourceOptions
"""The name these options had before sources and market adapters were split; kept for existing code."""


class Source:
    """Base of every feed source: subscriptions in, events out through ``emit``, health through stats.

    Subclasses set ``name`` and ``default_endpoints``, may declare extra rolling ``frames``, and implement
    :meth:`run` (until :meth:`close`) and :meth:`connection_stats`. ``validate`` checks the subscriptions against
    the venue before anything runs; ``first_connect`` returns once the first connect attempt is settled.
    """

    name: ClassVar[str] = ""
    default_endpoints: ClassVar[VenueEndpoints]
    frames: ClassVar[dict[str, FrameSpec]] = {}
    """Extra rolling frames this source's events fill (see :class:`FrameSpec`)."""

    @classmethod
    def normalize_target(cls, text: str) -> str:
        """Check and normalise what follows ``venue:`` in a subscription (a market's ``BASE-QUOTE`` symbol)."""
        return canonical(text)

    def __init__(
        self,
        symbols: Iterable[str],
        channels: Iterable[str],
        emit: Callable[[Event], None],
        endpoints: VenueEndpoints | None = None,
        options: SourceOptions | None = None,
    ) -> None:
        self.symbols = list(dict.fromkeys(symbols))
        self.channels = set(channels)
        self.endpoints = endpoints or self.default_endpoints
        self.options = options or SourceOptions()
        self.emit = emit
        self._tasks: set[asyncio.Task[None]] = set()

    def connection_stats(self) -> list[ConnectionStats]:
        """One :class:`ConnectionStats` per connection (or subscription loop) this source runs."""
        raise NotImplementedError

    async def validate(self) -> None:
        """Check the subscriptions against the venue; raise a ``LivefeedError`` early for a bad one."""

    async def run(self) -> None:
        """Stream until :meth:`close`."""
        raise NotImplementedError

    async def first_connect(self) -> None:
        """Return once every connection has made its first attempt; raise if one failed for good."""

    def spawn(self, coro: object, name: str) -> asyncio.Task[None]:
        """Start a background task the source owns and cancels on close."""
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        """Cancel the tasks this source spawned; subclasses close their connections first."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
