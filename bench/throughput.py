"""End-to-end throughput on equal terms: one seeded Binance depth stream, every client, two workloads.

The bench generates a fixed Binance spot ``btcusdt@depth@100ms`` diff stream (see ``bench/_stream.py``), forks a
WebSocket + REST server that writes it pre-encoded (in bulk by default, so the server never caps a client), and
times each client on a fresh connection, from the first frame written to the moment the client's book holds the
last update id. Every client runs both workloads:

* ``book``: keep the local book exact, nothing else.
* ``top``: the same plus the best bid and ask read after every message, each client the cheapest way its API allows
  (livefeed: ``OrderBook.best_bid``/``best_ask``; seed: ``SortedDict.peekitem(0)``; cryptofeed: see
  :class:`CryptofeedTop`). The last top read must equal the true final book's top.

Clients: ``ceiling`` (the transport livefeed's ``Connection`` uses, receiving frames and nothing else; also
``ceiling-websockets``, ``ceiling-aiohttp``, ``ceiling-picows`` by name), ``livefeed``, ``seed`` (the textbook
``websockets`` + ``json`` + ``SortedDict`` design) and ``cryptofeed`` (2.4.1, run from the separate ``.venv-bench``
virtualenv as ``throughput.py --client cryptofeed``).

Run: ``.venv/bin/python bench/throughput.py`` (``--repeat 3`` reports medians; ``--workloads``, ``--clients``,
``--server bulk|paced|burst``, ``--messages``, ``--levels``, ``--seed``). Prints one
``RESULT client=<name> workload=<book|top> msgs=<n> secs=<s> rate=<msgs/s> cpu_us=<CPU us/msg> book_correct=<bool>``
line per client and workload, then exactly one
``RATIO book livefeed/cryptofeed=<x> top livefeed/cryptofeed=<y> livefeed/ceiling=<z>`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _stream import MODES, STREAM_NAME, SYMBOL, load_stream, start_server

__all__ = ["CLIENTS", "WORKLOADS", "CryptofeedTop", "Expected", "Result", "main"]

CLIENTS = ("ceiling", "livefeed", "seed", "cryptofeed")
CEILINGS = ("ceiling-websockets", "ceiling-aiohttp", "ceiling-picows")
WORKLOADS = ("book", "top")
REPO = Path(__file__).resolve().parent.parent
BENCH_PYTHON = REPO / ".venv-bench" / "bin" / "python"
INSTALL_HINT = (
    "python3.11 -m venv .venv-bench && .venv-bench/bin/pip install 'setuptools<72' wheel 'Cython<3.2' && "
    ".venv-bench/bin/pip install --no-build-isolation -r bench/requirements-cryptofeed.txt"
)
MAX_SIZE = 64 * 2**20  # livefeed's ConnectionOptions.max_size default: the ceilings read with the same limit

Book = dict[float, float]
Level = tuple[float, float]


@dataclass(slots=True, frozen=True)
class Expected:
    """The true final state of the replayed stream, as served by the bench server."""

    messages: int
    last_update_id: int
    bids: Book
    asks: Book

    @property
    def top(self) -> tuple[Level, Level]:
        bid, ask = max(self.bids), min(self.asks)
        return (bid, self.bids[bid]), (ask, self.asks[ask])


@dataclass(slots=True)
class Result:
    client: str
    workload: str
    messages: int = 0
    secs: float = math.nan
    cpu_s: float = math.nan
    book_correct: bool = False
    error: str = ""

    @property
    def rate(self) -> float:
        return self.messages / self.secs if self.secs > 0 else math.nan

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.messages * 1e6 if self.messages else math.nan

    def line(self) -> str:
        text = (f"RESULT client={self.client} workload={self.workload} msgs={self.messages} secs={self.secs:.3f} "
                f"rate={self.rate:.0f} cpu_us={self.cpu_us:.1f} book_correct={self.book_correct}")
        return f"{text} error={self.error}" if self.error else text

    @classmethod
    def parse(cls, line: str) -> Result:
        head, _, error = line.partition(" error=")
        fields = dict(part.split("=", 1) for part in head.split()[1:])
        messages = int(fields["msgs"])
        return cls(fields["client"], fields["workload"], messages, float(fields["secs"]),
                   float(fields["cpu_us"]) * messages / 1e6, fields["book_correct"] == "True", error)


class Finish:
    """Counts the messages a client handled and notes when (wall and CPU clock) it reached the last update id."""

    def __init__(self, last_update_id: int) -> None:
        self.last_update_id = last_update_id
        self.messages = 0
        self.ended = math.nan
        self.cpu_ended = math.nan
        self.cpu_started = time.process_time()
        self.done = asyncio.Event()

    def update(self, sequence: int | None) -> bool:
        self.messages += 1
        if sequence == self.last_update_id:
            self.end()
            return True
        return False

    def end(self) -> None:
        self.ended, self.cpu_ended = time.monotonic(), time.process_time()
        self.done.set()


# -- talking to the bench server -------------------------------------------------------------------------------------


def fetch_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        return json.loads(response.read())


def load_expected(port: int) -> Expected:
    body = fetch_json(port, "/bench/expected")
    return Expected(
        body["messages"], body["last_update_id"],
        {float(p): float(q) for p, q in body["bids"]}, {float(p): float(q) for p, q in body["asks"]},
    )


def finish_result(client: str, workload: str, port: int, finish: Finish, correct: bool) -> Result:
    """Time from the server's first frame of this replay to ``finish.ended`` (both CLOCK_MONOTONIC)."""
    started = fetch_json(port, "/bench/started")["started"]
    return Result(client, workload, finish.messages, finish.ended - started, finish.cpu_ended - finish.cpu_started,
                  correct)


