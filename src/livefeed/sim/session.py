"""One Binance client session: its subscriptions and Binance's control messages, replies and limits.

The queueing, sending and fault plumbing is the shared :class:`~livefeed.sim.base.SimSession`; this adds what is
Binance's own: ``SUBSCRIBE`` / ``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS`` / ``SET_PROPERTY`` / ``GET_PROPERTY``, the
combined-stream envelope, 5 incoming messages per second and 1024 streams per connection.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from websockets.asyncio.server import ServerConnection

from . import wire
from .base import SimSession
from .faults import Faults

__all__ = ["Session", "MAX_MESSAGES_PER_SECOND"]

MAX_MESSAGES_PER_SECOND = 5
_METHODS = "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"


class Session(SimSession):
    """A Binance client: the streams it follows and whether it wants the combined envelope."""

    max_messages_per_second = MAX_MESSAGES_PER_SECOND

    def __init__(
        self,
        ws: ServerConnection,
        combined: bool,
        streams: list[str],
        faults: Faults,
        queue_size: int,
        on_subscribe: Callable[[Session], None] | None = None,
    ) -> None:
        super().__init__(ws, faults, queue_size)
        self.combined = combined
        self.subscriptions: dict[str, wire.StreamName] = {}
        for name in streams:
            parsed = wire.parse_stream(name)
            if parsed is not None:
                self.subscriptions[name] = parsed
        self._on_subscribe = on_subscribe

    def send_stream(self, stream: str, payload: bytes) -> None:
        """Queue one stream event, wrapped in the combined envelope if this session is combined."""
        if self.combined:
            payload = b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"
        self.push(payload)

    def handle(self, message: str | bytes) -> None:
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError as exc:
            self._reply(wire.error_reply(3, f"Invalid JSON: {exc}"))
            return
        if not isinstance(request, dict):
            self._reply(wire.error_reply(2, "Invalid request: expected a JSON object"))
            return
        request_id = request.get("id")
        if not _valid_id(request_id):
            self._reply(wire.error_reply(2, "Invalid request: invalid request ID"))
            return
        method, params = request.get("method"), request.get("params", [])
        handler = {
            "SUBSCRIBE": self._subscribe,
            "UNSUBSCRIBE": self._unsubscribe,
            "LIST_SUBSCRIPTIONS": self._list,
            "SET_PROPERTY": self._set_property,
            "GET_PROPERTY": self._get_property,
        }.get(method)  # type: ignore[arg-type]
        if handler is None:
            msg = f"Invalid request: unknown variant `{method}`, expected one of {_METHODS}"
            self._reply(wire.error_reply(2, msg, request_id))
            return
        if not isinstance(params, list):
            msg = "Invalid request: invalid type for `params`, expected a sequence"
            self._reply(wire.error_reply(2, msg, request_id))
            return
        self._reply(handler(params, request_id))
        if method == "SUBSCRIBE" and self._on_subscribe is not None:
            self._on_subscribe(self)

    def _reply(self, body: dict) -> None:
        self.push(orjson.dumps(body))

    def _subscribe(self, params: list, request_id: object) -> dict:
        parsed = [wire.parse_stream(p) if isinstance(p, str) else None for p in params]
        if any(p is None for p in parsed):
            return wire.error_reply(2, "Invalid request: invalid stream", request_id)
        if len(self.subscriptions.keys() | set(params)) > wire.MAX_STREAMS:
            return wire.error_reply(2, wire.TOO_MANY_STREAMS, request_id)
        for stream in parsed:
            assert stream is not None
            self.subscriptions.setdefault(stream.name, stream)
        return wire.reply(None, request_id)

    def _unsubscribe(self, params: list, request_id: object) -> dict:
        if not all(isinstance(p, str) and wire.parse_stream(p) for p in params):
            return wire.error_reply(2, "Invalid request: invalid stream", request_id)
        for name in params:
            self.subscriptions.pop(name, None)
        return wire.reply(None, request_id)

    def _list(self, params: list, request_id: object) -> dict:
        return wire.reply(list(self.subscriptions), request_id)

    def _set_property(self, params: list, request_id: object) -> dict:
        if len(params) != 2 or params[0] != "combined":
            return wire.error_reply(0, "Unknown property", request_id)
        if not isinstance(params[1], bool):
            return wire.error_reply(1, "Invalid value type: expected Boolean", request_id)
        self.combined = params[1]
        return wire.reply(None, request_id)

    def _get_property(self, params: list, request_id: object) -> dict:
        if params != ["combined"]:
            return wire.error_reply(0, "Unknown property", request_id)
        return wire.reply(self.combined, request_id)


def _valid_id(request_id: object) -> bool:
    """Binance accepts an int64, an alphanumeric string of up to 36 characters, or null."""
    if request_id is None:
        return True
    if isinstance(request_id, bool):
        return False
    if isinstance(request_id, int):
        return -(2**63) <= request_id < 2**63
    return isinstance(request_id, str) and len(request_id) <= 36 and request_id.isalnum()
