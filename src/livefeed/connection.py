"""One WebSocket client connection that keeps itself alive.

It is the only module that touches a socket. It (re)connects with capped exponential backoff and jitter (reset
after a healthy period), runs the venue's subscribe step after every connect, keeps the link alive with ping/pong,
and forces a reconnect when nothing has arrived for ``stale_after`` seconds: a stalled feed recovers by itself
instead of raising. Every frame is handed on with its receipt time; counters live in :class:`ConnectionStats`.

The WebSocket client underneath is :data:`TRANSPORT`: ``picows`` (Cython: frames are parsed in C and handed to the
venue straight from the socket callback, ~2 us a frame) where its wheel is installed, else ``websockets`` (pure
Python, ~15 us a frame; see bench/README.md). ``LIVEFEED_TRANSPORT=websockets`` picks websockets either way. Both
behave the same to callers: frames as ``str`` (text) or ``bytes`` (binary), websockets' exceptions on a lost socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
    InvalidURI,
    PayloadTooBig,
    WebSocketException,
)
from websockets.frames import Close, CloseCode

from .errors import ConfigError, LivefeedError
from .redact import install_log_redaction, redact_text, redact_url

__all__ = [
    "Backoff", "ConnectionOptions", "ConnectionStats", "Connection", "ConnectionState", "FatalConnectionError",
    "KeepAlive", "TRANSPORT", "classify_connect_error", "redact_url",
]

log = logging.getLogger(__name__)

FrameHandler = Callable[[str | bytes, int, "Connection"], None]
"""``on_frame(frame, receipt_ns, connection)``: the connection hands itself over, so one handler serves many."""
FrameTap = Callable[[str, str | bytes, int], None]
"""``tap(connection_name, frame, receipt_ns)``: sees every raw frame before parsing (raw capture)."""
ConnectHook = Callable[["Connection"], Awaitable[None]]


install_log_redaction()  # httpx, websockets and web3 log request URLs (with credentials) and headers

try:
    import picows
except ImportError:  # no wheel for this platform (an optional dependency): websockets does the same job, slower
    picows = None

TRANSPORT = "websockets" if picows is None or os.environ.get("LIVEFEED_TRANSPORT") == "websockets" else "picows"
"""The WebSocket client every :class:`Connection` uses: ``"picows"`` or ``"websockets"`` (see the module doc)."""


class ConnectionState(StrEnum):
    """Where a source's connection is; str-valued, so ``state == "connected"`` keeps working."""

    NEW = "new"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CATCHING_UP = "catching up"
    """Connected and backfilling what was missed (the chain source)."""
    LIVE = "live"
    """Connected and streaming after catching up (the chain source)."""
    BACKOFF = "backoff"
    """Waiting before the next connect attempt."""
    FAILED = "failed"
    """Ended by an error that retrying cannot heal (see ``last_error``)."""
    CLOSED = "closed"

    @property
    def up(self) -> bool:
        return self in _UP


_UP = frozenset({ConnectionState.CONNECTED, ConnectionState.CATCHING_UP, ConnectionState.LIVE})


class FatalConnectionError(LivefeedError):
    """A connect error that will not heal by retrying (HTTP 401/403/404, not a WebSocket server, TLS mismatch)."""


_FATAL_STATUS = {400: "bad request", 401: "unauthorized", 403: "forbidden", 404: "not found", 405: "not allowed",
                 410: "gone"}


def classify_connect_error(exc: BaseException, open_timeout: float | None = None) -> tuple[bool, str]:
    """``(fatal, reason)`` for an exception raised while opening a WebSocket; the reason is never empty."""
    if isinstance(exc, InvalidStatus):
        return _classify_status(exc.response.status_code)
    if picows is not None and isinstance(exc, picows.WSHandshakeError) and exc.response is not None:
        return _classify_status(int(exc.response.status))
    if isinstance(exc, InvalidURI) or (picows is not None and isinstance(exc, picows.WSInvalidURL)):
        return True, f"invalid WebSocket URL: {exc}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return True, f"TLS certificate rejected: {exc.verify_message or exc}"
    if isinstance(exc, ssl.SSLError):
        return True, f"TLS handshake failed ({exc.reason or exc}): is this a plain (non-TLS) port? use ws://"
    if isinstance(exc, TimeoutError):
        wait = f" within {open_timeout:g} s" if open_timeout else ""
        return False, f"no answer to the WebSocket handshake{wait} (open_timeout)"
    if isinstance(exc, ConnectionRefusedError):
        return False, f"connection refused ({exc.strerror or exc})"
    detail = str(exc) or repr(exc)
    return False, f"{type(exc).__name__}: {detail}"