def book_matches(expected: Expected, bids: Book, asks: Book, top: Any, workload: str) -> bool:
    """Every level of both sides equals the truth; on ``top``, the last top read equals the true top too."""
    if bids != expected.bids or asks != expected.asks:
        return False
    return workload != "top" or top == expected.top


def subscribe_text() -> str:
    return json.dumps({"method": "SUBSCRIBE", "params": [STREAM_NAME], "id": 1})


# -- 0. transport ceilings: receive every frame, nothing else ------------------------------------------------------


async def ceiling_websockets(url: str, frames: int, finish: Finish) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, max_size=MAX_SIZE, compression=None) as ws:
        await ws.send(subscribe_text())
        count = 0
        async for _ in ws:
            count += 1
            if count == frames:
                finish.end()
                return


async def ceiling_aiohttp(url: str, frames: int, finish: Finish) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.ws_connect(url, max_msg_size=MAX_SIZE) as ws:
        await ws.send_str(subscribe_text())
        count = 0
        async for _ in ws:
            count += 1
            if count == frames:
                finish.end()
                return


async def ceiling_picows(url: str, frames: int, finish: Finish) -> None:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    class Count(WSListener):  # type: ignore[misc]
        count = 0

        def on_ws_connected(self, transport: WSTransport) -> None:
            transport.send(WSMsgType.TEXT, subscribe_text().encode())

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            frame.get_payload_as_memoryview()  # what a consumer gets without a copy
            self.count += 1
            if self.count == frames:
                finish.end()

    transport, _ = await ws_connect(Count, url, max_frame_size=MAX_SIZE)
    try:
        await finish.done.wait()
    finally:
        transport.disconnect()


CEILING_LOOPS: dict[str, Callable[[str, int, Finish], Awaitable[None]]] = {
    "websockets": ceiling_websockets, "aiohttp": ceiling_aiohttp, "picows": ceiling_picows,
}


def livefeed_transport() -> str:
    """The WebSocket library livefeed's ``Connection`` uses in this environment."""
    from livefeed import connection

    return str(getattr(connection, "TRANSPORT", "websockets"))


