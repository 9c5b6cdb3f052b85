"""Long outages: every retry loop keeps retrying at its cap, however many attempts fail (issue 10)."""

from __future__ import annotations

import asyncio
import random
import socket

from livefeed.connection import Backoff, Connection, ConnectionOptions, ConnectionState

ATTEMPTS = 10_000
FAILED_CONNECTS = 1_500
"""More than the 1,025 failures after which ``factor ** attempts`` overflowed a float."""


def closed_port() -> int:
    """A loopback port nobody listens on: every connect is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_backoff_retries_forever_at_the_cap() -> None:
    backoff = Backoff(initial=0.5, factor=2.0, cap=30.0, rng=random.Random(1))
    delays = [backoff.next_delay() for _ in range(ATTEMPTS)]
    assert backoff.attempts == ATTEMPTS
    assert all(15.0 <= d <= 30.0 for d in delays[10:])  # at the cap, equal jitter: half fixed, half random
    assert delays[0] <= 0.5
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_backoff_with_a_large_factor_does_not_overflow() -> None:
    backoff = Backoff(initial=1.0, factor=1e6, cap=5.0, rng=random.Random(2))
    assert backoff.next_delay() <= 1.0
    assert all(2.5 <= backoff.next_delay() <= 5.0 for _ in range(ATTEMPTS))


async def test_connection_survives_thousands_of_failed_connects() -> None:
    options = ConnectionOptions(backoff_initial=1e-5, backoff_cap=1e-5, ping_interval=None, open_timeout=1.0)
    conn = Connection(f"ws://127.0.0.1:{closed_port()}/stream", name="outage", on_frame=lambda f, t: None,
                      options=options, rng=random.Random(3))
    task = asyncio.create_task(conn.run())
    async with asyncio.timeout(120):
        while conn.stats.reconnects < FAILED_CONNECTS:
            await conn.wait_state_change()
            assert not task.done(), task.exception()
    assert conn.stats.state in (ConnectionState.CONNECTING, ConnectionState.BACKOFF)
    assert conn.fatal_error is None  # refused is transient: it keeps trying
    assert conn.stats.last_error.startswith("connect failed: connection refused")
    await conn.close()
    async with asyncio.timeout(10):
        await task  # ends cleanly, no OverflowError
    assert conn.stats.state == ConnectionState.CLOSED
    assert conn.stats.reconnects >= FAILED_CONNECTS