def _classify_status(status: int) -> tuple[bool, str]:
    if status in _FATAL_STATUS:
        return True, f"HTTP {status} {_FATAL_STATUS[status]} on the WebSocket handshake"
    if 200 <= status < 300:
        return True, f"HTTP {status} instead of a WebSocket upgrade: not a WebSocket endpoint"
    return False, f"HTTP {status} on the WebSocket handshake"


@dataclass(slots=True)
class Backoff:
    """Capped exponential backoff with "equal jitter": half the delay fixed, half random.

    Jitter spreads the reconnects of many clients after an exchange-side outage; the cap bounds the wait.
    """

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def next_delay(self) -> float:
        """The next wait: grows by ``factor`` per attempt up to ``cap``, for ever (never overflows)."""
        try:
            grown = self.initial * self.factor**self.attempts
        except OverflowError:  # near attempt 1,024 with factor 2: long past the cap, which is where we stay
            grown = math.inf
        base = min(self.cap, grown)
        self.attempts += 1
        return base / 2 + self.rng.uniform(0, base / 2)

    def reset(self) -> None:
        self.attempts = 0


@dataclass(slots=True, frozen=True)
class ConnectionOptions:
    """Keep-alive and recovery settings; the defaults suit the public exchanges.

    Binance pings every 20 s and drops clients that do not answer within a minute; the websockets library answers
    server pings itself. Our own pings (``ping_interval``) detect a dead TCP path; ``stale_after`` catches a server
    that still answers pings but sends no data.
    """

    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    stale_after: float = 30.0
    open_timeout: float = 10.0
    max_size: int | None = 64 * 2**20  # Coinbase sends multi-MB level2 snapshots in one frame
    backoff_initial: float = 0.5
    backoff_cap: float = 30.0
    healthy_after: float = 60.0
    book_stale_after: float | None = None
    """Resync a book that had no update for this long while its connection is up (None: off). Catches a
    subscription that went silent on a live socket; a quiet market triggers it too, so set it generously."""
    tap: FrameTap | None = None
    """Called with every raw frame before the venue parses it (see :mod:`livefeed.sinks.raw_capture`); must not
    block."""

    def __post_init__(self) -> None:
        """Refuse settings that can never work (``stale_after=0`` would be a reconnect storm)."""
        for name in ("ping_interval", "ping_timeout", "book_stale_after"):
            _check_seconds(name, getattr(self, name), optional=True)
        for name in ("stale_after", "open_timeout", "backoff_initial", "backoff_cap"):
            _check_seconds(name, getattr(self, name))
        _check_seconds("healthy_after", self.healthy_after, allow_zero=True)
        if self.backoff_cap < self.backoff_initial:
            raise ConfigError(f"ConnectionOptions: backoff_cap ({self.backoff_cap:g}) must be >= backoff_initial "
                              f"({self.backoff_initial:g})")
        size = self.max_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
            raise ConfigError(f"ConnectionOptions: max_size must be a positive number of bytes or None (no limit), "
                              f"got {size!r}")
        if self.tap is not None and not callable(self.tap):
            raise ConfigError(f"ConnectionOptions: tap must be callable(name, frame, receipt_ns), got {self.tap!r}")


@dataclass(slots=True, frozen=True)
class KeepAlive:
    """An application-level ping some venues require on top of WebSocket pings (which they do not count).

    ``message()`` builds the text to send (a fresh request id each time, where the venue wants one). With
    ``when_idle`` the ping goes out only after ``interval`` seconds without any incoming frame (OKX closes a
    socket silent for 30 s); otherwise every ``interval`` seconds (Kraken, Bybit).
    """

    message: Callable[[], str]
    interval: float
    when_idle: bool = False

    def __post_init__(self) -> None:
        _check_seconds("keepalive interval", self.interval)


