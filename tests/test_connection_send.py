"""``Connection.send()`` when the socket is gone: a clear error at once, never a hang (real loopback server)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from livefeed.connection import Connection, ConnectionOptions, ConnectionState

OPTIONS = ConnectionOptions(backoff_initial=30.0, backoff_cap=30.0, ping_interval=None, open_timeout=5.0)
"""A long backoff: after the drop the connection stays disconnected for the whole test."""


async def test_send_after_the_connection_noticed_the_drop_raises_connection_error_naming_it() -> None:
    async def hang_up(ws: Any) -> None:
        await ws.close()

    async with serve(hang_up, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}/"
        conn = Connection(url, name="probe", on_frame=lambda f, t: None, options=OPTIONS)
        task = asyncio.create_task(conn.run())
        try:
            async with asyncio.timeout(10):  # a hang guard
                while conn.stats.state != ConnectionState.BACKOFF:
                    await conn.wait_state_change()
                assert conn.stats.connects == 1 and not conn.connected
                with pytest.raises(ConnectionError, match=r"^probe is not connected$"):
                    await conn.send('{"op": "subscribe"}')
        finally:
            await conn.close()
            await task


async def test_send_on_a_socket_the_peer_closed_before_the_reader_saw_it_raises_connection_error() -> None:
    """The subscribe step runs before the read loop starts: a peer that hung up by then must make ``send`` fail
    with the close code, not wait for a socket that will never drain."""
    peer_closed = asyncio.Event()
    raised: list[BaseException] = []

    async def hang_up(ws: Any) -> None:
        await ws.close(1001, "going away")
        peer_closed.set()

    async def subscribe(conn: Connection) -> None:
        await peer_closed.wait()
        try:
            await conn.send('{"op": "subscribe"}')
        except BaseException as exc:
            raised.append(exc)
            raise

    async with serve(hang_up, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}/"
        conn = Connection(url, name="probe", on_frame=lambda f, t: None, on_connect=subscribe, options=OPTIONS)
        task = asyncio.create_task(conn.run())
        try:
            async with asyncio.timeout(10):  # a hang guard
                while conn.stats.state != ConnectionState.BACKOFF:
                    await conn.wait_state_change()
        finally:
            await conn.close()
            await task
    assert len(raised) == 1 and isinstance(raised[0], ConnectionError)  # one type for callers to catch
    assert str(raised[0]).startswith("probe: send failed: received 1001 (going away)")
    closed = raised[0].__cause__
    assert isinstance(closed, ConnectionClosed) and closed.rcvd is not None and closed.rcvd.code == 1001
    # the failed subscribe ended that session like a lost connection: recorded, then a reconnect is scheduled
    assert conn.stats.last_error.startswith("connection lost: ConnectionError: probe: send failed")
