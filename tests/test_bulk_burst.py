"""A burst of frames written at once is drained completely, in order, on every transport (real loopback server).

An exchange (or a replay, or the kernel after a stall) can hand the client megabytes at once. The connection must
hand on every frame, in order, without a reconnect, and must not hold the event loop for the whole burst: other
tasks (a book's REST snapshot) need their turn while it drains.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest
from websockets.asyncio.server import serve

from livefeed import connection
from livefeed.connection import Connection, ConnectionOptions, ConnectionState

FRAMES = 20_000
OPTIONS = ConnectionOptions(ping_interval=None, backoff_initial=30.0, backoff_cap=30.0, open_timeout=5.0)
TRANSPORTS = ["websockets", pytest.param("picows", marks=pytest.mark.skipif(
    connection.picows is None, reason="picows is not installed (the [fast] extra)"))]


def payloads(n: int) -> list[bytes]:
    return [b'{"seq":%d,"pad":"%s"}' % (i, b"x" * (i % 97)) for i in range(n)]


def encoded(frames: list[bytes]) -> bytes:
    """The frames as one blob of unmasked server-to-client text frames (RFC 6455), as a bulk writer sends them."""
    out = []
    for payload in frames:
        n = len(payload)
        header = struct.pack("!BB", 0x81, n) if n < 126 else struct.pack("!BBH", 0x81, 126, n)
        out += (header, payload)
    return b"".join(out)


async def burst_server(blob: bytes, close_after: bool) -> Any:
    async def handler(ws: Any) -> None:
        ws.transport.write(blob)  # the whole burst in one write: the kernel and the transport buffer it all
        if close_after:
            await ws.close()
        await ws.wait_closed()

    return serve(handler, "127.0.0.1", 0, compression=None)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("close_after", [False, True], ids=["stays-open", "closes-after"])
async def test_a_bulk_burst_is_drained_completely_in_order(
    transport: str, close_after: bool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connection, "TRANSPORT", transport)
    sent = payloads(FRAMES)
    received: list[str | bytes] = []
    between_turns: list[int] = []
    got_all = asyncio.Event()

    def on_frame(frame: str | bytes, receipt_ns: int, conn: Connection) -> None:
        received.append(frame)
        if len(received) == FRAMES:
            got_all.set()

    async def other_task() -> None:
        """Another task on the loop: notes how many frames were handed on between two of its turns."""
        seen = 0
        while not got_all.is_set():
            await asyncio.sleep(0)
            between_turns.append(len(received) - seen)
            seen = len(received)

    async with await burst_server(encoded(sent), close_after) as server:
        url = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}/"
        conn = Connection(url, name="burst", on_frame=on_frame, options=OPTIONS)
        task = asyncio.create_task(conn.run())
        other = asyncio.create_task(other_task())
        try:
            async with asyncio.timeout(60):  # a hang guard, not a timing assertion
                await got_all.wait()
                if close_after:
                    while conn.stats.state != ConnectionState.BACKOFF:
                        await conn.wait_state_change()
        finally:
            await conn.close()
            await task
            other.cancel()
    assert [f.encode() if isinstance(f, str) else f for f in received] == sent
    assert all(isinstance(f, str) for f in received)  # text frames arrive as str on every transport
    assert conn.stats.messages == FRAMES and conn.stats.malformed == 0
    assert conn.stats.connects == 1 and conn.stats.stale_timeouts == 0
    if transport == "picows":  # the burst is spread over loop turns: no turn hands on more than two budgets
        assert max(between_turns) <= 2 * connection.PicowsSocket.FRAMES_PER_TICK
        assert len(between_turns) >= FRAMES // (2 * connection.PicowsSocket.FRAMES_PER_TICK)
