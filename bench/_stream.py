"""The throughput bench's seeded Binance depth stream and the loopback server that replays it.

:func:`make_stream` builds one Binance spot ``btcusdt@depth@100ms`` diff stream (combined-stream frames, padded
price/quantity strings, ``U`` = previous ``u`` + 1) on an integer tick grid, so the true book after the last frame
is known exactly. :func:`start_server` forks a process that serves it on 127.0.0.1 with the ``websockets`` library:

* ``/stream`` (WebSocket): the diff stream starts after a ``SUBSCRIBE`` request (livefeed, seed), or at once when
  the streams are named in the URL as ``/stream?streams=...`` (cryptofeed).
* ``/api/v3/depth`` and ``/api/v3/exchangeInfo`` (plain HTTP): the REST snapshot at ``lastUpdateId`` = first
  ``U`` - 1, and a one-symbol exchange listing.
* ``/bench/expected`` and ``/bench/started``: the true final book, and the ``time.monotonic()`` instant the latest
  stream's first frame was written (CLOCK_MONOTONIC is system-wide, so clients in other processes can use it).

The server writes pre-encoded WebSocket frames, so its per-message cost is nil and it never shares a GIL with the
client it feeds. ``mode="bulk"`` (the default) writes them in 256 KiB batches under the transport's flow control;
``mode="paced"`` writes one frame per ``write`` and yields to the loop after each, like a live exchange (with
``rate``: frame ``i`` is written at ``started + i / rate``, in 1 ms steps);
``mode="burst"`` writes the whole stream in one ``write`` (the kernel and the transport buffer it all).
:func:`load_stream` caches generated streams under ``.bench/`` (generating 100,000 messages takes half a minute).
Only the standard library and ``websockets`` are imported, so
the cryptofeed client can use this module from its own virtualenv.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import pickle
import random
import struct
import time
from bisect import insort
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

__all__ = ["STREAM_NAME", "SYMBOL", "MODES", "Stream", "make_stream", "load_stream", "start_server", "encode_frames"]

SYMBOL = "BTCUSDT"
STREAM_NAME = "btcusdt@depth@100ms"
MID_CENTS = 6_100_000  # 61,000.00 USDT: bids sit below it, asks above, so the book is never crossed
QTY_STEP = 100_000  # quantities in units of 0.00001 BTC, Binance's BTCUSDT lot step
FIRST_UPDATE_ID = 50_000_000_001
FIRST_EVENT_MS = 1_717_200_000_000
BATCH_BYTES = 256 * 1024
MODES = ("bulk", "paced", "burst")
CACHE = Path(__file__).resolve().parent.parent / ".bench"


@dataclass(slots=True)
class Stream:
    """Everything the server replays and the clients are checked against."""

    frames: list[bytes]
    snapshot_bids: list[str]  # '["price","qty"]' JSON pairs, best first
    snapshot_asks: list[str]
    first_update_id: int
    last_update_id: int
    final_bids: dict[str, str] = field(default_factory=dict)  # price string -> quantity string
    final_asks: dict[str, str] = field(default_factory=dict)

    def snapshot_body(self, limit: int) -> bytes:
        bids, asks = ",".join(self.snapshot_bids[:limit]), ",".join(self.snapshot_asks[:limit])
        return f'{{"lastUpdateId":{self.first_update_id - 1},"bids":[{bids}],"asks":[{asks}]}}'.encode()

    def expected_body(self) -> bytes:
        return json.dumps({
            "messages": len(self.frames),
            "last_update_id": self.last_update_id,
            "bids": sorted(self.final_bids.items(), key=lambda kv: -float(kv[0])),
            "asks": sorted(self.final_asks.items(), key=lambda kv: float(kv[0])),
        }).encode()


# -- the seeded stream ---------------------------------------------------------------------------------------------


class _Side:
    """One side of the generator's book on a grid of ``2 * levels`` tick slots (slot 1 is next to mid)."""

    def __init__(self, rng: random.Random, levels: int, sign: int) -> None:
        slots = range(1, 2 * levels + 1)
        self.occupied = sorted(rng.sample(slots, levels))
        taken = set(self.occupied)
        self.free = [s for s in slots if s not in taken]
        self.sizes = {s: rng.randint(1, 5 * QTY_STEP) for s in self.occupied}
        self.target = levels
        self.prices = [_price(MID_CENTS + sign * s) for s in range(2 * levels + 1)]

    def levels(self) -> list[str]:
        return [_pair(self.prices[s], _qty(self.sizes[s])) for s in self.occupied]

    def final(self) -> dict[str, str]:
        return {self.prices[s]: _qty(q) for s, q in self.sizes.items()}


