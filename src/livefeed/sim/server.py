"""One loopback port that answers both Binance's REST calls and its WebSocket streams.

The base the simulator and the replay server share: Binance's WebSocket routes (``/ws/<stream>``,
``/stream?streams=...``) on top of the venue-neutral :class:`~livefeed.sim.base.SimServer`.
"""

from __future__ import annotations

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

from . import wire
from .base import SimServer
from .session import Session

__all__ = ["BinanceServer"]


class BinanceServer(SimServer):
    """Binance's WebSocket routes and sessions; subclasses provide REST bodies and what to stream."""

    sessions: list[Session]  # type: ignore[assignment]

    def route_ws(self, path: str) -> tuple[bool, list[str]] | Response:
        route = wire.parse_ws_path(path)
        if route is None:
            return wire.json_response(404, {"code": -1, "msg": "Not found."})
        streams = route[1]
        if any(wire.parse_stream(s) is None for s in streams):
            return wire.json_response(400, {"code": 2, "msg": "Invalid request: invalid stream"})
        if len(set(streams)) > wire.MAX_STREAMS:
            return wire.json_response(400, {"code": 2, "msg": wire.TOO_MANY_STREAMS})
        return route

    def new_session(self, ws: ServerConnection, route: tuple[bool, list[str]]) -> Session:
        combined, streams = route
        return Session(ws, combined, streams, self.faults, self.send_queue, self.session_subscribed)
