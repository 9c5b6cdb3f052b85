"""Capture at scale: shard subscriptions over worker processes, each running its own feed and sinks.

One asyncio loop holds a few hundred connections; past that, ``run_capture(..., workers=N)`` starts N processes
(``spawn``: no inherited loop or sockets), gives each a round-robin share of the subscriptions, and has each write
its own raw capture (``<to>/worker-<i>/``) and publish to the same Redis, where one
:func:`livefeed.from_redis` reader combines them. Stopping (Ctrl-C, ``--duration``) sets a shared event; each
worker stops its feed, which flushes every sink: nothing buffered is lost, and what could not be delivered is
counted.

The workers share only an event, an array of counters and a queue of error lines: no manager process, which a
terminal's Ctrl-C (sent to the whole process group) would kill under the workers' feet. A worker that fails
reports one line (e.g. a symbol the venue does not list) and the whole capture stops with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .errors import LivefeedError

__all__ = ["CaptureConfig", "CaptureCounts", "CaptureError", "shard", "run_capture", "capture_worker"]


@dataclass(slots=True)
class CaptureConfig:
    subscriptions: list[str]
    to: str | None = None
    redis: str | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    channels: list[str] = field(default_factory=lambda: ["trades", "book"])
    metrics_port: int | None = None
    verbose: bool = False


class CaptureCounts(NamedTuple):
    """One worker's counters (or their sum over workers)."""

    messages: int = 0
    raw_written: int = 0
    redis_sent: int = 0
    redis_undelivered: int = 0
    """Events the Redis sink dropped (buffer full while Redis was away) or could not send before stopping."""
    dropped: int = 0
    """Events dropped by any sink, the Redis ones included."""
    books: int = 0
    """Books subscribed (0 when the capture records no book channel)."""
    books_synced: int = 0
    """Of those, the books in sync now (a snapshot applied, every update since in sequence)."""

    @staticmethod
    def total(rows: Sequence[CaptureCounts]) -> CaptureCounts:
        return CaptureCounts(*(sum(column) for column in zip(*rows, strict=True))) if rows else CaptureCounts()


class CaptureError(LivefeedError):
    """A capture worker failed; the message is the worker's own one-line reason."""


