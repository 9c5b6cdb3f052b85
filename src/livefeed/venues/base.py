"""What every venue adapter shares: endpoints, per-symbol book-sync counters, and the emit path.

A venue module provides pure parsers and its book-sync rule; its adapter class (a subclass of
:class:`VenueAdapter`) wires them to :class:`~livefeed.connection.Connection` objects. The feed only talks to this
base interface, so adding a venue never touches the feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
import orjson

from ..book import OrderBook
from ..connection import Connection, ConnectionOptions
from ..model import Event
from ..symbols import canonical

__all__ = [
    "VenueEndpoints", "SyncStats", "VenueAdapter", "CHANNELS", "FrameSpec", "AdapterOptions", "MalformedFrame",
    "decode_object",
]

CHANNELS = ("trades", "book", "ticker")
"""Channel names a feed accepts; each venue maps them to its own streams."""


class MalformedFrame(ValueError):
    """A frame that is not the venue's JSON of a known shape: counted and logged by the connection, never fatal."""


def decode_object(frame: str | bytes) -> dict[str, Any]:
    """Parse one frame that must be a JSON object (every venue's messages are)."""
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise MalformedFrame(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise MalformedFrame(f"unexpected frame: {str(message)[:120]}")
    return message


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


@dataclass(slots=True)
class SyncStats:
    """How one symbol's local book has been kept exact."""

    venue: str
    symbol: str
    synced: bool = False
    snapshots: int = 0
    deltas: int = 0
    stale: int = 0
    gaps: int = 0
    resyncs: int = 0
    checksum_failures: int = 0
    last_sequence: int | None = None

    def as_row(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


@dataclass(slots=True, frozen=True)
class FrameSpec:
    """A rolling frame an adapter fills beyond the built-in ones (trades, top_of_book, tickers).

    Every event of type ``event`` is turned into a row by ``row(event)`` (values in ``columns`` order) and
    appended to ``feed.frames[name]`` (also reachable as ``feed.<name>``).
    """

    columns: dict[str, str]
    event: type
    row: Callable[[Any], tuple[object, ...]]


@dataclass(slots=True)
class AdapterOptions:
    connection: ConnectionOptions = field(default_factory=ConnectionOptions)
    snapshot_limit: int = 5000
    http_timeout: float = 10.0


class VenueAdapter:
    """Base class: owns the venue's books and connections; subclasses implement the wire protocol."""

    name: str = ""
    default_endpoints: VenueEndpoints
    frames: ClassVar[dict[str, FrameSpec]] = {}
    """Extra rolling frames this adapter's events fill (see :class:`FrameSpec`)."""

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
        options: AdapterOptions | None = None,
    ) -> None:
        self.symbols = list(dict.fromkeys(symbols))
        self.channels = set(channels)
        self.endpoints = endpoints or self.default_endpoints
        self.options = options or AdapterOptions()
        self.emit = emit
        self.books: dict[str, OrderBook] = {s: OrderBook(self.name, s) for s in self.symbols}
        self.sync: dict[str, SyncStats] = {s: SyncStats(self.name, s) for s in self.symbols}
        self.connections: list[Connection] = []
        self.connection_symbols: dict[str, list[str]] = {}
        """Connection name -> the symbols it carries, where a venue spreads symbols over several connections."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            tap = self.options.connection.tap
            hooks = {"response": [self._tap_response]} if tap is not None else {}
            self._http = httpx.AsyncClient(base_url=self.endpoints.rest, timeout=self.options.http_timeout,
                                           event_hooks=hooks)
        return self._http

    async def _tap_response(self, response: httpx.Response) -> None:
        """Hand REST bodies (snapshots) to the raw-frame tap too, so a capture can serve them again on replay."""
        tap = self.options.connection.tap
        if tap is not None:
            await response.aread()
            request = response.request
            target = request.url.raw_path.decode()
            tap(f"{self.name}:rest {response.status_code} {target}", response.content, time.time_ns())

    async def validate(self) -> None:
        """Check the symbols against the venue's listing; raise ``UnknownSymbolError`` early."""

    def build_connections(self) -> list[Connection]:
        raise NotImplementedError

    def spawn(self, coro: object, name: str) -> asyncio.Task[None]:
        """Start a background task the adapter owns and cancels on close."""
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def run(self) -> None:
        self.connections = self.build_connections()
        await asyncio.gather(*(conn.run() for conn in self.connections))

    async def close(self) -> None:
        await asyncio.gather(*(conn.close() for conn in self.connections), return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._http is not None:
            await self._http.aclose()
            self._http = None
