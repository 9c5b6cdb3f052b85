"""``livefeed capture binance:BTC-USDT ... --to captures/ [--redis URL] [--duration 1h] [--workers N]``."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from ..errors import ConfigError

__all__ = ["add_parser", "run", "parse_duration"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``1h``, ``2d`` -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"duration {text!r} must look like 90s, 15m, 1h or 2d")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("capture", help="record raw frames (and/or publish to Redis) with a live status line")
    p.add_argument("subscriptions", nargs="+", help="venue:SYMBOL, e.g. binance:BTC-USDT")
    p.add_argument("--to", help="directory for raw captures (compressed, rotating)")
    p.add_argument("--redis", help="publish events to this Redis URL (Pub/Sub and Streams)")
    p.add_argument("--duration", type=parse_duration, help="stop after this long (e.g. 1h); default: until Ctrl-C")
    p.add_argument("--workers", type=int, default=1, help="shard subscriptions over N processes")
    p.add_argument("--channels", default="trades,book", help="comma-separated: trades,book,ticker")
    p.add_argument("--endpoint", action="append", default=[], metavar="VENUE=URL",
                   help="connect a venue elsewhere, e.g. binance=http://127.0.0.1:8765 (a simulator)")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics from this port (one per worker)")


def run(args: argparse.Namespace) -> int:
    from ..capture import CaptureConfig, run_capture
    from ..connection import redact_url
    from ..feed import parse_subscription

    if not args.to and not args.redis:
        raise ConfigError("nothing to write to: give --to DIR and/or --redis URL")
    if args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    subs = [str(parse_subscription(s)) for s in args.subscriptions]  # clear errors before any process starts
    endpoints = {}
    for item in args.endpoint:
        venue, sep, url = item.partition("=")
        if not sep or not url:
            raise ConfigError(f"--endpoint {item!r} must look like VENUE=URL")
        endpoints[venue.strip().lower()] = url.strip()
    config = CaptureConfig(subs, args.to, args.redis, endpoints, args.channels.split(","), args.metrics_port)
    tty = sys.stderr.isatty()

    def status(elapsed: float, rows: list[tuple[int, int, int, int]]) -> None:
        msgs, raw, sent, dropped = (sum(r[i] for r in rows) for i in range(4))
        line = (f"{elapsed:7.0f}s  {len(rows)} worker(s)  messages {msgs:,}  raw {raw:,}  redis {sent:,}  "
                f"dropped {dropped:,}")
        print(("\r" + line) if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)

    target = ", ".join(x for x in (args.to, args.redis and redact_url(args.redis)) if x)
    print(f"capturing {len(subs)} subscription(s) to {target}; Ctrl-C stops cleanly", file=sys.stderr)
    rows = run_capture(config, args.workers, args.duration, status)
    msgs, raw, sent, dropped = (sum(r[i] for r in rows) for i in range(4))
    print(f"\nstopped: {msgs:,} messages, {raw:,} raw frames written, {sent:,} events to redis, {dropped:,} dropped",
          file=sys.stderr)
    return 0
