"""One loopback port that answers both Binance's REST calls and its WebSocket streams.

The base the simulator and the replay server share: lifecycle (``start`` / ``stop`` / ``async with``), routing
of plain HTTP requests to ``handle_rest`` inside websockets' ``process_request``, the session registry that
``connections`` and ``wait_for_connections`` read, and the connection-level faults.
"""

from __future__ import annotations

import asyncio
import http
import time
from collections import Counter
from collections.abc import Callable
from typing import Self
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from . import wire
from .faults import Faults
from .session import Session

__all__ = ["BinanceServer"]


class BinanceServer:
    """Serves REST and WebSocket on one port; subclasses provide REST bodies and what to stream."""

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
        self.sessions: list[Session] = []
        self._server: Server | None = None
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    # -- lifecycle -----------------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._server is not None:
            return
        self._server = await serve(
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
        if self._server is None:
            return
        server, self._server = self._server, None
        self.faults.set_stalled(False)
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
            raise RuntimeError("the server is not running; call start() or use 'async with'")
        return self._server.sockets[0].getsockname()[1]

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

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

    def session_opened(self, session: Session) -> None:
        """Called once a session is registered (its URL streams already subscribed)."""

    def session_subscribed(self, session: Session) -> None:
        """Called after each live SUBSCRIBE."""

    async def session_closed(self, session: Session) -> None:
        """Called when a session ends, before it leaves ``sessions``; must leave no task behind."""

    # -- websockets callbacks ------------------------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path.startswith("/api/"):
            response = self.handle_rest(path, wire.query_params(request.path))
            self.rest_requests[path] += 1
            self._notify()
            response.headers["Date"] = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
            return response
        route = wire.parse_ws_path(request.path)
        if route is None:
            return wire.json_response(404, {"code": -1, "msg": "Not found."})
        if self.faults.refusing(asyncio.get_running_loop().time()):
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "Service Unavailable\n")
        streams = route[1]
        if any(wire.parse_stream(s) is None for s in streams):
            return wire.json_response(400, {"code": 2, "msg": "Invalid request: invalid stream"})
        if len(set(streams)) > wire.MAX_STREAMS:
            return wire.json_response(400, {"code": 2, "msg": wire.TOO_MANY_STREAMS})
        connection.livefeed_route = route  # type: ignore[attr-defined]
        return None

    async def _handle_connection(self, ws: ServerConnection) -> None:
        combined, streams = ws.livefeed_route  # type: ignore[attr-defined]
        session = Session(ws, combined, streams, self.faults, self.send_queue, self.session_subscribed)
        self.sessions.append(session)
        self.session_opened(session)
        self._notify()
        try:
            await session.run()
        finally:
            await self.session_closed(session)
            self.sessions.remove(session)
            self._notify()