def _check_seconds(name: str, value: object, *, optional: bool = False, allow_zero: bool = False) -> None:
    if value is None and optional:
        return
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and (value > 0 or (allow_zero and value == 0)):  # type: ignore[operator]
        return
    allowed = "a finite number of seconds " + (">= 0" if allow_zero else "> 0") + (" or None" if optional else "")
    raise ConfigError(f"ConnectionOptions: {name} must be {allowed}, got {value!r}")


@dataclass(slots=True)
class ConnectionStats:
    name: str
    url: str
    state: ConnectionState = ConnectionState.NEW
    messages: int = 0
    bytes: int = 0
    connects: int = 0
    reconnects: int = 0
    stale_timeouts: int = 0
    malformed: int = 0
    keepalives_sent: int = 0
    last_message_ns: int = 0
    connected_since_ns: int = 0
    lag_ms_last: float = float("nan")
    lag_ms_max: float = float("nan")
    lag_ms_sum: float = 0.0
    lag_count: int = 0
    last_error: str = ""

    def observe_lag(self, exchange_ns: int, receipt_ns: int) -> None:
        lag = (receipt_ns - exchange_ns) / 1e6
        self.lag_ms_last = lag
        self.lag_ms_sum += lag
        self.lag_count += 1
        if not lag <= self.lag_ms_max:  # also true while max is NaN
            self.lag_ms_max = lag

    @property
    def lag_ms_mean(self) -> float:
        return self.lag_ms_sum / self.lag_count if self.lag_count else float("nan")

    def as_row(self) -> dict[str, object]:
        return {
            "connection": self.name,
            "url": self.url,
            "state": str(self.state),
            "messages": self.messages,
            "bytes": self.bytes,
            "connects": self.connects,
            "reconnects": self.reconnects,
            "stale_timeouts": self.stale_timeouts,
            "malformed": self.malformed,
            "keepalives_sent": self.keepalives_sent,
            "last_message_ns": self.last_message_ns,
            "lag_ms_last": self.lag_ms_last,
            "lag_ms_mean": self.lag_ms_mean,
            "lag_ms_max": self.lag_ms_max,
            "last_error": self.last_error,
        }


