"""Serve a raw capture (:mod:`livefeed.sinks.raw_capture`) again, so the real adapters rebuild the same books.

One loopback port answers both sides the way the venue did: WebSocket clients receive the captured frames of one
captured connection each (assigned in the order the captured connections first spoke, to clients in the order
they connect), and plain HTTP requests get the captured REST bodies for the same path and query, in the order
they were captured. Frames captured *after* a REST response that arrived mid-stream (a book snapshot) are held
back until the client has fetched that response too, so a client following the venue's book procedure sees the
same buffer/snapshot interleaving as the recorder did: its books come out bit-for-bit the same.

``speed=None`` sends as fast as the client reads; ``speed=1.0`` keeps the captured spacing, ``10.0`` is ten times
faster. Client messages (subscribes) are read and ignored: the capture already holds the venue's replies.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import http
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import zstandard
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .errors import CaptureFormatError
from .sim.base import LoopbackServer
from .sinks.raw_capture import RawRecord, read_capture

__all__ = ["CaptureReplay", "ReplayStream", "checked_records"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
"""A connection or venue name as ``RawCapture`` writes them (``binance-0``, ``okx``): a plain name."""


@dataclass(slots=True)
class ReplayStream:
    """The frames of one captured connection, with their position in the whole capture."""

    name: str
    frames: list[tuple[int, int, str | bytes]] = field(default_factory=list)  # (index, receipt_ns, frame)


def checked_records(records: Iterable[RawRecord], origin: object) -> Iterator[RawRecord]:
    """``records``, each checked to be what ``RawCapture`` writes; anything else raises ``CaptureFormatError``
    naming the record, instead of a decoder's traceback or a hostile name reaching the server's state."""
    good = 0
    try:
        for record in records:
            _check_record(record)
            good += 1
            yield record
    except CaptureFormatError:
        raise
    except (zstandard.ZstdError, orjson.JSONDecodeError, binascii.Error, KeyError, TypeError, ValueError) as exc:
        raise CaptureFormatError(f"{origin}: not a livefeed capture (record {good + 1}: {type(exc).__name__}: "
                                 f"{str(exc)[:200]})") from None


def _check_record(record: RawRecord) -> None:
    if not isinstance(record.receipt_ns, int) or not isinstance(record.source, str):
        raise ValueError(f"receipt time {record.receipt_ns!r} or source {record.source!r} has the wrong type")
    if not isinstance(record.frame, str | bytes):
        raise ValueError(f"frame of {record.source!r} is not text or bytes")
    if record.is_rest:
        venue, _, rest = record.source.partition(":rest ")
        status, _, target = rest.partition(" ")
        if not _NAME.fullmatch(venue) or not status.isdigit() or not 100 <= int(status) <= 599:
            raise ValueError(f"REST source {record.source[:120]!r} is not '<venue>:rest <status> <path>'")
        if not target.startswith("/"):
            raise ValueError(f"REST path {target[:120]!r} does not start with '/'")
    elif not _NAME.fullmatch(record.source):
        raise ValueError(f"connection name {record.source[:120]!r} is not a plain name")


@dataclass(slots=True)
class _RestReply:
    index: int
    status: int
    body: bytes
    served: bool = False


class CaptureReplay(LoopbackServer):
    """``async with CaptureReplay("captures/") as replay: Feed(..., endpoints={"binance": replay})``.

    ``hold=False`` streams without waiting for mid-stream REST fetches. ``done`` is set once every captured
    connection has been sent in full; ``frames_sent`` counts frames.
    """

    def __init__(
        self,
        capture: str | Path | Iterable[RawRecord],
        speed: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        hold: bool = True,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be positive (or None for as fast as possible), got {speed!r}")
        records = checked_records(read_capture(capture) if isinstance(capture, str | Path) else capture, capture)
        self.speed = speed
        self.host = host
        self._requested_port = port
        self.hold = hold
        self.streams: list[ReplayStream] = []
        self._rest: dict[str, deque[_RestReply]] = {}
        self._rest_by_path: dict[str, deque[_RestReply]] = {}
        self._rest_all: list[_RestReply] = []
        by_name: dict[str, ReplayStream] = {}
        for index, record in enumerate(records):
            if record.is_rest:
                _, _, rest = record.source.partition(":rest ")
                status, _, target = rest.partition(" ")
                body = record.frame if isinstance(record.frame, bytes) else record.frame.encode()
                reply = _RestReply(index, int(status), body)  # checked_records made sure this is a status code
                self._rest.setdefault(target, deque()).append(reply)
                self._rest_by_path.setdefault(urlsplit(target).path, deque()).append(reply)
                self._rest_all.append(reply)
            else:
                stream = by_name.get(record.source)
                if stream is None:
                    stream = by_name[record.source] = ReplayStream(record.source)
                    self.streams.append(stream)
                stream.frames.append((index, record.receipt_ns, record.frame))
        if not self.streams:
            raise ValueError("the capture holds no WebSocket frames to replay")
        self.frames_sent = 0
        self.done = asyncio.Event()
        self._next_stream = 0
        self._finished = 0
        self._served = asyncio.Event()
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -----------------------------------------------------------------------------------------------
    async def _serve(self) -> Server:
        return await serve(self._handle, self.host, self._requested_port,
                           process_request=self._process_request, max_size=2**24)

    @property
    def total_frames(self) -> int:
        return sum(len(s.frames) for s in self.streams)

    # -- REST ------------------------------------------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        queue = self._rest.get(request.path) or self._rest_by_path.get(urlsplit(request.path).path)
        if not queue:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "not in the capture\n")
        reply = queue[0]
        if len(queue) > 1:  # the last captured reply keeps answering repeats
            queue.popleft()
        reply.served = True
        self._served.set()
        headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(reply.body)))])
        return Response(reply.status, http.HTTPStatus(reply.status).phrase, headers, reply.body)

    # -- WebSocket -------------------------------------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        if self._next_stream >= len(self.streams):
            await ws.close(1013, "every captured connection is already being replayed")
            return
        stream = self.streams[self._next_stream]
        self._next_stream += 1
        reader = asyncio.create_task(self._discard_incoming(ws))
        try:
            await self._send(ws, stream)
            self._finished += 1
            if self._finished == len(self.streams):
                self.done.set()
            await ws.wait_closed()
        except ConnectionClosed:
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    @staticmethod
    async def _discard_incoming(ws: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for _ in ws:
                pass

    async def _send(self, ws: ServerConnection, stream: ReplayStream) -> None:
        loop = asyncio.get_running_loop()
        first_index = stream.frames[0][0]
        # REST replies captured while this connection was streaming, oldest first: frames after them wait.
        holds = deque(r for r in self._rest_all if r.index > first_index) if self.hold else deque()
        origin_ns = stream.frames[0][1]
        started = loop.time()
        for index, receipt_ns, frame in stream.frames:
            while holds and holds[0].index < index:
                if not holds[0].served:
                    waited_from = loop.time()
                    while not holds[0].served:
                        self._served.clear()
                        await self._served.wait()
                    started += loop.time() - waited_from  # the hold is not part of the captured pacing
                holds.popleft()
            if self.speed is not None:
                delay = started + (receipt_ns - origin_ns) / 1e9 / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            await ws.send(frame)
            self.frames_sent += 1
