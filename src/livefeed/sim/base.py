"""What every venue simulator shares: one loopback port for REST and WebSocket, sessions with bounded send
queues, connection-level faults, and awaitable conditions for tests.

A venue simulator subclasses :class:`SimServer` (routing: which WebSocket paths exist, REST bodies) and
:class:`SimSession` (the venue's control messages: subscribe / unsubscribe / ping replies). The market model
(``market.MarketSim``) and the fault switches (``faults.Faults``) are shared as they are.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import http
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ..hooks import SIM_CREATED
from .faults import Faults

__all__ = ["LoopbackServer", "SimServer", "SimSession", "MarketClock", "json_response", "query_params"]


RestFault = int | tuple[int, dict[str, str]] | str | bytes
"""One injected REST failure (see :meth:`SimServer.fail_rest`)."""


def json_response(status: int, body: object, extra_headers: dict[str, str] | None = None) -> Response:
    """A plain HTTP response for ``process_request``; ``Connection: close`` since the socket closes after it."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = Headers(
        {
            "Content-Type": "application/json;charset=UTF-8",
            "Content-Length": str(len(raw)),
            "Connection": "close",
            **(extra_headers or {}),
        }
    )
    return Response(status, http.HTTPStatus(status).phrase, headers, raw)


def query_params(path: str) -> dict[str, str]:
    """The query of a request path as ``{name: last value}`` (what the REST handlers read)."""
    return {k: v[-1] for k, v in parse_qs(urlsplit(path).query, keep_blank_values=True).items()}


class SimSession:
    """One connected client: a bounded send queue drained by its own sender task, and incoming message dispatch.

    The market only ever does a non-blocking ``push``: a slow reader costs only itself, and when its queue
    overflows it is closed with 1008 the way an exchange drops a slow consumer. Subclasses implement ``handle``
    for the venue's control messages; ``max_messages_per_second`` (None: no limit) closes a client that floods.
    """

    max_messages_per_second: int | None = None
    text_frames = True

    def __init__(self, ws: ServerConnection, faults: Faults, queue_size: int) -> None:
        self.ws = ws
        self.faults = faults
        self.frames_sent = 0
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=queue_size)
        self._received: collections.deque[float] = collections.deque()
        self._sender: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    @property
    def open(self) -> bool:
        return self._closer is None

    # -- outgoing ------------------------------------------------------------------------------------------------
    def push(self, frame: bytes) -> None:
        """Non-blocking enqueue; on overflow the client is dropped (1008) rather than the market slowed."""
        if self._closer is not None:
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.faults.counts["slow_client"] += 1
            self.close(1008, "Slow consumer: send queue full")

    async def put(self, frame: bytes) -> None:
        """Enqueue with backpressure (waits for room): for replays, which go as fast as the client reads."""
        if self._closer is None:
            await self._queue.put(frame)

    async def drain(self) -> None:
        """Wait until every queued frame has been written to the socket."""
        await self._queue.join()

    def close(self, code: int, reason: str) -> None:
        if self._closer is None:
            if self._sender is not None:
                self._sender.cancel()
            self._closer = asyncio.get_running_loop().create_task(self.ws.close(code, reason))

    def abort(self) -> None:
        """Cut the TCP connection with no close frame, as a network failure or exchange restart would."""
        if self.ws.transport is not None:
            self.ws.transport.abort()

    async def _send_loop(self) -> None:
        faults = self.faults
        while True:
            frame = await self._queue.get()
            if faults.stalled:
                await faults.wait_flowing()
            if faults.send_delay:
                await asyncio.sleep(faults.send_delay)
            await self.ws.send(faults.garble(frame), text=self.text_frames)
            self.frames_sent += 1
            self._queue.task_done()

    # -- incoming ------------------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Serve until the client goes away; always leaves no task behind."""
        self._sender = asyncio.get_running_loop().create_task(self._send_loop())
        try:
            async for message in self.ws:
                if not self._within_rate_limit():
                    self.faults.counts["rate_limit"] += 1
                    self.close(1008, "Too many requests")
                    break
                self.handle(message)
        except ConnectionClosed:
            pass
        finally:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await self._sender
            if self._closer is not None:
                with contextlib.suppress(ConnectionClosed):
                    await self._closer

    def _within_rate_limit(self) -> bool:
        limit = self.max_messages_per_second
        if limit is None:
            return True
        now = asyncio.get_running_loop().time()
        window = self._received
        window.append(now)
        while window and now - window[0] >= 1.0:
            window.popleft()
        return len(window) <= limit

    def handle(self, message: str | bytes) -> None:
        """One incoming message from the client (subscribe, ping, ...)."""
        raise NotImplementedError