class Connection:
    """A self-healing WebSocket client. ``await run()`` until ``await close()``.

    ``on_frame(frame, receipt_ns, conn)`` runs on the event loop for every frame and must not block; an
    exception in it is counted as a malformed frame and logged, never fatal. ``on_connect(conn)`` runs after every
    connect (subscribe there). ``on_disconnect()`` runs after every disconnect (mark books unsynced there).
    ``keepalive`` sends the venue's application-level ping for as long as each session lasts.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str,
        on_frame: FrameHandler,
        on_connect: ConnectHook | None = None,
        on_disconnect: Callable[[], None] | None = None,
        options: ConnectionOptions | None = None,
        keepalive: KeepAlive | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._url = url
        self.name = name
        self.options = options or ConnectionOptions()
        self.stats = ConnectionStats(name=name, url=redact_url(url))
        self.fatal_error: FatalConnectionError | None = None
        """Set when the connection ended for good (see :func:`classify_connect_error`); ``run()`` then returns."""
        self._on_frame = on_frame
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self.keepalive = keepalive
        self._backoff = Backoff(
            initial=self.options.backoff_initial, cap=self.options.backoff_cap, rng=rng or random.Random()
        )
        self._ws: ClientConnection | PicowsSocket | None = None
        self._holds: set[str] = set()
        self._closing = False
        self._wake = asyncio.Event()
        self._connected = asyncio.Event()
        self._state_changed = asyncio.Event()
        self._attempted = asyncio.Event()

    def __repr__(self) -> str:
        return f"<Connection {self.name} {self.stats.url} {self.stats.state}>"

    @property
    def connected(self) -> bool:
        return self._ws is not None

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def wait_state_change(self) -> ConnectionState:
        """Return the new state at the next transition (connecting, connected, backoff, failed, closed)."""
        event = self._state_changed
        await event.wait()
        return self.stats.state

    async def wait_first_attempt(self) -> None:
        """Return once the first connect attempt has succeeded or failed; raise if it failed for good."""
        await self._attempted.wait()
        if self.fatal_error is not None:
            raise self.fatal_error

    def _set_state(self, state: ConnectionState) -> None:
        self.stats.state = state
        self._state_changed.set()
        self._state_changed = asyncio.Event()

    async def send(self, text: str) -> None:
        """Send one text frame; any failure is a ``ConnectionError`` (the websockets error as its ``__cause__``),
        so a caller that lets the next reconnect redo its work catches one type."""
        ws = self._ws
        if ws is None:
            raise ConnectionError(f"{self.name} is not connected")
        try:
            await ws.send(text)
        except WebSocketException as exc:
            raise ConnectionError(f"{self.name}: send failed: {exc}") from exc

    def hold_reading(self, holder: str) -> None:
        """Stop handing on frames and reading the socket until every holder has called :meth:`release_reading`
        (or the session ends): the kernel keeps what arrives meanwhile. For a reader that cannot keep up with a burst
        while it waits, e.g. a book buffering diffs behind its REST snapshot. Frames already read are kept, never
        dropped. With websockets it is a no-op (its own flow control and slower reads pace the burst)."""
        self._holds.add(holder)
        ws = self._ws
        if isinstance(ws, PicowsSocket):
            ws.hold(True)

    def release_reading(self, holder: str) -> None:
        self._holds.discard(holder)
        ws = self._ws
        if not self._holds and isinstance(ws, PicowsSocket):
            ws.hold(False)

    async def run(self) -> None:
        """Connect, read and reconnect until :meth:`close` or a fatal error (then ``state`` is ``failed``)."""
        while not self._closing:
            connected_at = await self._session()
            self._attempted.set()
            if self.fatal_error is not None:
                self._set_state(ConnectionState.FAILED)
                return
            if self._closing:
                break
            if connected_at is not None and time.monotonic() - connected_at >= self.options.healthy_after:
                self._backoff.reset()
            delay = self._backoff.next_delay()
            self._set_state(ConnectionState.BACKOFF)
            log.info("%s: reconnecting in %.2fs", self.name, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self.stats.reconnects += 1
        self._set_state(ConnectionState.CLOSED)

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        ws = self._ws
        if ws is not None:
            await ws.close()

    async def _session(self) -> float | None:
        """One connect-read cycle; returns the monotonic connect time, or None if the connect failed."""
        opts = self.options
        self._set_state(ConnectionState.CONNECTING)
        try:
            ws: ClientConnection | PicowsSocket
            if TRANSPORT == "picows":
                ws = await PicowsSocket.connect(self._url, opts)
            else:
                ws = await connect(
                    self._url,
                    ping_interval=opts.ping_interval,
                    ping_timeout=opts.ping_timeout,
                    open_timeout=opts.open_timeout,
                    max_size=opts.max_size,
                    close_timeout=2.0,
                )
        except Exception as exc:  # whatever the handshake raised, the connection must classify it, not die
            fatal, reason = classify_connect_error(exc, opts.open_timeout)
            reason = redact_text(reason)
            self.stats.last_error = f"connect failed: {reason}"
            if fatal:
                self.fatal_error = FatalConnectionError(f"{self.name}: cannot connect to {self.stats.url}: {reason}; "
                                                        "not retrying (check the endpoint and credentials)")
                log.error("%s", self.fatal_error)
            else:
                log.info("%s: %s", self.name, self.stats.last_error)
            return None
        connected_at = time.monotonic()
        self._ws = ws
        stats = self.stats
        self._set_state(ConnectionState.CONNECTED)
        self._attempted.set()
        stats.connects += 1
        stats.connected_since_ns = stats.last_message_ns = time.time_ns()
        self._connected.set()
        watchdog = asyncio.create_task(self._watch(ws), name=f"{self.name}-watchdog")
        pinger: asyncio.Task[None] | None = None
        handle = self._frame_handler()
        self._holds.clear()  # holds were on the last session's socket
        if isinstance(ws, PicowsSocket):
            ws.start(handle)  # frames go to the venue from the socket callback, as they arrive
        try:
            if self._on_connect is not None:
                await self._on_connect(self)
            if self.keepalive is not None:
                pinger = asyncio.create_task(self._keep_alive(ws, self.keepalive), name=f"{self.name}-keepalive")
            if isinstance(ws, PicowsSocket):
                await ws.wait_closed()
            else:
                async for frame in ws:
                    handle(frame)
            if ws.close_code not in (None, 1000) or not self._closing:
                log.info("%s: closed by peer (code %s %s)", self.name, ws.close_code, ws.close_reason)
        except (OSError, TimeoutError, WebSocketException) as exc:
            self._record_error("connection lost", exc)
        except Exception as exc:  # e.g. a failing subscribe step: reconnect rather than end the venue
            self._record_error("session failed", exc)
        finally:
            self._ws = None
            self._connected.clear()
            for task in (watchdog, pinger):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if ws.transport is not None:
                ws.transport.abort()
            if self._on_disconnect is not None:
                self._on_disconnect()
        return connected_at

    def _frame_handler(self) -> Callable[[str | bytes], None]:
        """What every received frame goes through: stats, the tap, then ``on_frame`` (its errors counted)."""
        stats = self.stats
        on_frame = self._on_frame
        clock = time.time_ns
        tap = self.options.tap
        name = self.name

        def handle(frame: str | bytes) -> None:
            now = clock()
            stats.messages += 1
            stats.bytes += len(frame)
            stats.last_message_ns = now
            if tap is not None:
                tap(name, frame, now)
            try:
                on_frame(frame, now, self)
            except Exception as exc:  # a bad frame must never end the feed
                stats.malformed += 1
                if stats.malformed <= 10 or stats.malformed % 1000 == 0:
                    log.warning("%s: dropped a frame it could not handle (%d so far): %r", name, stats.malformed, exc)

        return handle

    async def _watch(self, ws: ClientConnection | PicowsSocket) -> None:
        stale_ns = int(self.options.stale_after * 1e9)
        while True:
            idle = time.time_ns() - self.stats.last_message_ns
            if idle >= stale_ns:
                self.stats.stale_timeouts += 1
                log.warning("%s: no message for %.1fs, reconnecting", self.name, idle / 1e9)
                if ws.transport is not None:
                    ws.transport.abort()
                return
            await asyncio.sleep((stale_ns - idle) / 1e9)

    async def _keep_alive(self, ws: ClientConnection | PicowsSocket, keepalive: KeepAlive) -> None:
        """Send the venue's ping every ``interval`` (or after ``interval`` of silence) until the session ends."""
        interval_ns = int(keepalive.interval * 1e9)
        stats = self.stats
        sent_ns = time.time_ns()
        while True:
            # Idle since the last frame in or the last ping out, so an unanswered ping is not re-sent at once.
            since = max(stats.last_message_ns, sent_ns) if keepalive.when_idle else sent_ns
            wait_ns = since + interval_ns - time.time_ns()
            if wait_ns > 0:
                await asyncio.sleep(wait_ns / 1e9)
                continue
            try:
                await ws.send(keepalive.message())
            except WebSocketException:
                return  # the session is ending; the reader sees why
            sent_ns = time.time_ns()
            stats.keepalives_sent += 1

    def _record_error(self, what: str, exc: BaseException) -> None:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else f"{type(exc).__name__} (no detail)"
        # Errors from websockets can echo the URL; keep secrets out of stats and logs.
        self.stats.last_error = redact_text(f"{what}: {detail.replace(self._url, self.stats.url)}")
        log.info("%s: %s", self.name, self.stats.last_error)


