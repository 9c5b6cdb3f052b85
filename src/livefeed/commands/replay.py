"""``livefeed replay FILE``: serve a raw capture again on loopback (see :mod:`livefeed.replay`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("replay", help="serve a raw capture (file or directory) to clients, as the venue did")
    p.add_argument("capture", help="a .jsonl.zst capture file or a directory of them")
    p.add_argument("--speed", type=float, default=None,
                   help="1 = captured pace, 10 = ten times faster; default: as fast as the client reads")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--no-hold", action="store_true", help="do not hold frames back for mid-stream REST fetches")


async def _serve(args: argparse.Namespace) -> None:
    from ..replay import CaptureReplay

    replay = CaptureReplay(args.capture, speed=args.speed, port=args.port, hold=not args.no_hold)
    async with replay:
        names = ", ".join(s.name for s in replay.streams)
        print(f"replaying {replay.total_frames} frames ({names}) on {replay.ws_url} / {replay.rest_url}", flush=True)
        print(f"e.g. Feed([...], endpoints={{'<venue>': '{replay.rest_url}'}})  (Ctrl-C stops)", flush=True)
        await replay.done.wait()
        print(f"all {replay.frames_sent} frames sent; serving until Ctrl-C", flush=True)
        await asyncio.Event().wait()


def run(args: argparse.Namespace) -> int:
    if args.speed is not None and args.speed <= 0:
        raise SystemExit("livefeed replay: --speed must be positive")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0
