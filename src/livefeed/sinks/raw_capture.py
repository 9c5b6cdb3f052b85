"""Raw capture: every WebSocket frame and REST body exactly as received, with its receipt time.

Parsed events lose what the exchange actually sent; a raw capture keeps it, so ``livefeed replay`` can serve the
session again and the same adapters rebuild the same books. The feed loop only appends ``(source, frame, ns)`` to
a list (the tap); a writer task hands whole batches to a worker thread that encodes, zstd-compresses (one zstd
frame per batch, so a crash loses at most the last batch) and writes. Files rotate by size and by age.

File format (``*.jsonl.zst``): one JSON object per line, ``{"t": receipt_ns, "c": source, "d": text}`` (or
``"b": base64`` for binary frames). ``source`` is the connection name (``binance-0``) for WebSocket frames and
``"<venue>:rest <status> <path?query>"`` for REST responses.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson
import zstandard

from ..errors import CaptureFormatError
from ..model import Event

__all__ = ["RawCapture", "RawRecord", "read_capture", "capture_files"]

log = logging.getLogger(__name__)

SUFFIX = ".jsonl.zst"
MAX_LINE = 128 * 2**20
"""Longest capture line read (bytes): a 64 MiB frame, base64-encoded, with room to spare; past it the file is
not a capture (e.g. a decompression bomb) and reading stops with ``CaptureFormatError``."""


@dataclass(slots=True, frozen=True)
class RawRecord:
    """One captured frame: ``frame`` is exactly what arrived (``str`` for text frames, ``bytes`` otherwise)."""

    receipt_ns: int
    source: str
    frame: str | bytes

    @property
    def is_rest(self) -> bool:
        return ":rest " in self.source


class RawCapture:
    """A sink that records raw frames; pass it as ``Feed(..., raw_capture=RawCapture("captures/"))``.

    ``rotate_bytes`` / ``rotate_seconds`` start a new file when the current one reaches that compressed size or
    age. At most ``max_buffered`` frames wait for the writer; beyond that new frames are dropped and counted in
    ``dropped`` (a disk that cannot keep up must not grow the process without bound).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        prefix: str = "raw",
        rotate_bytes: int = 256 * 2**20,
        rotate_seconds: float = 3600.0,
        flush_interval: float = 0.5,
        level: int = 3,
        max_buffered: int = 1_000_000,
    ) -> None:
        if rotate_bytes <= 0 or rotate_seconds <= 0 or flush_interval <= 0 or max_buffered <= 0:
            raise ValueError("rotate_bytes, rotate_seconds, flush_interval and max_buffered must be positive")
        self.directory = Path(directory)
        self.prefix = prefix
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.flush_interval = flush_interval
        self.max_buffered = max_buffered
        self.frames = 0
        self.written = 0
        self.dropped = 0
        self.files: list[Path] = []
        self._compressor = zstandard.ZstdCompressor(level=level)
        self._pending: list[tuple[str, str | bytes, int]] = []
        self._file: IO[bytes] | None = None
        self._file_opened = 0.0
        self._file_bytes = 0
        self._wake: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self._stopping = False

    def __repr__(self) -> str:
        return f"<RawCapture {self.directory} frames={self.frames} written={self.written} dropped={self.dropped}>"

    @property
    def queue_depth(self) -> int:
        return len(self._pending)

    # -- the tap (feed loop) --------------------------------------------------------------------------------------
    def tap(self, source: str, frame: str | bytes, receipt_ns: int) -> None:
        """Record one frame; O(1) and non-blocking (``ConnectionOptions.tap``)."""
        pending = self._pending
        self.frames += 1
        if len(pending) >= self.max_buffered:
            self.dropped += 1
            return
        pending.append((source, frame, receipt_ns))
        if len(pending) >= 10_000 and self._wake is not None:
            self._wake.set()

    # -- Sink protocol -------------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._stopping = False
        self._wake = asyncio.Event()
        self._writer = asyncio.create_task(self._run(), name="livefeed-raw-capture")

    def on_event(self, event: Event) -> None:
        """Raw capture works on frames (the tap), not on parsed events."""

    async def stop(self) -> None:
        """Write everything still buffered, then close the file: nothing tapped before ``stop`` is lost."""
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._writer is not None:
            await self._writer
            self._writer = None
        await asyncio.to_thread(self._close_file)

    async def flush(self) -> None:
        """Write what is buffered now (tests and status lines use it)."""
        batch, self._pending = self._pending, []
        if batch:
            await asyncio.to_thread(self._write, batch)

    # -- writer ---------------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except OSError:
                log.exception("raw capture: writing to %s failed", self.directory)
            if self._stopping:
                await self.flush()
                return

    def _write(self, batch: list[tuple[str, str | bytes, int]]) -> None:
        lines = []
        dumps = orjson.dumps
        for source, frame, ns in batch:
            if isinstance(frame, str):
                lines.append(dumps({"t": ns, "c": source, "d": frame}))
            else:
                lines.append(dumps({"t": ns, "c": source, "b": base64.b64encode(frame).decode()}))
        lines.append(b"")
        data = self._compressor.compress(b"\n".join(lines))
        if self._file is not None and (
            self._file_bytes >= self.rotate_bytes or time.monotonic() - self._file_opened >= self.rotate_seconds
        ):
            self._close_file()
        if self._file is None:
            self._open_file(batch[0][2])
        assert self._file is not None
        self._file.write(data)
        self._file.flush()
        self._file_bytes += len(data)
        self.written += len(batch)

    def _open_file(self, first_ns: int) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(first_ns / 1e9))
        path = self.directory / f"{self.prefix}-{stamp}-{len(self.files):04d}{SUFFIX}"
        self._file = path.open("xb")
        self._file_opened = time.monotonic()
        self._file_bytes = 0
        self.files.append(path)

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def capture_files(path: str | Path) -> list[Path]:
    """The capture files at ``path``: the file itself, or every ``*.jsonl.zst`` under a directory, in order."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.rglob(f"*{SUFFIX}"))
        if not files:
            raise FileNotFoundError(f"no {SUFFIX} capture files under {path}")
        return files
    if not path.exists():
        raise FileNotFoundError(f"capture {path} does not exist")
    return [path]


def read_capture(path: str | Path | Iterable[Path], max_line: int = MAX_LINE) -> Iterator[RawRecord]:
    """Every record of a capture (a file, a directory of rotated files, or a list of files) in written order."""
    files = capture_files(path) if isinstance(path, str | Path) else list(path)
    decompressor = zstandard.ZstdDecompressor()
    for file in files:
        with file.open("rb") as fh, decompressor.stream_reader(fh, read_across_frames=True) as reader:
            parts: list[bytes] = []  # the line read so far, in pieces: joined once, never re-copied per chunk
            size = 0
            while chunk := reader.read(1 << 20):
                *lines, rest = chunk.split(b"\n")
                if lines:
                    lines[0] = b"".join([*parts, lines[0]])
                    parts, size = [], 0
                parts.append(rest)
                size += len(rest)
                if size > max_line or any(len(line) > max_line for line in lines):
                    raise CaptureFormatError(f"{file}: a line longer than {max_line:,} bytes: not a livefeed capture")
                for line in lines:
                    if line:
                        yield _record(line)
            last = b"".join(parts)
            if last.strip():
                yield _record(last)


def _record(line: bytes) -> RawRecord:
    obj = orjson.loads(line)
    frame = obj["d"] if "d" in obj else base64.b64decode(obj["b"])
    return RawRecord(obj["t"], obj["c"], frame)