def _price(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}000000"


def _qty(units: int) -> str:
    return f"{units // QTY_STEP}.{units % QTY_STEP:05d}000"


def _pair(price: str, qty: str) -> str:
    return f'["{price}","{qty}"]'


def _rank(rng: random.Random, n: int, mean: float) -> int:
    """A rank in ``[0, n)`` biased to the top of the book."""
    return min(int(rng.expovariate(1.0 / mean)), n - 1)


def _change(rng: random.Random, side: _Side, seen: set[int]) -> str | None:
    """One level change on ``side`` (~70% size change, ~30% insert or removal), or None for a repeat price.

    Inserts and removals alternate around the target depth, so the book keeps ``levels`` levels (+-1) per side.
    """
    occupied, free, sizes = side.occupied, side.free, side.sizes
    draw = rng.random()
    grow = len(occupied) < side.target or (len(occupied) == side.target and draw < 0.15)
    if draw < 0.30 and grow and free:
        index = _rank(rng, len(free), 40.0)
        slot, qty = free[index], rng.randint(1, 5 * QTY_STEP)
    elif draw < 0.30 and len(occupied) > 1:
        index = _rank(rng, len(occupied), 40.0)
        slot, qty = occupied[index], 0
    else:
        index = _rank(rng, len(occupied), 25.0)
        slot, qty = occupied[index], rng.randint(1, 5 * QTY_STEP)
    if slot in seen:
        return None  # Binance sends one entry per price per event
    seen.add(slot)
    if qty and slot not in sizes:
        del free[index]
        insort(occupied, slot)
    elif not qty:
        del occupied[index]
        insort(free, slot)
    if qty:
        sizes[slot] = qty
    else:
        del sizes[slot]
    return _pair(side.prices[slot], _qty(qty))


def make_stream(messages: int = 100_000, levels: int = 1_000, seed: int = 20240601) -> Stream:
    """``messages`` depth diffs of 1-40 level changes each over a ``levels``-deep book per side."""
    rng = random.Random(seed)
    bids, asks = _Side(rng, levels, -1), _Side(rng, levels, +1)
    stream = Stream([], bids.levels(), asks.levels(), FIRST_UPDATE_ID, FIRST_UPDATE_ID - 1)
    for i in range(messages):
        changes: tuple[list[str], list[str]] = ([], [])
        seen: tuple[set[int], set[int]] = (set(), set())
        for _ in range(rng.randint(1, 40)):
            which = 0 if rng.random() < 0.5 else 1
            pair = _change(rng, bids if which == 0 else asks, seen[which])
            if pair is not None:
                changes[which].append(pair)
        first = stream.last_update_id + 1
        stream.last_update_id = first + len(changes[0]) + len(changes[1]) - 1
        stream.frames.append(
            f'{{"stream":"{STREAM_NAME}","data":{{"e":"depthUpdate","E":{FIRST_EVENT_MS + 100 * i},'
            f'"s":"{SYMBOL}","U":{first},"u":{stream.last_update_id},'
            f'"b":[{",".join(changes[0])}],"a":[{",".join(changes[1])}]}}}}'.encode()
        )
    stream.final_bids, stream.final_asks = bids.final(), asks.final()
    return stream


def load_stream(messages: int = 100_000, levels: int = 1_000, seed: int = 20240601) -> Stream:
    """:func:`make_stream`, cached in ``.bench/`` (git-ignored) by its arguments."""
    path = CACHE / f"stream-{messages}-{levels}-{seed}.pickle"
    try:
        with path.open("rb") as file:
            stream: Stream = pickle.load(file)
        return stream
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
        pass
    stream = make_stream(messages, levels, seed)
    CACHE.mkdir(exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as file:
        pickle.dump(stream, file, protocol=pickle.HIGHEST_PROTOCOL)
    partial.replace(path)
    return stream


# -- the loopback server -------------------------------------------------------------------------------------------


def encode_frames(payloads: list[bytes], batch_bytes: int = BATCH_BYTES) -> list[bytes]:
    """Unmasked server-to-client text frames (RFC 6455), concatenated into blobs of about ``batch_bytes``."""
    blobs: list[bytes] = []
    batch: list[bytes] = []
    size = 0
    for payload in payloads:
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x81, n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x81, 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 127, n)
        batch += (header, payload)
        size += len(header) + n
        if size >= batch_bytes:
            blobs.append(b"".join(batch))
            batch, size = [], 0
    if batch:
        blobs.append(b"".join(batch))
    return blobs


