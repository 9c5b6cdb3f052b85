"""End-to-end throughput: one seeded Binance depth stream, three clients, the same loopback server.

The bench generates a fixed Binance spot ``btcusdt@depth@100ms`` diff stream (see ``bench/_stream.py``), forks a
WebSocket + REST server that replays it as fast as the client reads, and times three clients one after another,
each on a fresh connection, from the first frame written to the moment the client's book holds the last update id:

* ``livefeed``: ``livefeed.Feed([...], channels=["book"])`` in its async form: frame -> ``BinanceAdapter`` ->
  ``OrderBook`` -> top-of-book ``RollingFrame``.
* ``seed``: the textbook design: ``websockets`` + ``json.loads`` + two ``SortedDict`` with float keys, best
  bid/ask read after every message, Binance's snapshot + ``U``/``u`` procedure.
* ``cryptofeed``: cryptofeed 2.4.1's own ``Binance`` feed with an ``L2_BOOK`` callback, run from the separate
  ``.venv-bench`` virtualenv (``bench/requirements-cryptofeed.txt``) as ``throughput.py --client cryptofeed``.

Run: ``.venv/bin/python bench/throughput.py`` (options: ``--messages``, ``--levels``, ``--seed``, ``--clients``,
``--repeat``, ``--no-top``).
Prints one ``RESULT client=<name> msgs=<n> secs=<s> rate=<msgs/s> book_correct=<bool>`` line per client and then
``RATIO livefeed/cryptofeed=<x> livefeed/seed=<y>``. ``book_correct`` compares every level of both sides of the
client's final book with the generator's true final book.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _stream import STREAM_NAME, SYMBOL, make_stream, start_server

__all__ = ["CLIENTS", "Expected", "Result", "main"]

CLIENTS = ("livefeed", "seed", "cryptofeed")
REPO = Path(__file__).resolve().parent.parent
BENCH_PYTHON = REPO / ".venv-bench" / "bin" / "python"
INSTALL_HINT = (
    "python3.11 -m venv .venv-bench && .venv-bench/bin/pip install 'setuptools<72' wheel 'Cython<3.2' && "
    ".venv-bench/bin/pip install --no-build-isolation -r bench/requirements-cryptofeed.txt"
)

Book = dict[float, float]


@dataclass(slots=True, frozen=True)
class Expected:
    """The true final state of the replayed stream, as served by the bench server."""

    messages: int
    last_update_id: int
    bids: Book
    asks: Book


@dataclass(slots=True)
class Result:
    client: str
    messages: int = 0
    secs: float = math.nan
    book_correct: bool = False
    error: str = ""

    @property
    def rate(self) -> float:
        return self.messages / self.secs if self.secs > 0 else math.nan

    def line(self) -> str:
        text = (f"RESULT client={self.client} msgs={self.messages} secs={self.secs:.3f} rate={self.rate:.0f} "
                f"book_correct={self.book_correct}")
        return f"{text} error={self.error}" if self.error else text

    @classmethod
    def parse(cls, line: str) -> Result:
        head, _, error = line.partition(" error=")
        fields = dict(part.split("=", 1) for part in head.split()[1:])
        return cls(fields["client"], int(fields["msgs"]), float(fields["secs"]), fields["book_correct"] == "True",
                   error)


class Finish:
    """Counts the diffs a client applied and notes when its book reached the stream's last update id."""

    def __init__(self, last_update_id: int) -> None:
        self.last_update_id = last_update_id
        self.messages = 0
        self.ended = math.nan
        self.done = asyncio.Event()

    def update(self, sequence: int | None) -> bool:
        self.messages += 1
        if sequence == self.last_update_id:
            self.ended = time.monotonic()
            self.done.set()
            return True
        return False


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


def finish_result(client: str, port: int, expected: Expected, finish: Finish, bids: Book, asks: Book) -> Result:
    """Time from the server's first frame of this replay to ``finish.ended`` (both CLOCK_MONOTONIC)."""
    started = fetch_json(port, "/bench/started")["started"]
    return Result(client, finish.messages, finish.ended - started, bids == expected.bids and asks == expected.asks)


# -- 1. livefeed -----------------------------------------------------------------------------------------------------


async def run_livefeed(port: int, expected: Expected, timeout: float, read_top: bool) -> Result:
    # read_top is moot here: the feed records the top of book after every update (feed.top_of_book) regardless
    import livefeed
    from livefeed.model import BookDelta, Event

    base = f"127.0.0.1:{port}"
    feed = livefeed.Feed(
        ["binance:BTC-USDT"], channels=["book"],
        endpoints={"binance": {"ws": f"ws://{base}", "rest": f"http://{base}"}}, validate=False,
    )
    finish = Finish(expected.last_update_id)
    async with feed:
        book = feed.books[("binance", "BTC-USDT")]

        def on_event(event: Event) -> None:
            if type(event) is BookDelta:
                finish.update(book.sequence)

        feed.add_callback(on_event)
        await asyncio.wait_for(finish.done.wait(), timeout)
        levels = book.to_dict()
    return finish_result("livefeed", port, expected, finish, levels["bids"], levels["asks"])


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


async def _seed_session(port: int, book: SeedBook, finish: Finish, read_top: bool) -> None:
    from websockets.asyncio.client import connect

    async with connect(f"ws://127.0.0.1:{port}/stream", max_size=None) as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": [STREAM_NAME], "id": 1}))
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
                book.best()
            if finish.update(book.last_update_id):
                return


