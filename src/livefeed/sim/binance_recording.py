"""A recorded Binance spot session as raw-capture records, so :class:`~livefeed.replay.CaptureReplay` serves it.

The recording (hftbacktest's format, as in ``tests/data/recorded/``) is gzip'd lines ``<receive time ns> <raw
JSON>``: combined-stream frames of one connection, and the REST ``/api/v3/depth`` body at the moment it was
fetched. ``recording_to_capture`` turns each frame into a record of connection ``binance-0`` (the text exactly as
recorded) and the snapshot into a ``binance:rest 200 /api/v3/depth?...`` record at its place, so the replay holds
the later frames back until the client has fetched the snapshot too: a client that follows Binance's procedure sees
the recorder's buffer/snapshot interleaving, and its book comes out the same.

The recording holds no ``/api/v3/exchangeInfo``; one is put first, listing the recorded symbol with the
simulator's spec for it (``DEFAULT_SPECS``), so a feed's symbol check passes as it would against Binance.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson

from ..sinks.raw_capture import RawRecord
from . import binance_wire
from .specs import DEFAULT_SPECS

__all__ = ["recording_to_capture", "CONNECTION"]

CONNECTION = "binance-0"
"""The connection name the recorded frames get (the name the Binance adapter gives its first connection)."""
_STREAM_PREFIX = b'{"stream":"'
_SNAPSHOT_PREFIX = b'{"lastUpdateId"'


def recording_to_capture(path: str | Path, *, depth_limit: int = 5000) -> list[RawRecord]:
    """Every record of the recording at ``path``, in order: exchangeInfo, frames, the snapshot where it was fetched.

    ``depth_limit`` only names the snapshot's query (``CaptureReplay`` answers any ``/api/v3/depth`` with it).
    A line that is neither a combined-stream frame nor the snapshot, or a recording without a snapshot, raises
    ``ValueError`` naming the line.
    """
    lines: list[tuple[int, bytes]] = []
    for number, line in enumerate(gzip.decompress(Path(path).read_bytes()).splitlines(), 1):
        if not line.strip():
            continue
        stamp, _, raw = line.partition(b" ")
        if not stamp.isdigit():
            raise ValueError(f"{path}: line {number} does not start with a receive time in ns")
        if not raw.startswith((_STREAM_PREFIX, _SNAPSHOT_PREFIX)):
            raise ValueError(f"{path}: line {number} is neither a combined-stream frame nor a depth snapshot")
        lines.append((int(stamp), raw))
    first_frame = next((raw for _, raw in lines if raw.startswith(_STREAM_PREFIX)), None)
    if first_frame is None:
        raise ValueError(f"{path}: no combined-stream frame in the recording")
    if not any(raw.startswith(_SNAPSHOT_PREFIX) for _, raw in lines):
        raise ValueError(f"{path}: no /api/v3/depth snapshot line in the recording")
    symbol = orjson.loads(first_frame)["data"]["s"]
    specs = [s for s in DEFAULT_SPECS.values() if s.venue_symbol == symbol]
    if not specs:
        raise ValueError(f"{path}: recorded symbol {symbol!r} has no simulator spec (DEFAULT_SPECS)")
    info = binance_wire.exchange_info(specs, lines[0][0] // 1_000_000)
    records = [RawRecord(lines[0][0], "binance:rest 200 /api/v3/exchangeInfo", orjson.dumps(info))]
    snapshot_source = f"binance:rest 200 /api/v3/depth?symbol={symbol}&limit={depth_limit}"
    for stamp, raw in lines:
        if raw.startswith(_STREAM_PREFIX):
            records.append(RawRecord(stamp, CONNECTION, raw.decode()))
        else:
            records.append(RawRecord(stamp, snapshot_source, raw))
    return records