async def run_ceiling(port: int, expected: Expected, timeout: float, workload: str, transport: str) -> Result:
    finish = Finish(expected.last_update_id)
    frames = expected.messages + 1  # the SUBSCRIBE reply, then the stream
    await asyncio.wait_for(CEILING_LOOPS[transport](f"ws://127.0.0.1:{port}/stream", frames, finish), timeout)
    finish.messages = expected.messages
    return finish_result(f"ceiling-{transport}", workload, port, finish, True)


# -- 1. livefeed -----------------------------------------------------------------------------------------------------


async def run_livefeed(port: int, expected: Expected, timeout: float, workload: str) -> Result:
    import livefeed
    from livefeed.model import BookDelta, Event

    base = f"127.0.0.1:{port}"
    feed = livefeed.Feed(
        ["binance:BTC-USDT"], channels=["book"],
        endpoints={"binance": {"ws": f"ws://{base}", "rest": f"http://{base}"}}, validate=False,
    )
    finish = Finish(expected.last_update_id)
    top: list[Any] = [None]
    async with feed:
        book = feed.books[("binance", "BTC-USDT")]
        if workload == "top":  # a callback per event: the cheapest way to act on every message in livefeed's API

            def on_event(event: Event) -> None:
                if type(event) is BookDelta:
                    top[0] = (book.best_bid, book.best_ask)
                    finish.update(book.sequence)

            feed.add_callback(on_event)
            await asyncio.wait_for(finish.done.wait(), timeout)
        else:  # book only: no per-message user code; the end is noticed within a millisecond
            deadline = time.monotonic() + timeout
            while book.sequence != expected.last_update_id:
                if time.monotonic() > deadline:
                    raise TimeoutError
                await asyncio.sleep(0.001)
            finish.end()
            finish.messages = expected.messages
        levels = book.to_dict()
    correct = book_matches(expected, levels["bids"], levels["asks"], top[0], workload)
    return finish_result("livefeed", workload, port, finish, correct)


# -- 2. seed: websockets + json + SortedDict -------------------------------------------------------------------------


class SeedBook:
    """The textbook local book: one ``SortedDict`` per side (bids keyed for descending order), float keys."""

    def __init__(self) -> None:
        from sortedcontainers import SortedDict

        self.bids: Any = SortedDict(lambda k: -k)
        self.asks: Any = SortedDict()
        self.last_update_id = -1

    def load(self, snapshot: dict[str, Any]) -> None:
        self.bids.clear()
        self.asks.clear()
        self.bids.update((float(p), float(q)) for p, q in snapshot["bids"])
        self.asks.update((float(p), float(q)) for p, q in snapshot["asks"])
        self.last_update_id = snapshot["lastUpdateId"]

    def apply(self, diff: dict[str, Any]) -> None:
        """Binance's rule: skip diffs the book already covers, refuse one that leaves update ids out."""
        if diff["u"] <= self.last_update_id:
            return
        if diff["U"] > self.last_update_id + 1:
            raise RuntimeError(f"gap: book at {self.last_update_id}, diff starts at {diff['U']}")
        for side, levels in ((self.bids, diff["b"]), (self.asks, diff["a"])):
            for p, q in levels:
                price, size = float(p), float(q)
                if size:
                    side[price] = size
                else:
                    side.pop(price, None)
        self.last_update_id = diff["u"]

    def best(self) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
        return (self.bids.peekitem(0) if self.bids else None, self.asks.peekitem(0) if self.asks else None)


async def _seed_snapshot(port: int, first_diff: dict[str, Any]) -> dict[str, Any]:
    while True:
        snapshot = await asyncio.to_thread(fetch_json, port, f"/api/v3/depth?symbol={SYMBOL}&limit=5000")
        if snapshot["lastUpdateId"] + 1 >= first_diff["U"]:
            return snapshot
        await asyncio.sleep(0.1)  # older than the stream we hold: ask again


async def _seed_session(port: int, book: SeedBook, finish: Finish, read_top: bool, top: list[Any]) -> None:
    from websockets.asyncio.client import connect

    async with connect(f"ws://127.0.0.1:{port}/stream", max_size=MAX_SIZE) as ws:
        await ws.send(subscribe_text())
        first = None
        async for frame in ws:
            data = json.loads(frame).get("data")
            if data is None:
                continue  # the SUBSCRIBE reply
            if first is None:  # later diffs wait in the socket while the snapshot is fetched
                first = data
                book.load(await _seed_snapshot(port, first))
            book.apply(data)
            if read_top:
                top[0] = book.best()
            if finish.update(book.last_update_id):
                return