async def run_seed(port: int, expected: Expected, timeout: float, read_top: bool) -> Result:
    book = SeedBook()
    finish = Finish(expected.last_update_id)
    await asyncio.wait_for(_seed_session(port, book, finish, read_top), timeout)
    return finish_result("seed", port, expected, finish, dict(book.bids), dict(book.asks))


# -- 3. cryptofeed (runs in .venv-bench) -----------------------------------------------------------------------------


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


async def run_cryptofeed(port: int, expected: Expected, timeout: float, read_top: bool) -> Result:
    from cryptofeed import FeedHandler
    from cryptofeed.defines import L2_BOOK

    finish = Finish(expected.last_update_id)
    final: list[Any] = []

    async def on_book(book: Any, receipt_timestamp: float) -> None:
        if book.delta is None:
            return  # the REST snapshot
        if read_top:  # order_book re-sorts a side's keys on index() after any insert/removal on it
            book.book.bids.index(0), book.book.asks.index(0)
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
    return finish_result("cryptofeed", port, expected, finish, bids, asks)


def run_cryptofeed_subprocess(port: int, python: Path, timeout: float, read_top: bool) -> Result:
    """cryptofeed pins its own dependency versions, so it runs from ``.venv-bench`` in a child process."""
    if not python.exists():
        return Result("cryptofeed", error=f"{python} not found; install it with: {INSTALL_HINT}")
    command = [str(python), str(Path(__file__).resolve()), "--client", "cryptofeed", "--port", str(port),
               "--timeout", str(timeout), *([] if read_top else ["--no-top"])]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 120, check=False)
    except subprocess.TimeoutExpired:
        return Result("cryptofeed", error=f"no result within {timeout + 120:.0f}s")
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return Result("cryptofeed", error=f"exit {proc.returncode}: {tail}")
    return Result.parse(line)


# -- running ---------------------------------------------------------------------------------------------------------


RUNNERS: dict[str, Callable[[int, Expected, float, bool], Awaitable[Result]]] = {
    "livefeed": run_livefeed, "seed": run_seed, "cryptofeed": run_cryptofeed,
}


def run_client(name: str, port: int, timeout: float, read_top: bool = True) -> Result:
    """Run one client in this process against the server on ``port``; failures become ``error=`` results."""
    try:
        expected = load_expected(port)
        return asyncio.run(RUNNERS[name](port, expected, timeout, read_top))
    except TimeoutError:
        return Result(name, error=f"book did not reach the last update id within {timeout:.0f}s")
    except Exception as exc:
        return Result(name, error=f"{type(exc).__name__}: {exc}".replace("\n", " "))


def run_one(name: str, port: int, args: argparse.Namespace) -> Result:
    if name == "cryptofeed":
        return run_cryptofeed_subprocess(port, args.cryptofeed_python, args.timeout, not args.no_top)
    return run_client(name, port, args.timeout, not args.no_top)


def best_of(repeat: int, run: Callable[[], Result]) -> Result:
    """The fastest of ``repeat`` runs (the machine is shared, so slower runs measure the neighbours); an error
    or a wrong book in any run is reported instead."""
    best: Result | None = None
    for _ in range(max(1, repeat)):
        result = run()
        if result.error or not result.book_correct:
            return result
        if best is None or result.rate > best.rate:
            best = result
    assert best is not None
    return best


def ratio_line(results: dict[str, Result]) -> str:
    def ratio(other: str) -> str:
        a, b = results.get("livefeed"), results.get(other)
        if a is None or b is None or a.error or b.error:
            return "n/a"
        return f"{a.rate / b.rate:.2f}"

    return f"RATIO livefeed/cryptofeed={ratio('cryptofeed')} livefeed/seed={ratio('seed')}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000, help="depth diffs in the stream")
    parser.add_argument("--levels", type=int, default=1_000, help="book levels per side")
    parser.add_argument("--seed", type=int, default=20240601, help="stream generator seed")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated, run in this order")
    parser.add_argument("--repeat", type=int, default=1, help="runs per client; the fastest is reported")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per client")
    parser.add_argument("--no-top", action="store_true",
                        help="seed and cryptofeed skip reading the best bid/ask after each message (livefeed can't)")
    parser.add_argument("--cryptofeed-python", type=Path, default=BENCH_PYTHON, help="python of .venv-bench")
    parser.add_argument("--client", choices=CLIENTS, help="run only this client in this process (needs --port)")
    parser.add_argument("--port", type=int, help="use the bench server already listening on this port")
    args = parser.parse_args(argv)
    args.clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    unknown = set(args.clients) - set(CLIENTS)
    if unknown:
        parser.error(f"unknown clients {sorted(unknown)}; choose from {list(CLIENTS)}")
    if (args.client is None) != (args.port is None):
        parser.error("--client and --port go together")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client is not None:
        result = run_client(args.client, args.port, args.timeout, not args.no_top)
        print(result.line(), flush=True)
        return 1 if result.error else 0
    began = time.monotonic()
    stream = make_stream(args.messages, args.levels, args.seed)
    server, port = start_server(stream)
    del stream  # the server process has its own copy
    print(f"# {args.messages} messages, {args.levels} levels/side, seed {args.seed}; generated and served on "
          f"127.0.0.1:{port} in {time.monotonic() - began:.1f}s", file=sys.stderr, flush=True)
    results: dict[str, Result] = {}
    try:
        for name in args.clients:
            result = best_of(args.repeat, lambda name=name: run_one(name, port, args))
            results[name] = result
            print(result.line(), flush=True)
    finally:
        server.terminate()
        server.join(10)
    print(ratio_line(results), flush=True)
    return 1 if any(r.error or not r.book_correct for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
