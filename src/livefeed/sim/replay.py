"""``BinanceReplay``: serve a real recorded Binance spot session back, frame for frame, with its REST snapshot.

A capture is the strongest test of an adapter (real ids, real gaps in nothing, real interleaving), but only if
the client sees what the recorder saw. The recording holds the REST ``/api/v3/depth`` body at the moment it was
fetched, so frames recorded after it are held back until the client has fetched the snapshot too; a client that
follows Binance's procedure then sees the same buffer/snapshot interleaving as the recorder.

File format: gzip'd lines ``<receive time ns> <raw JSON>``; JSON is a combined-stream frame, or the depth snapshot.
The path is always given (there is no default file); the tests replay the capture in ``tests/data/recorded/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from dataclasses import dataclass
from pathlib import Path

import orjson
from websockets.http11 import Response

from . import wire
from .market import DEFAULT_SPECS
from .server import BinanceServer
from .session import Session

__all__ = ["RecordedFrame", "Recording", "load_recording", "BinanceReplay"]

_STREAM_PREFIX = b'{"stream":"'


@dataclass(frozen=True, slots=True)
class RecordedFrame:
    """One received frame: ``raw`` is the combined frame exactly as recorded, ``data`` its inner payload bytes."""

    received_ns: int
    stream: str
    raw: bytes
    data: bytes


@dataclass(frozen=True, slots=True)
class Recording:
    frames: list[RecordedFrame]
    snapshot: bytes
    snapshot_index: int
    """How many frames were received before the snapshot was fetched."""
    symbol: str


def load_recording(path: str | Path) -> Recording:
    frames: list[RecordedFrame] = []
    snapshot: bytes | None = None
    snapshot_index = 0
    symbol = ""
    for line in gzip.decompress(Path(path).read_bytes()).splitlines():
        stamp, _, raw = line.partition(b" ")
        if not raw:
            continue
        if raw.startswith(b'{"lastUpdateId"'):
            snapshot, snapshot_index = raw, len(frames)
            continue
        # Byte slicing, not a JSON parse per line: the recorder's framing is fixed and loading stays fast.
        if not raw.startswith(_STREAM_PREFIX):
            raise ValueError(f"{path}: frame {len(frames)} is neither a combined-stream frame nor a snapshot")
        stream = raw[len(_STREAM_PREFIX) : raw.index(b'"', len(_STREAM_PREFIX))].decode()
        start = raw.index(b'"data":') + len(b'"data":')
        if not symbol:
            symbol = orjson.loads(raw)["data"].get("s", "")
        frames.append(RecordedFrame(int(stamp), stream, raw, raw[start:-1]))
    if snapshot is None:
        raise ValueError(f"{path}: no /api/v3/depth snapshot line in the recording")
    return Recording(frames, snapshot, snapshot_index, symbol or "BTCUSDT")


class BinanceReplay(BinanceServer):
    """Replays a recording to every client that connects, with Binance's URLs, REST snapshot and exchangeInfo.

    ``speed=None`` sends as fast as the client reads; ``speed=2.0`` keeps the recorded spacing at twice the pace.
    A client on ``/stream`` without streams starts receiving after its first SUBSCRIBE; frames of streams it did
    not subscribe to are skipped. ``hold_for_snapshot=False`` streams straight through. ``done`` is set once a
    client has been sent every frame it subscribed to.
    """

    def __init__(
        self,
        path: str | Path | Recording,
        speed: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 60.0,
        *,
        send_queue: int = 256,
        hold_for_snapshot: bool = True,
    ) -> None:
        super().__init__(host, port, ping_interval, ping_timeout, send_queue)
        # An already loaded Recording is accepted so many servers (tests) can share one parse of the file.
        self.recording = path if isinstance(path, Recording) else load_recording(path)
        self.speed = speed
        self.frames_sent = 0
        self.done = asyncio.Event()
        self.snapshot_fetched = asyncio.Event()
        if not hold_for_snapshot:
            self.snapshot_fetched.set()
        self._replays: dict[Session, asyncio.Task[None]] = {}

    @property
    def snapshot_last_update_id(self) -> int:
        return orjson.loads(self.recording.snapshot)["lastUpdateId"]

    async def stop(self) -> None:
        for task in list(self._replays.values()):
            task.cancel()
        await super().stop()

    # -- sessions ------------------------------------------------------------------------------------------------
    def session_opened(self, session: Session) -> None:
        if session.subscriptions:
            self._start(session)

    def session_subscribed(self, session: Session) -> None:
        if session.subscriptions:
            self._start(session)

    async def session_closed(self, session: Session) -> None:
        task = self._replays.pop(session, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _start(self, session: Session) -> None:
        if session not in self._replays:
            self._replays[session] = asyncio.get_running_loop().create_task(self._replay(session))

    async def _replay(self, session: Session) -> None:
        loop = asyncio.get_running_loop()
        frames = self.recording.frames
        origin_ns = frames[0].received_ns if frames else 0
        started = loop.time()
        for index, frame in enumerate(frames):
            if index == self.recording.snapshot_index and not self.snapshot_fetched.is_set():
                waited_from = loop.time()
                await self.snapshot_fetched.wait()
                started += loop.time() - waited_from  # the hold-back is not part of the recorded pacing
            if self.speed:
                due = started + (frame.received_ns - origin_ns) / 1e9 / self.speed
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            if frame.stream in session.subscriptions:
                await session.put(frame.raw if session.combined else frame.data)
                self.frames_sent += 1
        await session.drain()
        self.done.set()

    # -- REST ----------------------------------------------------------------------------------------------------
    def handle_rest(self, path: str, params: dict[str, str]) -> Response:
        symbol = params.get("symbol", "")
        if path == "/api/v3/depth":
            if not symbol:
                return wire.rest_error(*wire.MISSING_SYMBOL)
            if symbol != self.recording.symbol:
                return wire.rest_error(*wire.INVALID_SYMBOL)
            self.snapshot_fetched.set()
            return self._snapshot(params.get("limit", "100"))
        if path == "/api/v3/exchangeInfo":
            if symbol and symbol != self.recording.symbol:
                return wire.rest_error(*wire.INVALID_SYMBOL)
            specs = [s for s in DEFAULT_SPECS.values() if s.venue_symbol == self.recording.symbol]
            server_time = self.recording.frames[0].received_ns // 1_000_000 if self.recording.frames else 0
            return wire.json_response(200, wire.exchange_info(specs, server_time))
        if path == "/api/v3/ping":
            return wire.json_response(200, {})
        return wire.json_response(404, {"code": -1, "msg": "Not found."})

    def _snapshot(self, raw_limit: str) -> Response:
        """The recorded body byte for byte, or cut to ``limit`` levels when the client asked for fewer."""
        if not raw_limit.isdigit():
            return wire.rest_error(*wire.BAD_LIMIT)
        limit = min(max(int(raw_limit), 1), 5000)
        body = orjson.loads(self.recording.snapshot)
        if limit >= max(len(body["bids"]), len(body["asks"])):
            return wire.json_response(200, self.recording.snapshot)
        return wire.json_response(200, wire.partial_depth(body, limit))
