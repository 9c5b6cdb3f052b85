"""``livefeed replay FILE``: serve a raw capture again on loopback (see :mod:`livefeed.replay`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from ..errors import LivefeedError
from .arguments import check_port_free, port, positive_number

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("replay", help="serve a raw capture (file or directory) to clients, as the venue did")
    p.add_argument("capture", help="a .jsonl.zst capture file or a directory of them")
    p.add_argument("--speed", type=positive_number, default=None,
                   help="1 = captured pace, 10 = ten times faster; default: as fast as the client reads")
    p.add_argument("--port", type=port, default=0)
    p.add_argument("--no-hold", action="store_true", help="do not hold frames back for mid-stream REST fetches")


async def _serve(replay: Any, port_number: int) -> None:
    try:
        await replay.start()
    except OSError as exc:
        raise LivefeedError(f"cannot listen on port {port_number}: {exc.strerror or exc}") from None
    try:
        names = ", ".join(s.name for s in replay.streams)
        print(f"replaying {replay.total_frames} frames ({names}) on {replay.ws_url} / {replay.rest_url}", flush=True)
        print(f"e.g. Feed([...], endpoints={{'<venue>': '{replay.rest_url}'}})  (Ctrl-C stops)", flush=True)
        await replay.done.wait()
        print(f"all {replay.frames_sent} frames sent; serving until Ctrl-C", flush=True)
        await asyncio.Event().wait()
    finally:
        await replay.stop()


def run(args: argparse.Namespace) -> int:
    from ..replay import CaptureReplay

    check_port_free(args.port, "--port")
    try:
        # Read outside the event loop: a long read stays interruptible by Ctrl-C (asyncio.run would defer it).
        replay = CaptureReplay(args.capture, speed=args.speed, port=args.port, hold=not args.no_hold)
    except LivefeedError:
        raise
    except OSError as exc:  # a missing path, a directory without captures, no permission
        raise LivefeedError(f"cannot read capture {args.capture!r}: {exc.strerror or exc}") from None
    except ValueError as exc:  # e.g. a capture without WebSocket frames
        raise LivefeedError(f"{args.capture}: {exc}") from None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(replay, args.port))
    return 0
