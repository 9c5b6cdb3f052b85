"""What every venue adapter shares: endpoints, per-symbol book-sync counters, and the emit path.

A venue module provides pure parsers and its book-sync rule; its adapter class (a subclass of
:class:`VenueAdapter`) wires them to :class:`~livefeed.connection.Connection` objects. The feed only talks to this
base interface, so adding a venue never touches the feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from ..book import OrderBook
from ..connection import Connection, ConnectionOptions
from ..errors import LivefeedError
from ..model import BookDelta, BookSnapshot, Event
from ..redact import redact_text, redact_url
from ..symbols import canonical

if TYPE_CHECKING:
    import httpx

__all__ = [
    "VenueEndpoints", "SyncStats", "VenueAdapter", "CHANNELS", "FrameSpec", "AdapterOptions", "MalformedFrame",
    "decode_object", "RestError", "ResponseTooLargeError", "DEFAULT_MAX_BODY",
]

log = logging.getLogger(__name__)

CHANNELS = ("trades", "book", "ticker")
"""Channel names a feed accepts; each venue maps them to its own streams."""

DEFAULT_MAX_BODY = 64 * 2**20
"""Largest REST body read (bytes, after decompression): ~12x Coinbase's 5.4 MB full snapshot, the largest seen."""


class RestError(LivefeedError):
    """A REST request failed: network, HTTP status, a body over the size limit, or a body that is not JSON."""