async def run_seed(port: int, expected: Expected, timeout: float, workload: str) -> Result:
    book = SeedBook()
    finish = Finish(expected.last_update_id)
    top: list[Any] = [None]
    await asyncio.wait_for(_seed_session(port, book, finish, workload == "top", top), timeout)
    correct = book_matches(expected, dict(book.bids), dict(book.asks), top[0], workload)
    return finish_result("seed", workload, port, finish, correct)


# -- 3. cryptofeed (runs in .venv-bench) -----------------------------------------------------------------------------


class CryptofeedTop:
    """The best bid and ask of a cryptofeed ``L2_BOOK``, read after every callback as cheaply as its API allows.

    cryptofeed's book is ``order_book.SortedDict``: a plain dict plus a sorted tuple of its keys that is rebuilt
    (``PyList_Sort`` of every ``Decimal`` key, then a tuple copy) by any ordered read (``index``, ``keys``,
    ``to_list``, ``to_dict``) after any insert or removal. ``index(0)`` is the cheapest ordered read (no list or
    dict built), but it still pays that rebuild on most messages. Cheaper still, and exact: cryptofeed hands each
    callback the message's ``delta`` (the levels it changed, already applied), so the top moves only when a delta
    level beats it or changes its size; ``index(0)`` is needed only when the best level itself was removed.
    """

    def __init__(self) -> None:
        self.bid: tuple[Any, Any] | None = None
        self.ask: tuple[Any, Any] | None = None

    def read(self, book: Any) -> None:
        sides, delta = book.book, book.delta
        if delta is None:  # a snapshot: the sorted read is the only way
            self.bid = sides.bids.index(0) if len(sides.bids) else None
            self.ask = sides.asks.index(0) if len(sides.asks) else None
            return
        self.bid = _moved_best(self.bid, sides.bids, delta["bid"], True)  # cryptofeed.defines BID, ASK
        self.ask = _moved_best(self.ask, sides.asks, delta["ask"], False)

    def floats(self) -> tuple[Level | None, Level | None]:
        return tuple(None if x is None else (float(x[0]), float(x[1])) for x in (self.bid, self.ask))  # type: ignore


def _moved_best(best: tuple[Any, Any] | None, side: Any, changes: list[tuple[Any, Any]], highest: bool) -> Any:
    """The side's best level after ``changes`` (the highest price is best for bids, the lowest for asks)."""
    if best is None:
        return side.index(0) if len(side) else None
    price = best[0]
    for p, q in changes:
        if p == price:
            if not q:  # the best level left: only a sorted read finds the next one
                return side.index(0) if len(side) else None
            best = (p, q)
        elif q and (p > price if highest else p < price):
            best, price = (p, q), p
    return best


def _loopback_binance(port: int) -> type:
    """cryptofeed's ``Binance`` feed pointed at the bench server instead of api/stream.binance.com."""
    import cryptofeed.feed
    from cryptofeed.connection import RestEndpoint, Routes, WebsocketEndpoint, WSAsyncConn
    from cryptofeed.exchanges import Binance

    class LoopbackWSConn(WSAsyncConn):  # type: ignore[misc]
        """``WSAsyncConn`` refuses anything but ``wss://``; the loopback server speaks plain ``ws://``."""

        def __init__(self, address: str, conn_id: str, **kwargs: Any) -> None:
            super().__init__("wss://" + address.removeprefix("ws://"), conn_id, **kwargs)
            self.address = address

    cryptofeed.feed.WSAsyncConn = LoopbackWSConn  # Feed.connect() builds its connections from this name

    class LoopbackBinance(Binance):  # type: ignore[misc]
        websocket_endpoints = [WebsocketEndpoint(f"ws://127.0.0.1:{port}")]
        rest_endpoints = [RestEndpoint(
            f"http://127.0.0.1:{port}",
            routes=Routes("/api/v3/exchangeInfo", l2book="/api/v3/depth?symbol={}&limit={}"),
        )]

    return LoopbackBinance