class LoopbackServer:
    """The lifecycle of one websockets server on a loopback port: ``start`` / ``stop`` / ``async with``, the
    bound ``port`` (``port=0`` picks a free one) and the ``ws_url`` / ``rest_url`` a feed's endpoints take.
    Subclasses say how to serve in ``_serve()``."""

    host: str
    _requested_port: int
    _server: Server | None = None
    loop: asyncio.AbstractEventLoop | None = None
    """The loop the server runs on, once started."""

    @property
    def running(self) -> bool:
        return self._server is not None

    async def _serve(self) -> Server:
        raise NotImplementedError

    async def start(self) -> None:
        if self._server is None:
            self.loop = asyncio.get_running_loop()
            self._server = await self._serve()

    async def stop(self) -> None:
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        await server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() or use 'async with'")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class SimServer(LoopbackServer):
    """Serves REST and WebSocket on one port; subclasses route WebSocket paths, answer REST and make sessions."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 60.0,
        send_queue: int = 4096,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.send_queue = send_queue
        self.faults = Faults()
        self.rest_requests: Counter[str] = Counter()
        """REST calls served, by path (``/api/v3/depth``), so tests can await or assert on them."""
        self.rest_log: list[tuple[str, float, int]] = []
        """``(path, loop time, status)`` of every REST call, in order (0 for a connection reset)."""
        self._rest_faults: dict[str, collections.deque[RestFault]] = {}
        self.sessions: list[SimSession] = []
        self._server: Server | None = None
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        for hook in SIM_CREATED:  # livefeed.live: a re-run notebook cell replaces the simulator it made before
            hook(self)

    # -- lifecycle -----------------------------------------------------------------------------------------------
    async def _serve(self) -> Server:
        return await serve(
            self._handle_connection,
            self.host,
            self._requested_port,
            process_request=self._process_request,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            close_timeout=2.0,
            max_size=2**20,
        )

    async def stop(self) -> None:
        self.faults.set_stalled(False)  # release senders parked on a stall so the server can close
        await super().stop()

    # -- connections ---------------------------------------------------------------------------------------------
    @property
    def connections(self) -> int:
        return len(self.sessions)

    async def wait_for_connections(self, n: int) -> None:
        """Return once at least ``n`` clients are connected and subscribed to their URL's streams."""
        await self._wait_until(lambda: len(self.sessions) >= n)

    async def wait_for_rest(self, path: str, count: int = 1) -> None:
        """Return once ``path`` (e.g. ``/api/v3/depth``) has been served ``count`` times."""
        await self._wait_until(lambda: self.rest_requests[path] >= count)

    def drop_connections(self) -> None:
        """Abort every client socket abruptly (no close frame): the client sees 1006."""
        for session in list(self.sessions):
            session.abort()
            self.faults.counts["drop_connections"] += 1

    def stall(self, on: bool = True) -> None:
        """While stalled, sockets stay open and pings are answered but no frame is sent; frames are lost."""
        self.faults.set_stalled(on)

    def send_malformed(self, n: int = 1) -> None:
        """The next ``n`` frames sent (on any connection) are garbage or truncated JSON instead."""
        self.faults.malformed_left += n

    def refuse_connections(self, seconds: float) -> None:
        """For ``seconds``, WebSocket upgrades get HTTP 503 (REST keeps working); 0 ends it."""
        self.faults.refuse_until = asyncio.get_running_loop().time() + seconds

    def slow_client(self, delay: float) -> None:
        """Every send waits ``delay`` s; queues then fill and the bounded queue ends in a 1008 drop. 0 ends it."""
        self.faults.send_delay = delay

    def fail_rest(self, path: str, *faults: RestFault) -> None:
        """The next requests for ``path`` fail, one per fault, before it is served normally again.

        A fault is an HTTP status (``500``), a status with headers (``(429, {"Retry-After": "1"})``), ``"reset"``
        (the connection is closed with no answer: a transport error), ``"garbage"`` (HTTP 200 with a body that is
        not JSON), or ``bytes`` (HTTP 200 with that body, e.g. an old snapshot).
        """
        self._rest_faults.setdefault(path, collections.deque()).extend(faults)

    def _rest_fault(self, connection: ServerConnection, path: str) -> Response | None:
        queue = self._rest_faults.get(path)
        if not queue:
            return None
        fault = queue.popleft()
        self.faults.counts["rest_failures"] += 1
        if fault == "reset":
            connection.transport.abort()
            return connection.respond(http.HTTPStatus.INTERNAL_SERVER_ERROR, "")  # never reaches the client
        if fault == "garbage":
            return json_response(200, b"<html>down for maintenance</html>", {"Content-Type": "text/html"})
        if isinstance(fault, bytes):
            return json_response(200, fault)
        status, headers = fault if isinstance(fault, tuple) else (fault, {})
        return json_response(status, {"code": -status, "msg": "injected by the simulator"}, headers)

    def fan_out(self, targets: list[Any], build: Callable[[], object], send: Callable[[Any, bytes], None]) -> None:
        """Encode ``build()`` once and ``send(session, payload)`` it to every target; while stalled the frame is
        lost (counted), as in a real outage. ``build`` runs only when someone will receive it."""
        if not targets:
            return
        if self.faults.stalled:
            self.faults.counts["stall"] += len(targets)
            return
        payload = orjson.dumps(build())
        for session in targets:
            send(session, payload)

    @property
    def fault_counts(self) -> dict[str, int]:
        return self.faults.counts

    async def _wait_until(self, predicate: Callable[[], bool]) -> None:
        if predicate():
            return
        future = asyncio.get_running_loop().create_future()
        waiter = (predicate, future)
        self._waiters.append(waiter)
        try:
            await future
        finally:
            self._waiters.remove(waiter)

    def _notify(self) -> None:
        """Wake the waiters whose condition now holds (called on every connect, disconnect and REST call)."""
        for predicate, future in self._waiters:
            if not future.done() and predicate():
                future.set_result(None)

    # -- hooks for subclasses ------------------------------------------------------------------------------------
    def handle_rest(self, path: str, params: dict[str, str]) -> Response:
        raise NotImplementedError

    def session_opened(self, session: SimSession) -> None:
        """Called once a session is registered (its URL streams already subscribed)."""

    def session_subscribed(self, session: SimSession) -> None:
        """Called after each live SUBSCRIBE."""

    async def session_closed(self, session: SimSession) -> None:
        """Called when a session ends, before it leaves ``sessions``; must leave no task behind."""

    # -- websockets callbacks ------------------------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if self.is_rest(path):
            response = self._rest_fault(connection, path) or self.handle_rest(path, query_params(request.path))
            self.rest_requests[path] += 1
            reset = connection.transport.is_closing()
            self.rest_log.append((path, asyncio.get_running_loop().time(), 0 if reset else response.status_code))
            self._notify()
            response.headers["Date"] = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
            return response
        route = self.route_ws(request.path)
        if isinstance(route, Response):
            return route
        if self.faults.refusing(asyncio.get_running_loop().time()):
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "Service Unavailable\n")
        connection.livefeed_route = route  # type: ignore[attr-defined]
        return None

    async def _handle_connection(self, ws: ServerConnection) -> None:
        session = self.new_session(ws, ws.livefeed_route)  # type: ignore[attr-defined]
        self.sessions.append(session)
        self.session_opened(session)
        self._notify()
        try:
            await session.run()
        finally:
            await self.session_closed(session)
            self.sessions.remove(session)
            self._notify()

    # -- routing hooks -------------------------------------------------------------------------------------------
    def is_rest(self, path: str) -> bool:
        """Whether a plain HTTP request for ``path`` is a REST call (answered by ``handle_rest``)."""
        return path.startswith("/api/")

    def route_ws(self, path: str) -> Any:
        """Accept a WebSocket upgrade (return any route value for ``new_session``) or refuse it (a Response)."""
        raise NotImplementedError

    def new_session(self, ws: ServerConnection, route: Any) -> SimSession:
        raise NotImplementedError