class ResponseTooLargeError(RestError):
    """A REST body exceeded ``max_body`` bytes; the rest was not read (a broken or hostile server)."""


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
    stale_resyncs: int = 0
    """Resyncs forced because the book had no update for ``book_stale_after`` while its connection was up."""
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
    """Seconds to connect, and between two reads of a REST body."""
    http_deadline: float = 120.0
    """Seconds for a whole REST request, so a server dripping an endless body cannot hold a task for ever."""
    max_body: int = DEFAULT_MAX_BODY
    """Bytes of one REST body (after decompression) before the request fails with ``ResponseTooLargeError``."""


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
        *,
        max_body: int | None = None,
        book_stale_after: float | None = None,
    ) -> None:
        self.symbols = list(dict.fromkeys(symbols))
        self.channels = set(channels)
        self.endpoints = endpoints or self.default_endpoints
        self.options = options or AdapterOptions()
        if max_body is not None:  # venue_options={"binance": {"max_body": ...}}
            if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body <= 0:
                raise ValueError(f"{self.name}: max_body must be a positive number of bytes, got {max_body!r}")
            self.options = replace(self.options, max_body=max_body)
        if book_stale_after is not None:  # venue_options={"kraken": {"book_stale_after": 120}}
            self.options = replace(self.options, connection=replace(self.options.connection,
                                                                    book_stale_after=book_stale_after))
        self.book_stale_after = self.options.connection.book_stale_after
        self.emit = emit
        self.books: dict[str, OrderBook] = {s: OrderBook(self.name, s) for s in self.symbols}
        self.sync: dict[str, SyncStats] = {s: SyncStats(self.name, s) for s in self.symbols}
        self.connections: list[Connection] = []
        self.connection_symbols: dict[str, list[str]] = {}
        """Connection name -> the symbols it carries, where a venue spreads symbols over several connections."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        self._built = asyncio.Event()
        self._book_touched: dict[str, int] = {}
        """Symbol -> wall time (ns) of its last applied book event or forced resync, for the book watchdog."""
        if self.book_stale_after is not None and "book" in self.channels:
            self.emit = self._watching_books(emit)

    def _watching_books(self, emit: Callable[[Event], None]) -> Callable[[Event], None]:
        touched, clock = self._book_touched, time.time_ns

        def emit_and_note(event: Event) -> None:
            if type(event) is BookDelta or type(event) is BookSnapshot:
                touched[event.symbol] = clock()
            emit(event)

        return emit_and_note

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx  # lazy: httpx loads zstandard and friends; `import livefeed` should not

            self._http = httpx.AsyncClient(base_url=self.endpoints.rest, timeout=self.options.http_timeout)
        return self._http

    async def rest_get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """GET ``path`` with the body read up to ``max_body`` bytes (the status is not checked).

        Raises ``httpx.HTTPError`` for network errors, :class:`ResponseTooLargeError` past the limit and
        ``TimeoutError`` past ``http_deadline``. Every body goes to the raw-frame tap, so a capture can replay it.
        """
        import httpx

        limit = self.options.max_body
        async with asyncio.timeout(self.options.http_deadline):
            async with self.http.stream("GET", path, params=params) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise self._too_large(response, limit, f"declares {int(declared):,} bytes")
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise self._too_large(response, limit, "kept sending")
                    chunks.append(chunk)
        body = b"".join(chunks)
        headers = [(k, v) for k, v in response.headers.multi_items()
                   if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
        done = httpx.Response(response.status_code, headers=headers, content=body, request=response.request)
        tap = self.options.connection.tap
        if tap is not None:
            target = response.request.url.raw_path.decode()
            tap(f"{self.name}:rest {response.status_code} {target}", body, time.time_ns())
        return done

    def _too_large(self, response: httpx.Response, limit: int, how: str) -> ResponseTooLargeError:
        url = redact_url(str(response.request.url))
        return ResponseTooLargeError(
            f"{self.name}: {url} {how} more than the {limit / 2**20:g} MiB allowed for a REST body; stopped reading "
            f"(raise it with venue_options={{{self.name!r}: {{'max_body': bytes}}}} if the venue really sends that)"
        )

    async def list_symbols(self, path: str, parse: Callable[[Any], Any], params: dict[str, Any] | None = None, *,
                           what: str = "symbols") -> Any:
        """``parse(body)`` of the venue's listing at ``path``; a listing of an unexpected shape is a ``RestError``."""
        body = await self.get_listing(path, params, what=what)
        try:
            return parse(body)
        except LivefeedError:
            raise
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
            where = redact_url(f"{self.endpoints.rest.rstrip('/')}{path}")
            raise RestError(f"{self.name}: the {what} listing from {where} is not in the venue's format "
                            f"({type(exc).__name__}: {redact_text(str(exc))[:200]})") from None

    async def get_listing(self, path: str, params: dict[str, Any] | None = None, *, what: str = "symbols") -> Any:
        """The venue's JSON listing at ``path``, for :meth:`validate`; any failure is one clear ``RestError``."""
        import httpx

        where = redact_url(f"{self.endpoints.rest.rstrip('/')}{path}")
        hint = f"check the network or point endpoints={{{self.name!r}: ...}} at a simulator"
        try:
            response = await self.rest_get(path, params)
        except ResponseTooLargeError:
            raise
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            reason = redact_text(str(exc)) or type(exc).__name__
            raise RestError(f"{self.name}: could not list {what} from {where} ({reason}); {hint}") from None
        if response.status_code != 200:
            raise RestError(f"{self.name}: could not list {what} from {where} (HTTP {response.status_code}); {hint}")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            kind = response.headers.get("content-type", "no content type")
            raise RestError(f"{self.name}: {where} answered HTTP 200 with a body that is not JSON ({kind}, "
                            f"{len(response.content):,} bytes): not the venue's REST API; {hint}") from None

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
        """Run every connection until :meth:`close`; one that fails for good (see ``stats()``) ends alone."""
        self.connections = self.build_connections()
        self._built.set()
        if self.book_stale_after is not None and "book" in self.channels and self.books:
            self.spawn(self._watch_books(self.book_stale_after), f"{self.name}-book-watchdog")
        await asyncio.gather(*(conn.run() for conn in self.connections))

    def connection_of(self, symbol: str) -> Connection | None:
        """The connection carrying ``symbol``'s streams."""
        for conn in self.connections:
            if symbol in self.connection_symbols.get(conn.name, ()):
                return conn
        return self.connections[0] if len(self.connections) == 1 else None

    async def _watch_books(self, stale_after: float) -> None:
        """Per-book staleness: the connection watchdog sees only whole-socket silence, not one silent book."""
        limit = int(stale_after * 1e9)
        while True:
            await asyncio.sleep(min(stale_after / 4, 1.0))
            now = time.time_ns()
            for symbol in self.symbols:
                conn = self.connection_of(symbol)
                if conn is None or not conn.connected:
                    continue
                since = max(self._book_touched.get(symbol, 0), conn.stats.connected_since_ns)
                if now - since < limit:
                    continue
                self._book_touched[symbol] = now  # one resync per period, not one per check
                stats = self.sync[symbol]
                stats.stale_resyncs += 1
                stats.synced = False
                log.warning("%s %s: no book update for %.1fs while connected: resyncing (%d so far)", self.name,
                            symbol, (now - since) / 1e9, stats.stale_resyncs)
                self.resync_book(symbol, conn)

    def resync_book(self, symbol: str, conn: Connection) -> None:
        """Rebuild ``symbol``'s book on the live connection (resubscribe); venues override it."""
        log.info("%s: no way to resync one book; %s waits for the next reconnect", self.name, symbol)

    async def first_connect(self) -> None:
        """Return once every connection has made its first attempt; raise ``FatalConnectionError`` if one of them
        failed for good (HTTP 401/403/404, not a WebSocket server, TLS mismatch). A transient failure returns:
        that connection keeps retrying. For ``Feed.start()``, after :meth:`run` has been started."""
        await self._built.wait()
        await asyncio.gather(*(conn.wait_first_attempt() for conn in self.connections
                               if hasattr(conn, "wait_first_attempt")))

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