async def run_cryptofeed(port: int, expected: Expected, timeout: float, workload: str) -> Result:
    from cryptofeed import FeedHandler
    from cryptofeed.defines import L2_BOOK

    finish = Finish(expected.last_update_id)
    final: list[Any] = []
    top = CryptofeedTop()
    read_top = workload == "top"

    async def on_book(book: Any, receipt_timestamp: float) -> None:
        if read_top:
            top.read(book)
        if book.delta is None:
            return  # the REST snapshot
        if finish.update(book.sequence_number):
            final.append(book.book)

    handler = FeedHandler(config={"uvloop": False, "log": {"disabled": True}})
    feed = _loopback_binance(port)(
        symbols=["BTC-USDT"], channels=[L2_BOOK], callbacks={L2_BOOK: on_book}, depth_interval="100ms", max_depth=0,
    )
    handler.add_feed(feed)
    handler.run(start_loop=False, install_signal_handlers=False)
    try:
        await asyncio.wait_for(finish.done.wait(), timeout)
    finally:
        await handler.stop_async()
    bids = {float(p): float(q) for p, q in final[0].bids.to_dict().items()}
    asks = {float(p): float(q) for p, q in final[0].asks.to_dict().items()}
    correct = book_matches(expected, bids, asks, top.floats(), workload)
    return finish_result("cryptofeed", workload, port, finish, correct)


def run_cryptofeed_subprocess(port: int, python: Path, timeout: float, workload: str) -> Result:
    """cryptofeed pins its own dependency versions, so it runs from ``.venv-bench`` in a child process."""
    if not python.exists():
        return Result("cryptofeed", workload, error=f"{python} not found; install it with: {INSTALL_HINT}")
    command = [str(python), str(Path(__file__).resolve()), "--client", "cryptofeed", "--port", str(port),
               "--timeout", str(timeout), "--workloads", workload]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 120, check=False)
    except subprocess.TimeoutExpired:
        return Result("cryptofeed", workload, error=f"no result within {timeout + 120:.0f}s")
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return Result("cryptofeed", workload, error=f"exit {proc.returncode}: {tail}")
    return Result.parse(line)


# -- running ---------------------------------------------------------------------------------------------------------


RUNNERS: dict[str, Callable[[int, Expected, float, str], Awaitable[Result]]] = {
    "livefeed": run_livefeed, "seed": run_seed, "cryptofeed": run_cryptofeed,
}


def _runner(name: str) -> Callable[[int, Expected, float, str], Awaitable[Result]]:
    if name.startswith("ceiling"):
        transport = name.partition("-")[2] or livefeed_transport()
        return lambda port, expected, timeout, workload: run_ceiling(port, expected, timeout, workload, transport)
    return RUNNERS[name]


def run_client(name: str, port: int, timeout: float, workload: str) -> Result:
    """Run one client in this process against the server on ``port``; failures become ``error=`` results."""
    try:
        expected = load_expected(port)
        return asyncio.run(_runner(name)(port, expected, timeout, workload))
    except TimeoutError:
        return Result(name, workload, error=f"book did not reach the last update id within {timeout:.0f}s")
    except Exception as exc:
        return Result(name, workload, error=f"{type(exc).__name__}: {exc}".replace("\n", " "))


def run_one(name: str, workload: str, port: int, args: argparse.Namespace) -> Result:
    if name == "cryptofeed":
        return run_cryptofeed_subprocess(port, args.cryptofeed_python, args.timeout, workload)
    # every other client in a fresh child too, so no client inherits another's heap or imports
    command = [sys.executable, str(Path(__file__).resolve()), "--client", name, "--port", str(port),
               "--timeout", str(args.timeout), "--workloads", workload]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout + 120, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return Result(name, workload, error=f"exit {proc.returncode}: {tail}")
    return Result.parse(line)


