"""``livefeed capture binance:BTC-USDT ... --to captures/ [--redis URL] [--duration 1h] [--workers N]``."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError, LivefeedError
from .arguments import check_port_free, port, writable_directory

__all__ = ["add_parser", "run", "parse_duration", "MAX_WORKERS"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_WORKERS = 64


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``1h``, ``2d`` -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"duration {text!r} must look like 90s, 15m, 1h or 2d")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--workers {text!r} is not a whole number") from None
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"--workers must be 1..{MAX_WORKERS}, got {value}")
    return value


def add_parser(sub: Any) -> None:
    p = sub.add_parser("capture", help="record raw frames (and/or publish to Redis) with a live status line")
    p.add_argument("subscriptions", nargs="+", help="venue:SYMBOL, e.g. binance:BTC-USDT")
    p.add_argument("--to", help="directory for raw captures (compressed, rotating)")
    p.add_argument("--redis", help="publish events to this Redis URL (Pub/Sub and Streams)")
    p.add_argument("--duration", type=parse_duration, help="stop after this long (e.g. 1h); default: until Ctrl-C")
    p.add_argument("--workers", type=_workers, default=1, help="shard subscriptions over N processes")
    p.add_argument("--channels", default="trades,book", help="comma-separated: trades,book,ticker")
    p.add_argument("--endpoint", action="append", default=[], metavar="VENUE=URL",
                   help="connect a venue elsewhere, e.g. binance=http://127.0.0.1:8765 (a simulator)")
    p.add_argument("--metrics-port", type=port, help="serve Prometheus metrics from this port (one per worker)")


def _endpoints(items: list[str]) -> dict[str, str]:
    endpoints = {}
    for item in items:
        venue, sep, url = item.partition("=")
        if not sep or not venue.strip() or not url.strip():
            raise ConfigError(f"--endpoint {item!r} must look like VENUE=URL, e.g. binance=http://127.0.0.1:8765")
        endpoints[venue.strip().lower()] = url.strip()
    return endpoints


def _check_redis_url(url: str) -> None:
    from ..connection import redact_url

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number or out of range
    except ValueError as exc:
        raise ConfigError(f"--redis {redact_url(url)!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("redis", "rediss", "unix") or (parts.scheme != "unix" and not parts.hostname):
        raise ConfigError(f"--redis {redact_url(url)!r} must look like redis://HOST[:PORT][/DB] "
                          "(or rediss://, unix://)")


def _checked_subscriptions(args: argparse.Namespace, endpoints: dict[str, str]) -> list[str]:
    """Every mistake a worker would hit at ``Feed(...)`` is caught here, once, before any process starts."""
    from ..feed import Feed

    try:
        feed = Feed(args.subscriptions, [c.strip() for c in args.channels.split(",") if c.strip()],
                    endpoints=endpoints or None, capacity=1)
    except LivefeedError:
        raise
    except ValueError as exc:  # e.g. an endpoint that is not a URL
        raise ConfigError(str(exc)) from None
    return [str(s) for s in feed.subscriptions]  # canonical, and two spellings of one symbol merged


def run(args: argparse.Namespace) -> int:
    from ..capture_workers import CaptureConfig, CaptureCounts, run_capture
    from ..connection import redact_url

    if not args.to and not args.redis:
        raise ConfigError("nothing to write to: give --to DIR and/or --redis URL")
    endpoints = _endpoints(args.endpoint)
    subs = _checked_subscriptions(args, endpoints)
    channels = [c.strip() for c in args.channels.split(",") if c.strip()]
    if args.redis:
        _check_redis_url(args.redis)
    if args.to:
        writable_directory(args.to, "--to")
    workers = min(args.workers, len(subs))
    if args.metrics_port:
        if args.metrics_port + workers - 1 > 65535:
            raise ConfigError(f"--metrics-port {args.metrics_port} leaves no port for worker {workers - 1}: "
                              f"use at most {65536 - workers}")
        for index in range(workers):
            check_port_free(args.metrics_port + index, f"--metrics-port (worker {index})")
    config = CaptureConfig(subs, args.to, args.redis, endpoints, channels, args.metrics_port, args.verbose)
    tty = sys.stdout.isatty()  # progress goes to stdout; stderr carries only errors

    def status(elapsed: float, rows: list[CaptureCounts]) -> None:
        total = CaptureCounts.total(rows)
        books = f"  books {total.books_synced}/{total.books} synced" if total.books else ""
        line = (f"{elapsed:7.0f}s  {len(rows)} worker(s)  messages {total.messages:,}  raw {total.raw_written:,}  "
                f"redis {total.redis_sent:,}  dropped {total.dropped:,}{books}")
        print(("\r" + line) if tty else line, end="" if tty else "\n", flush=True)

    target = ", ".join(x for x in (args.to, args.redis and redact_url(args.redis)) if x)
    print(f"capturing {len(subs)} subscription(s) to {target}; Ctrl-C stops cleanly", flush=True)
    total = CaptureCounts.total(run_capture(config, workers, args.duration, status))
    undelivered = f", {total.redis_undelivered:,} not delivered to redis" if args.redis else ""
    print(f"\nstopped: {total.messages:,} messages, {total.raw_written:,} raw frames written, "
          f"{total.redis_sent:,} events to redis{undelivered}, {total.dropped:,} dropped", flush=True)
    return 0