class _Replay:
    """Server state: the stream, its encoded frames, and when the latest replay started and ended."""

    def __init__(self, stream: Stream, mode: str = "bulk", rate: float | None = None) -> None:
        self.stream = stream
        self.mode = mode
        self.rate = rate
        if mode == "paced":
            self.blobs = encode_frames(stream.frames, batch_bytes=1)
        elif mode == "burst":
            self.blobs = [b"".join(encode_frames(stream.frames))]
        else:
            self.blobs = encode_frames(stream.frames)
        self.expected = stream.expected_body()
        self.exchange_info = json.dumps({"symbols": [{
            "symbol": SYMBOL, "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT",
            "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.01000000"}],
        }]}).encode()
        self.started = float("nan")
        self.finished = float("nan")

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path == "/stream":
            return None
        query = parse_qs(url.query)
        if url.path == "/api/v3/depth":
            body = self.stream.snapshot_body(int(query.get("limit", ["100"])[0]))
        elif url.path == "/api/v3/exchangeInfo":
            body = self.exchange_info
        elif url.path == "/bench/expected":
            body = self.expected
        elif url.path == "/bench/started":
            body = json.dumps({"started": self.started, "finished": self.finished}).encode()
        else:
            return connection.respond(404, f"no route {url.path}\n")
        response = connection.respond(200, "")
        del response.headers["Content-Type"], response.headers["Content-Length"]
        response.headers["Content-Type"] = "application/json"
        response.headers["Content-Length"] = str(len(body))
        response.body = body
        return response

    async def handle(self, ws: ServerConnection) -> None:
        if "streams=" not in (ws.request.path if ws.request else ""):
            await self._await_subscribe(ws)
        await self._replay(ws)
        await ws.wait_closed()

    async def _await_subscribe(self, ws: ServerConnection) -> None:
        while True:
            request = json.loads(await ws.recv())
            if request.get("method") == "SUBSCRIBE":
                await ws.send(json.dumps({"result": None, "id": request.get("id")}))
                return

    async def _replay(self, ws: ServerConnection) -> None:
        transport = ws.transport
        self.started = time.monotonic()
        self.finished = float("nan")
        if self.rate is not None:
            await self._replay_at_rate(ws, self.rate)
            return
        for blob in self.blobs:
            transport.write(blob)
            await ws.drain()
            await asyncio.sleep(0)  # let the REST snapshot request in while the kernel buffers still absorb data
        self.finished = time.monotonic()


    async def _replay_at_rate(self, ws: ServerConnection, rate: float) -> None:
        frames, sent, transport = self.blobs, 0, ws.transport
        while sent < len(frames) and not transport.is_closing():
            due = min(len(frames), int((time.monotonic() - self.started) * rate) + 1)
            if due > sent:
                try:
                    transport.write(b"".join(frames[sent:due]))
                    await ws.drain()
                except (RuntimeError, ConnectionError):
                    return  # the client left (a feed stopped mid-stream): nothing more to write
                sent = due
            await asyncio.sleep(0.001)
        self.finished = time.monotonic()


async def _serve(stream: Stream, ports: multiprocessing.Queue[int], mode: str, rate: float | None) -> None:
    replay = _Replay(stream, mode, rate)
    async with serve(
        replay.handle, "127.0.0.1", 0, process_request=replay.process_request, compression=None, max_size=None
    ) as server:
        ports.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()


def _server_main(stream: Stream, ports: multiprocessing.Queue[int], mode: str, rate: float | None) -> None:
    asyncio.run(_serve(stream, ports, mode, rate))


def start_server(stream: Stream, timeout: float = 120.0, mode: str = "bulk", rate: float | None = None,
                 ) -> tuple[multiprocessing.process.BaseProcess, int]:
    """Fork a server process for ``stream`` writing in ``mode`` (see :data:`MODES`; ``rate`` in messages/s implies
    ``paced``); returns it (terminate it when done) and its port."""
    if mode not in MODES:
        raise ValueError(f"server mode must be one of {MODES}, got {mode!r}")
    if rate is not None:
        mode = "paced"
    context = multiprocessing.get_context("fork")  # the child inherits the frames instead of unpickling them
    ports: multiprocessing.Queue[int] = context.Queue()
    process = context.Process(target=_server_main, args=(stream, ports, mode, rate), name="bench-server", daemon=True)
    process.start()
    return process, ports.get(timeout=timeout)
