"""One client's WebSocket session: its subscriptions, control messages, limits and its own send queue.

Every session owns a bounded queue and a sender task, so the market only ever does a non-blocking put: a slow
reader costs only itself, and when its queue overflows it is closed with 1008 the way an exchange drops a slow
consumer. Control messages follow Binance's replies and limits (5 incoming messages per second, 1024 streams).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Callable

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from . import wire
from .faults import Faults

__all__ = ["Session", "MAX_MESSAGES_PER_SECOND"]

MAX_MESSAGES_PER_SECOND = 5
_METHODS = "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"


class Session:
    """State and tasks of one connected client; the server creates it after the handshake and awaits ``run()``."""

    def __init__(
        self,
        ws: ServerConnection,
        combined: bool,
        streams: list[str],
        faults: Faults,
        queue_size: int,
        on_subscribe: Callable[[Session], None] | None = None,
    ) -> None:
        self.ws = ws
        self.combined = combined
        self.faults = faults
        self.subscriptions: dict[str, wire.StreamName] = {}
        for name in streams:
            parsed = wire.parse_stream(name)
            if parsed is not None:
                self.subscriptions[name] = parsed
        self.frames_sent = 0
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=queue_size)
        self._on_subscribe = on_subscribe
        self._received: collections.deque[float] = collections.deque()
        self._sender: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    @property
    def open(self) -> bool:
        return self._closer is None

    # -- outgoing ------------------------------------------------------------------------------------------------
    def send_stream(self, stream: str, payload: bytes) -> None:
        """Queue one stream event, wrapped in the combined envelope if this session is combined."""
        if self.combined:
            payload = b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"
        self.push(payload)

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
            await self.ws.send(faults.garble(frame), text=True)
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
                self._handle(message)
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
        now = asyncio.get_running_loop().time()
        window = self._received
        window.append(now)
        while window and now - window[0] >= 1.0:
            window.popleft()
        return len(window) <= MAX_MESSAGES_PER_SECOND

    def _handle(self, message: str | bytes) -> None:
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
