"""Capture at scale: shard subscriptions over worker processes, each running its own feed and sinks.

One asyncio loop holds a few hundred connections; past that, ``run_capture(..., workers=N)`` starts N processes
(``spawn``: no inherited loop or sockets), gives each a round-robin share of the subscriptions, and has each write
its own raw capture (``<to>/worker-<i>/``) and publish to the same Redis, where one
:func:`livefeed.from_redis` reader combines them. Stopping (Ctrl-C, ``--duration``) sets a shared event; each
worker stops its feed, which flushes every sink: nothing buffered is lost.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CaptureConfig", "shard", "run_capture", "capture_worker"]


@dataclass(slots=True)
class CaptureConfig:
    subscriptions: list[str]
    to: str | None = None
    redis: str | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    channels: list[str] = field(default_factory=lambda: ["trades", "book"])
    metrics_port: int | None = None


def shard(subscriptions: Sequence[str], workers: int) -> list[list[str]]:
    """Round-robin ``subscriptions`` over ``workers`` (empty shards dropped)."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    shards = [list(subscriptions[i::workers]) for i in range(workers)]
    return [s for s in shards if s]


async def _capture(config: CaptureConfig, index: int, stop: Callable[[], bool], status: Any) -> None:
    from .feed import Feed
    from .sinks.redis import RedisSink

    sinks = [RedisSink(config.redis)] if config.redis else []
    raw = str(Path(config.to) / f"worker-{index}") if config.to else None
    feed = Feed(config.subscriptions, config.channels, endpoints=config.endpoints or None, sinks=sinks,
                raw_capture=raw, capacity=10_000)
    async with feed:
        server = feed.serve_metrics(config.metrics_port + index) if config.metrics_port is not None else None
        try:
            while not stop():
                stats = feed.stats()
                status[index] = (int(stats["messages"].sum()) if len(stats) else 0,
                                 feed.raw_capture.written if feed.raw_capture else 0,
                                 sum(getattr(s, "sent", 0) for s in sinks),
                                 sum(getattr(s, "dropped", 0) for s in feed.sinks))
                await asyncio.sleep(0.2)
        finally:
            if server is not None:
                server.close()
    stats = feed.stats()
    status[index] = (int(stats["messages"].sum()) if len(stats) else 0,
                     feed.raw_capture.written if feed.raw_capture else 0,
                     sum(getattr(s, "sent", 0) for s in sinks), sum(getattr(s, "dropped", 0) for s in feed.sinks))


def capture_worker(config: CaptureConfig, index: int, stop_event: Any, status: Any) -> None:
    """Entry point of one worker process: Ctrl-C is the parent's to handle; the stop event ends the capture."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(_capture(config, index, stop_event.is_set, status))


def run_capture(
    config: CaptureConfig,
    workers: int = 1,
    duration: float | None = None,
    on_status: Callable[[float, list[tuple[int, int, int, int]]], None] | None = None,
) -> list[tuple[int, int, int, int]]:
    """Capture until ``duration`` s pass or Ctrl-C; returns per worker (messages, raw frames written, sent to
    Redis, dropped). ``on_status(elapsed, rows)`` is called about twice a second (the CLI's status line)."""
    shards = shard(config.subscriptions, workers)
    ctx = mp.get_context("spawn")
    manager = ctx.Manager()
    stop_event, status = manager.Event(), manager.dict()
    procs = []
    for index, subs in enumerate(shards):
        part = CaptureConfig(subs, config.to, config.redis, config.endpoints, config.channels, config.metrics_port)
        status[index] = (0, 0, 0, 0)
        proc = ctx.Process(target=capture_worker, args=(part, index, stop_event, status), name=f"livefeed-w{index}")
        proc.start()
        procs.append(proc)
    started = time.monotonic()
    try:
        while any(p.is_alive() for p in procs):
            elapsed = time.monotonic() - started
            if duration is not None and elapsed >= duration:
                break
            if on_status is not None:
                on_status(elapsed, [status[i] for i in range(len(shards))])
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop_event.set()
        for proc in procs:
            proc.join(30)
        rows = [status[i] for i in range(len(shards))]
        manager.shutdown()
    failed = [p.name for p in procs if p.exitcode not in (0, None)]
    if failed:
        raise RuntimeError(f"capture worker(s) {failed} failed; run with -v for their logs")
    return rows