class MarketClock:
    """The market clock every simulator shares (mix in before the server class).

    With ``autostep`` one task calls ``_tick()`` every ``interval`` seconds; ``await step(n)`` ticks by hand
    (deterministic tests), ``pause()`` / ``resume()`` stop and restart the clock's ticks. ``on_beat()`` runs on
    every beat, paused or not (venues whose heartbeats go on while the market is quiet). Event times follow the
    wall clock unless ``start_time_ms`` pins them to ``start + steps * interval``.
    """

    interval: float
    autostep: bool
    start_time_ms: int | None = None
    _steps: int = 0
    _paused: bool = False
    _clock: asyncio.Task[None] | None = None

    def _tick(self) -> None:
        raise NotImplementedError

    def on_beat(self) -> None:
        """Called on every clock beat, even while paused."""

    async def start(self) -> None:
        await super().start()  # type: ignore[misc]
        if self.autostep and self._clock is None:
            self._clock = asyncio.get_running_loop().create_task(self._run_clock())

    async def stop(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock
            self._clock = None
        await super().stop()  # type: ignore[misc]

    async def step(self, n: int = 1) -> None:
        """Advance every symbol ``n`` steps now and queue the frames (also works while the clock runs)."""
        for _ in range(n):
            self._tick()

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    async def _run_clock(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            deadline += self.interval
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            if not self._paused:
                self._tick()
            self.on_beat()
            if loop.time() - deadline > 1.0:
                deadline = loop.time()  # after a long hiccup, resume the cadence instead of bursting

    def _event_time(self) -> int:
        if self.start_time_ms is not None:
            return self.start_time_ms + round(self._steps * self.interval * 1000)
        return time.time_ns() // 1_000_000
