"""Decoding one Binance depth frame into float levels: orjson + comprehensions against msgspec, same frames.

Every candidate turns the throughput bench's seeded combined-stream frames (``bench/_stream.py``) into the
``depthUpdate`` fields with ``b``/``a`` as lists of ``(price, size)`` float pairs, and is checked equal to
``float(text)`` for every level before anything is timed:

* ``orjson_comprehensions``: ``orjson.loads`` to dicts, then ``[(float(p), float(q)) for p, q in ...]`` per side
  (livefeed before this change; still the path of every frame that is not a Binance depth diff).
* ``msgspec_one_pass``: ``msgspec.json.Decoder(Combined, strict=False)``, the depth fields typed inside the
  envelope (``strict=False`` turns numeric strings into floats in C).
* ``msgspec_two_pass``: the envelope with ``data: msgspec.Raw``, then the depth struct from the raw bytes
  (``livefeed.venues.binance.decode_depth``: the stream name routes, so trades never fail a typed decode).
* ``livefeed_decode_depth``: that function itself.

Run: ``.venv/bin/python bench/decoding.py`` (``--messages``, ``--repeat``). Prints CPU microseconds per frame, the
best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

import msgspec
import orjson

from _stream import load_stream
from livefeed.venues.binance import decode_depth

__all__ = ["main"]


class Depth(msgspec.Struct, gc=False):
    e: str
    E: int
    s: str
    U: int
    u: int
    b: list[tuple[float, float]]
    a: list[tuple[float, float]]


class Combined(msgspec.Struct, gc=False):
    stream: str
    data: Depth


class Envelope(msgspec.Struct, gc=False):
    stream: str
    data: msgspec.Raw


def orjson_comprehensions(frame: bytes) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    data = orjson.loads(frame)["data"]
    return [(float(p), float(q)) for p, q in data["b"]], [(float(p), float(q)) for p, q in data["a"]]


_one = msgspec.json.Decoder(Combined, strict=False).decode
_envelope = msgspec.json.Decoder(Envelope).decode
_depth = msgspec.json.Decoder(Depth, strict=False).decode


def msgspec_one_pass(frame: bytes) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    data = _one(frame).data
    return data.b, data.a


def msgspec_two_pass(frame: bytes) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    data = _depth(_envelope(frame).data)
    return data.b, data.a


def livefeed_decode_depth(frame: bytes) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    data = decode_depth(frame)
    return data.b, data.a


CANDIDATES: dict[str, Callable[[bytes], tuple[list[tuple[float, float]], list[tuple[float, float]]]]] = {
    "orjson_comprehensions": orjson_comprehensions, "msgspec_one_pass": msgspec_one_pass,
    "msgspec_two_pass": msgspec_two_pass, "livefeed_decode_depth": livefeed_decode_depth,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    frames = load_stream(args.messages, 1_000, 20240601).frames
    truth = [orjson_comprehensions(f) for f in frames]
    for name, decode in CANDIDATES.items():
        if [decode(f) for f in frames] != truth:
            print(f"{name}: levels differ from float(text)", file=sys.stderr)
            return 1
    for name, decode in CANDIDATES.items():
        best = float("inf")
        for _ in range(args.repeat):
            began = time.process_time()
            for frame in frames:
                decode(frame)
            best = min(best, time.process_time() - began)
        print(f"DECODE {name} us_per_frame={best / len(frames) * 1e6:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