def shard(subscriptions: Sequence[str], workers: int) -> list[list[str]]:
    """Round-robin ``subscriptions`` over ``workers`` (empty shards dropped; repeats merged first)."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    unique = list(dict.fromkeys(subscriptions))
    shards = [unique[i::workers] for i in range(workers)]
    return [s for s in shards if s]


def _counts(feed: Any, sinks: list[Any]) -> CaptureCounts:
    stats = feed.stats()
    return CaptureCounts(
        int(stats["messages"].sum()) if len(stats) else 0,
        feed.raw_capture.written if feed.raw_capture else 0,
        sum(getattr(s, "sent", 0) for s in sinks),
        sum(getattr(s, "dropped", 0) for s in sinks),
        sum(getattr(s, "dropped", 0) for s in feed.sinks),
        *_books(feed),
    )


def _books(feed: Any) -> tuple[int, int]:
    """(books, synced) from the feed's sync counters: one cheap read of the adapters' flags."""
    flags = [sync.synced for source in feed.sources for sync in getattr(source, "sync", {}).values()]
    return len(flags), sum(flags)


async def _capture(config: CaptureConfig, index: int, stop: Callable[[], bool],
                   report: Callable[[CaptureCounts], None], ready: Callable[[], None]) -> None:
    from .feed import Feed
    from .sinks.redis import RedisSink

    sinks = [RedisSink(config.redis)] if config.redis else []
    raw = str(Path(config.to) / f"worker-{index}") if config.to else None
    feed = Feed(config.subscriptions, config.channels, endpoints=config.endpoints or None, sinks=sinks,
                raw_capture=raw, capacity=10_000)
    async with feed:
        port = config.metrics_port and config.metrics_port + index  # 0: every worker picks a free port
        server = feed.serve_metrics(port) if port is not None else None
        ready()
        try:
            while not stop():
                report(_counts(feed, sinks))
                await asyncio.sleep(0.2)
        finally:
            if server is not None:
                server.close()
    report(_counts(feed, sinks))  # after the sinks flushed: what was delivered and what was not


def _block_sigint(blocked: bool) -> None:
    if hasattr(signal, "pthread_sigmask"):  # POSIX; elsewhere there are no process groups to share a Ctrl-C
        signal.pthread_sigmask(signal.SIG_BLOCK if blocked else signal.SIG_UNBLOCK, {signal.SIGINT})


def capture_worker(config: CaptureConfig, index: int, stop_event: Any, counters: Any, errors: Any,
                   ready: Any = None) -> None:
    """Entry point of one worker process: Ctrl-C is the parent's to handle; the stop event ends the capture.

    Any failure is reported to the parent as one line on ``errors`` (the traceback only with ``verbose``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _block_sigint(False)  # blocked by the parent from the spawn until here
    logging.basicConfig(level=logging.INFO if config.verbose else logging.WARNING,
                        format=f"%(asctime)s %(levelname)s worker-{index} %(name)s: %(message)s")
    width = len(CaptureCounts._fields)

    def report(counts: CaptureCounts) -> None:
        counters[index * width : (index + 1) * width] = list(counts)

    def started() -> None:
        if ready is not None:
            ready[index] = 1

    try:
        asyncio.run(_capture(config, index, stop_event.is_set, report, started))
    except Exception as exc:  # every failure becomes one line for the parent
        if config.verbose:
            logging.getLogger(__name__).exception("worker %d failed", index)
        reason = str(exc) if isinstance(exc, LivefeedError) else f"{type(exc).__name__}: {exc}"
        errors.put(f"worker {index} ({', '.join(config.subscriptions)}): {' '.join(reason.split())}")
        raise SystemExit(1) from None


def run_capture(
    config: CaptureConfig,
    workers: int = 1,
    duration: float | None = None,
    on_status: Callable[[float, list[CaptureCounts]], None] | None = None,
) -> list[CaptureCounts]:
    """Capture for ``duration`` s once every worker runs, until Ctrl-C, or until a worker fails; returns each
    worker's counters.

    ``on_status(elapsed, rows)`` is called about twice a second (the CLI's status line). A failed worker stops
    the others and raises :class:`CaptureError` with its reason, after their counters were collected."""
    shards = shard(config.subscriptions, workers)
    ctx = mp.get_context("spawn")
    width = len(CaptureCounts._fields)
    stop_event = ctx.Event()
    counters = ctx.Array("q", width * len(shards), lock=False)  # each worker writes only its own slice
    errors = ctx.SimpleQueue()
    ready = ctx.Array("b", len(shards), lock=False)  # set by each worker once its feed runs
    procs: list[Any] = []

    def rows() -> list[CaptureCounts]:
        return [CaptureCounts(*counters[i * width : (i + 1) * width]) for i in range(len(shards))]

    # A terminal's Ctrl-C reaches the whole process group: a worker still starting up (before it ignores SIGINT)
    # would die of it. Workers inherit a blocked SIGINT and unblock it once it is ignored; the parent's own
    # Ctrl-C is delivered when it unblocks, after the workers exist, and stops them cleanly below.
    _block_sigint(True)
    try:
        try:
            for index, subs in enumerate(shards):
                part = CaptureConfig(subs, config.to, config.redis, config.endpoints, config.channels,
                                     config.metrics_port, config.verbose)
                proc = ctx.Process(target=capture_worker, args=(part, index, stop_event, counters, errors, ready),
                                   name=f"livefeed-w{index}")
                proc.start()
                procs.append(proc)
        finally:
            _block_sigint(False)
        started: float | None = None  # ``duration`` counts from when every worker's feed runs, not from the spawn
        while all(p.is_alive() for p in procs):
            if started is None and all(ready):
                started = time.monotonic()
            elapsed = 0.0 if started is None else time.monotonic() - started
            if duration is not None and started is not None and elapsed >= duration:
                break
            if on_status is not None:
                on_status(elapsed, rows())
            procs[0].join(0.5)  # wakes early if that worker ends; the others are checked every half second
    except KeyboardInterrupt:
        pass
    finally:
        stop_event.set()
        for proc in procs:
            with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C must not leave workers behind
                proc.join(30)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
    reasons = []
    while not errors.empty():
        reasons.append(errors.get())
    failed = [p.name for p in procs if p.exitcode not in (0, None)]
    if reasons or failed:
        raise CaptureError("; ".join(reasons) or f"capture worker(s) {failed} failed; run with -v for their logs")
    return rows()