def _no_handler(frame: str | bytes) -> None:
    raise AssertionError("PicowsSocket.start() was not called")


class PicowsSocket:
    """A picows connection with what :class:`Connection` uses of a websockets ``ClientConnection``: ``send``,
    ``close``, ``transport.abort()``, ``close_code``/``close_reason`` and websockets' exceptions. Frames are pushed
    to :attr:`deliver` from the protocol callback (no task switch per frame): text frames as ``str``, binary as
    ``bytes``, fragmented messages reassembled; the peer's close frame is answered at once.

    Fair to the rest of the loop: picows hands over everything the socket holds at once (thousands of frames in
    one callback after a burst), which would starve other tasks, e.g. the REST snapshot a book waits for while its
    diffs pile up. At most :data:`FRAMES_PER_TICK` frames are delivered per loop iteration; the rest wait in a
    backlog drained on the next iterations, and past :data:`BACKLOG_HIGH` frames the socket stops being read (the
    kernel holds the data, as with websockets' ``max_queue``). Nothing received is ever dropped."""

    FRAMES_PER_TICK = 256
    BACKLOG_HIGH = 4096

    def __init__(self, max_size: int | None) -> None:
        self.deliver: Callable[[str | bytes], None] = _no_handler
        self._started = False
        self._backlog: deque[str | bytes] = deque()
        self._budget = self.FRAMES_PER_TICK
        self._tick_scheduled = False
        self._paused = False
        self._held = False
        self._loop = asyncio.get_running_loop()
        self.max_size = max_size
        self.ws: picows.WSTransport | None = None
        self.transport: asyncio.Transport | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.sent: Close | None = None
        self._rcvd_first = False
        self._parts: list[bytes] = []
        self._text = False

    @classmethod
    async def connect(cls, url: str, opts: ConnectionOptions) -> PicowsSocket:
        sock = cls(opts.max_size)
        interval = opts.ping_interval
        connecting = picows.ws_connect(
            lambda: _PicowsListener(sock), url,
            websocket_handshake_timeout=opts.open_timeout,
            enable_auto_ping=interval is not None,
            auto_ping_idle_timeout=interval or 20.0,
            auto_ping_reply_timeout=opts.ping_timeout or interval or 20.0,
            auto_ping_strategy=picows.WSAutoPingStrategy.PING_PERIODICALLY,
            max_frame_size=opts.max_size or 2**62,
        )
        await asyncio.wait_for(connecting, opts.open_timeout)
        return sock

    def connected(self, ws: picows.WSTransport) -> None:
        self.ws, self.transport = ws, ws.underlying_transport

    def start(self, handle: Callable[[str | bytes], None]) -> None:
        """Send frames to ``handle`` from now on, starting with those that arrived with the handshake reply."""
        self.deliver, self._started = handle, True
        if self._backlog and not self._tick_scheduled:
            self._tick_scheduled = True
            self._loop.call_soon(self._next_tick)

    def closed_error(self) -> WebSocketException:
        """The websockets exception for this ended connection (what websockets raises in the same case)."""
        rcvd = None if self.close_code is None else Close(self.close_code, self.close_reason)
        codes = [close.code for close in (rcvd, self.sent) if close is not None]
        ok = bool(codes) and all(code in (1000, 1001) for code in codes)
        both = None if rcvd is None or self.sent is None else self._rcvd_first
        return (ConnectionClosedOK if ok else ConnectionClosedError)(rcvd, self.sent, both)

    async def send(self, text: str) -> None:
        ws = self.ws
        if ws is None or ws.is_disconnected or ws.is_close_frame_sent:
            raise self.closed_error()
        ws.send(picows.WSMsgType.TEXT, text.encode())

    async def close(self) -> None:
        ws = self.ws
        if ws is None or ws.is_disconnected:
            return
        if not ws.is_close_frame_sent:
            self.sent = Close(1000, "")
            ws.send_close(picows.WSCloseCode.OK)
        ws.disconnect()
        await ws.wait_disconnected()

    async def wait_closed(self) -> None:
        """Return when the peer closed cleanly (1000/1001); raise the websockets exception otherwise. Frames still
        in the backlog are delivered first: everything received is handed on."""
        assert self.ws is not None
        await self.ws.wait_disconnected()
        backlog, deliver = self._backlog, self.deliver
        while backlog:
            deliver(backlog.popleft())
        error = self.closed_error()
        if not isinstance(error, ConnectionClosedOK):
            raise error

    def receive(self, frame: picows.WSFrame) -> None:
        kind = frame.msg_type
        if kind == _TEXT and frame.fin:
            self._push(frame.get_payload_as_utf8_text())
        elif kind == _BINARY and frame.fin:
            self._push(frame.get_payload_as_bytes())
        elif kind in (_TEXT, _BINARY, _CONTINUATION):
            self._fragment(frame, kind)
        elif kind == _CLOSE:
            self.close_code, self.close_reason = int(frame.get_close_code()), frame.get_close_reason() or ""
            self._rcvd_first = self.sent is None
            self._fail(self.close_code, self.close_reason)

    def _fragment(self, frame: picows.WSFrame, kind: picows.WSMsgType) -> None:
        if kind != _CONTINUATION:
            self._parts, self._text = [], kind == _TEXT
        elif not self._parts and not self._text:
            self._fail(CloseCode.PROTOCOL_ERROR, "unexpected continuation frame")
            return
        self._parts.append(frame.get_payload_as_bytes())
        size = sum(map(len, self._parts))
        if self.max_size is not None and size > self.max_size:
            self._parts, self._text = [], False  # the rest of this message is dropped with the session
            self._fail(CloseCode.MESSAGE_TOO_BIG, str(PayloadTooBig(size, self.max_size)))
        elif frame.fin:
            data, text, self._parts, self._text = b"".join(self._parts), self._text, [], False
            self._push(data.decode() if text else data)

    def hold(self, held: bool) -> None:
        """While held, frames wait in the backlog and the socket is not read (see ``Connection.hold_reading``)."""
        if held == self._held:
            return
        self._held = held
        transport = self.transport
        if held:
            if not self._paused and transport is not None and not transport.is_closing():
                self._paused = True
                transport.pause_reading()
        elif not self._tick_scheduled and self._started:
            self._tick_scheduled = True
            self._loop.call_soon(self._next_tick)

    def _push(self, data: str | bytes) -> None:
        if self._budget > 0 and not self._backlog and self._started and not self._held:
            self._budget -= 1
            if not self._tick_scheduled:
                self._tick_scheduled = True
                self._loop.call_soon(self._next_tick)
            self.deliver(data)
            return
        self._backlog.append(data)
        if not self._tick_scheduled and self._started and not self._held:
            self._tick_scheduled = True
            self._loop.call_soon(self._next_tick)
        if not self._paused and len(self._backlog) > self.BACKLOG_HIGH and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def _next_tick(self) -> None:
        """A new loop iteration: a fresh budget, spent on the backlog first."""
        self._tick_scheduled = False
        if self._held:
            return  # hold(False) schedules the next turn
        budget, backlog, deliver = self.FRAMES_PER_TICK, self._backlog, self.deliver
        while backlog and budget > 0 and not self._held:
            budget -= 1
            deliver(backlog.popleft())
        self._budget = budget
        if backlog or self._held:
            if not self._held:
                self._tick_scheduled = True
                self._loop.call_soon(self._next_tick)
        elif self._paused and self.transport is not None and not self.transport.is_closing():
            self._paused = False
            self.transport.resume_reading()

    def _fail(self, code: int, reason: str) -> None:
        """Send our close frame (echoing the peer's, or ours with a reason) and drop the socket."""
        ws = self.ws
        if ws is None:
            return
        if not ws.is_close_frame_sent:
            self.sent = Close(code, reason)
            known = code in _CLOSE_CODES
            ws.send_close(picows.WSCloseCode(code if known else 1000), reason.encode() if reason else None)
        ws.disconnect()


if picows is not None:
    _TEXT, _BINARY, _CONTINUATION, _CLOSE = (picows.WSMsgType.TEXT, picows.WSMsgType.BINARY,
                                             picows.WSMsgType.CONTINUATION, picows.WSMsgType.CLOSE)
    _CLOSE_CODES = frozenset(int(code) for code in picows.WSCloseCode)

    class _PicowsListener(picows.WSListener):  # type: ignore[misc]
        """picows' callback object: hands every frame to its :class:`PicowsSocket`."""

        def __init__(self, sock: PicowsSocket) -> None:
            super().__init__()
            self.receive = sock.receive
            self.sock = sock

        def on_ws_connected(self, transport: picows.WSTransport) -> None:
            self.sock.connected(transport)

        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            self.receive(frame)
