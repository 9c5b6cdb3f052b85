"""The reconnect backoff of a real :class:`Connection` against a loopback WebSocket server: it grows while connects
fail and starts again from ``backoff_initial`` once a connection has stayed up for ``healthy_after``.

The delay the connection chose is read from the ``rng`` it was given: ``Backoff`` draws the jitter with
``rng.uniform(0, base / 2)``, so recording that call gives the base delay exactly, with no clock involved.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

import pytest
from websockets.asyncio.server import serve

from livefeed.connection import Connection, ConnectionOptions

INITIAL = 0.01


class RecordingRandom(random.Random):
    """A seeded ``random.Random`` that remembers the base delay of every backoff draw."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.bases: list[float] = []

    def uniform(self, a: float, b: float) -> float:
        self.bases.append(round(2 * b, 9))
        return super().uniform(a, b)


@asynccontextmanager
async def fail_fail_fail_accept_then_fail() -> AsyncIterator[str]:
    """Handshakes 1-3 get HTTP 503 (transient), the 4th is accepted and hung up at once, the rest get 503 again."""
    handshakes = 0

    def gate(conn: Any, request: Any) -> Any:
        nonlocal handshakes
        handshakes += 1
        return None if handshakes == 4 else conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "busy\n")

    async def hang_up(ws: Any) -> None:
        await ws.close()

    async with serve(hang_up, "127.0.0.1", 0, process_request=gate) as server:
        yield f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}/stream"


async def backoff_bases(healthy_after: float, attempts: int = 5) -> tuple[list[float], Connection]:
    """The base delays a connection waited before each of its first ``attempts`` reconnects."""
    options = ConnectionOptions(backoff_initial=INITIAL, backoff_cap=1.0, healthy_after=healthy_after,
                                ping_interval=None, open_timeout=5.0)
    rng = RecordingRandom(11)
    async with fail_fail_fail_accept_then_fail() as url:
        conn = Connection(url, name="probe", on_frame=lambda f, t: None, options=options, rng=rng)
        task = asyncio.create_task(conn.run())
        try:
            async with asyncio.timeout(20):
                while len(rng.bases) < attempts:
                    await conn.wait_state_change()
        finally:
            await conn.close()
            await task
    return rng.bases[:attempts], conn


async def test_backoff_starts_again_from_initial_after_a_connection_that_stayed_up_past_healthy_after() -> None:
    """Rule: a drop after ``healthy_after`` of uptime reconnects after ``backoff_initial``, not the grown delay.

    ``healthy_after=0`` makes every accepted connection healthy, so the 4th wait (after the one accepted
    connection) is the initial delay again, and the failures after it grow from there.
    """
    bases, conn = await backoff_bases(healthy_after=0)
    assert conn.stats.connects == 1
    assert bases == pytest.approx([INITIAL, 2 * INITIAL, 4 * INITIAL, INITIAL, 2 * INITIAL])


async def test_backoff_keeps_growing_after_a_connection_shorter_than_healthy_after() -> None:
    """Rule: a connection that drops before ``healthy_after`` does not reset the backoff (a flapping server that
    accepts and hangs up at once must not be hammered at the initial rate)."""
    bases, conn = await backoff_bases(healthy_after=3600)
    assert conn.stats.connects == 1
    assert bases == pytest.approx([INITIAL, 2 * INITIAL, 4 * INITIAL, 8 * INITIAL, 16 * INITIAL])
