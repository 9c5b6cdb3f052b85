"""Frames as a real server may send them: fragmented messages are reassembled, and one larger than ``max_size``
ends the session with 1009 (then the connection reconnects), on every transport."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.server import serve

import livefeed.connection
from livefeed.connection import Connection, ConnectionOptions, ConnectionState

OPTIONS = ConnectionOptions(backoff_initial=30.0, backoff_cap=30.0, ping_interval=None, open_timeout=5.0,
                            max_size=1_000)


@pytest.fixture(params=["picows", "websockets"])
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "picows" and livefeed.connection.picows is None:
        pytest.skip("picows is not installed (the [fast] extra)")
    monkeypatch.setattr(livefeed.connection, "TRANSPORT", request.param)
    return str(request.param)


async def run_against(handler: Any, until: Any) -> tuple[Connection, list[str | bytes]]:
    """Connect to a loopback server running ``handler``; return once ``until(conn, frames)`` holds."""
    frames: list[str | bytes] = []
    async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
        url = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}/"
        conn = Connection(url, name="probe", on_frame=lambda f, t, c: frames.append(f), options=OPTIONS)
        task = asyncio.create_task(conn.run())
        try:
            async with asyncio.timeout(10):  # a hang guard
                while not until(conn, frames):
                    await conn.wait_state_change() if conn.stats.state != ConnectionState.CONNECTED \
                        else await asyncio.sleep(0.01)
        finally:
            await conn.close()
            await task
    return conn, frames


async def test_fragmented_messages_arrive_whole_text_and_binary(transport: str) -> None:
    async def fragments(ws: Any) -> None:
        await ws.send(["{\"a\":", " 1,", " \"b\": 2}"])  # one text message in three frames
        await ws.send([b"\x00\x01", b"\x02"])  # one binary message in two frames
        await ws.send("whole")
        await ws.wait_closed()

    _, frames = await run_against(fragments, lambda conn, frames: len(frames) >= 3)
    assert frames == ['{"a": 1, "b": 2}', b"\x00\x01\x02", "whole"]


async def test_a_message_over_max_size_ends_the_session_with_1009(transport: str) -> None:
    async def too_big(ws: Any) -> None:
        await ws.send("small")
        await ws.send(["x" * 600, "y" * 600])  # 1,200 bytes in fragments: over the 1,000 allowed
        await ws.wait_closed()

    conn, frames = await run_against(too_big, lambda conn, frames: conn.stats.state == ConnectionState.BACKOFF)
    assert frames == ["small"]  # the oversized message never reaches the adapter
    assert "1009" in conn.stats.last_error and conn.stats.connects == 1