def median_of(runs: list[Result]) -> Result:
    """The run with the median rate, its CPU replaced by the median CPU; an error or wrong book wins instead."""
    bad = next((r for r in runs if r.error or not r.book_correct), None)
    if bad is not None:
        return bad
    ordered = sorted(runs, key=lambda r: r.rate)
    middle = ordered[(len(ordered) - 1) // 2]
    cpu = statistics.median(r.cpu_s / r.messages for r in runs) * middle.messages
    return Result(middle.client, middle.workload, middle.messages, middle.secs, cpu, True)


def ratio_line(results: dict[tuple[str, str], Result], ceiling: str) -> str:
    def ratio(workload: str, other: str, other_workload: str | None = None) -> str:
        a, b = results.get(("livefeed", workload)), results.get((other, other_workload or workload))
        if a is None or b is None or a.error or b.error or not a.book_correct:
            return "n/a"
        return f"{a.rate / b.rate:.2f}"

    return (f"RATIO book livefeed/cryptofeed={ratio('book', 'cryptofeed')} "
            f"top livefeed/cryptofeed={ratio('top', 'cryptofeed')} livefeed/ceiling={ratio('book', ceiling)}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000, help="depth diffs in the stream")
    parser.add_argument("--levels", type=int, default=1_000, help="book levels per side")
    parser.add_argument("--seed", type=int, default=20240601, help="stream generator seed")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated, run in this order")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="book, top or both")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every client and workload; medians reported")
    parser.add_argument("--server", choices=MODES, default="bulk", help="how the server writes the stream")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per client")
    parser.add_argument("--cryptofeed-python", type=Path, default=BENCH_PYTHON, help="python of .venv-bench")
    parser.add_argument("--client", choices=CLIENTS + CEILINGS, help="run only this client here (needs --port)")
    parser.add_argument("--port", type=int, help="use the bench server already listening on this port")
    args = parser.parse_args(argv)
    args.clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = set(args.clients) - set(CLIENTS + CEILINGS)
    if unknown:
        parser.error(f"unknown clients {sorted(unknown)}; choose from {list(CLIENTS + CEILINGS)}")
    if set(args.workloads) - set(WORKLOADS) or not args.workloads:
        parser.error(f"workloads are {list(WORKLOADS)}")
    if (args.client is None) != (args.port is None):
        parser.error("--client and --port go together")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client is not None:
        result = run_client(args.client, args.port, args.timeout, args.workloads[0])
        print(result.line(), flush=True)
        return 1 if result.error else 0
    began = time.monotonic()
    stream = load_stream(args.messages, args.levels, args.seed)
    server, port = start_server(stream, mode=args.server)
    del stream  # the server process has its own copy
    ceiling = f"ceiling-{livefeed_transport()}"
    print(f"# {args.messages} messages, {args.levels} levels/side, seed {args.seed}, server {args.server}; served on "
          f"127.0.0.1:{port} after {time.monotonic() - began:.1f}s; livefeed's transport: {ceiling[8:]}; "
          f"load average {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
    runs: dict[tuple[str, str], list[Result]] = {}
    try:
        for round_ in range(max(1, args.repeat)):
            for workload in args.workloads:
                for name in args.clients:
                    if name.startswith("ceiling") and workload != "book":
                        continue  # a ceiling keeps no book: one workload is enough
                    result = run_one(name, workload, port, args)
                    key = (ceiling if name == "ceiling" else result.client, workload)
                    runs.setdefault(key, []).append(result)
                    print(f"# round {round_ + 1}: {result.line()}", file=sys.stderr, flush=True)
    finally:
        server.terminate()
        server.join(10)
    results = {key: median_of(group) for key, group in runs.items()}
    for result in results.values():
        print(result.line(), flush=True)
    print(f"# load average {os.getloadavg()[0]:.2f}; medians of {max(1, args.repeat)} round(s)", file=sys.stderr)
    print(ratio_line(results, ceiling), flush=True)
    return 1 if any(r.error or not r.book_correct for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
