from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import pytest
from websockets.asyncio.server import serve

from livefeed import ConfigError, Feed
from livefeed.connection import (
    Backoff,
    Connection,
    ConnectionOptions,
    ConnectionState,
    FatalConnectionError,
    redact_url,
)
from livefeed.sim import BinanceSim


def test_backoff_grows_is_capped_and_resets() -> None:
    backoff = Backoff(initial=1.0, factor=2.0, cap=8.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(6)]
    bases = [1, 2, 4, 8, 8, 8]
    for delay, base in zip(delays, bases, strict=True):
        assert base / 2 <= delay <= base  # equal jitter: half fixed, half random
    assert len(set(delays)) == len(delays)  # jittered, not lock-step
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_redact_url_hides_keys() -> None:
    assert redact_url("wss://mainnet.infura.io/ws/v3/0123456789abcdef0123456789abcdef") == "wss://mainnet.infura.io/ws/…"
    assert redact_url("wss://user:secret@node.example:8546/?apikey=XYZ") == "wss://node.example:8546/?…"
    assert redact_url("wss://stream.binance.com:9443/stream") == "wss://stream.binance.com:9443/stream"
    assert "secret" not in redact_url("https://eth.example/secretsecretsecretsecret1234")


# -- options validated at the call (issue 10) ----------------------------------------------------------------------

BAD_OPTIONS = [
    ({"stale_after": 0}, "stale_after must be a finite number of seconds > 0"),
    ({"stale_after": -1}, "stale_after must be"),
    ({"stale_after": float("nan")}, "stale_after must be"),
    ({"stale_after": float("inf")}, "stale_after must be"),
    ({"open_timeout": 0}, "open_timeout must be"),
    ({"open_timeout": "10"}, "open_timeout must be"),
    ({"ping_interval": 0}, "ping_interval must be a finite number of seconds > 0 or None"),
    ({"ping_timeout": -5}, "ping_timeout must be"),
    ({"max_size": -1}, "max_size must be a positive number of bytes or None"),
    ({"max_size": 0}, "max_size must be"),
    ({"max_size": 1.5}, "max_size must be"),
    ({"backoff_initial": 0}, "backoff_initial must be"),
    ({"backoff_cap": -1}, "backoff_cap must be"),
    ({"backoff_initial": 5, "backoff_cap": 1}, r"backoff_cap \(1\) must be >= backoff_initial \(5\)"),
    ({"healthy_after": -1}, r"healthy_after must be a finite number of seconds >= 0"),
    ({"stale_after": True}, "stale_after must be"),
    ({"tap": "print"}, "tap must be callable"),
]


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS, ids=[str(o) for o, _ in BAD_OPTIONS])
def test_nonsense_options_are_refused_with_what_is_allowed(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ConnectionOptions(**options)


def test_sensible_options_are_accepted() -> None:
    ConnectionOptions(ping_interval=None, ping_timeout=None, max_size=None, healthy_after=0, stale_after=0.5)


# -- fatal vs transient connect errors, against real servers (issue 10) --------------------------------------------


@contextlib.asynccontextmanager
async def raw_server(answer: bytes | None) -> AsyncIterator[int]:
    """A loopback TCP server answering whatever arrives first with ``answer`` (None: accepts, never answers).

    Like a real plain web server, it answers a TLS ClientHello too (with its HTTP reply, which TLS cannot parse).
    """
    held: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await reader.read(65536)
            if answer is not None:
                writer.write(answer)
                await writer.drain()
                writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def refusing_ws(status: HTTPStatus) -> AsyncIterator[int]:
    """A real WebSocket server that answers every handshake with ``status``."""

    async def handler(ws: Any) -> None:  # never reached
        await ws.close()

    async with serve(handler, "127.0.0.1", 0, process_request=lambda conn, req: conn.respond(status, "no\n")) as srv:
        yield int(next(iter(srv.sockets)).getsockname()[1])


PLAIN_HTTP = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\r\nIt works!"
FAST_FAIL = ConnectionOptions(backoff_initial=0.01, backoff_cap=0.02, ping_interval=None, open_timeout=0.3)


async def run_until_settled(url: str, attempts: int = 3) -> tuple[Connection, asyncio.Task[None]]:
    """Run a connection until it has failed for good or retried ``attempts`` times."""
    conn = Connection(url, name="probe", on_frame=lambda f, t: None, options=FAST_FAIL, rng=random.Random(5))
    task = asyncio.create_task(conn.run())
    async with asyncio.timeout(20):
        while not task.done() and conn.stats.reconnects < attempts:
            await conn.wait_state_change()
    return conn, task


@pytest.mark.parametrize("status", [HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND])
async def test_http_refusals_on_connect_are_fatal(status: HTTPStatus, caplog: pytest.LogCaptureFixture) -> None:
    async with refusing_ws(status) as port:
        conn, task = await run_until_settled(f"ws://127.0.0.1:{port}/stream")
    assert task.done() and task.exception() is None  # ended, not crashed
    assert conn.stats.state == ConnectionState.FAILED == "failed"
    assert conn.stats.reconnects == 0
    assert f"HTTP {status.value}" in conn.stats.last_error
    with pytest.raises(FatalConnectionError, match=f"HTTP {status.value} .*not retrying"):
        await conn.wait_first_attempt()
    assert any(r.levelno == logging.ERROR and f"HTTP {status.value}" in r.getMessage() for r in caplog.records)


async def test_a_plain_http_server_is_fatal_and_named() -> None:
    async with raw_server(PLAIN_HTTP) as port:
        conn, _ = await run_until_settled(f"ws://127.0.0.1:{port}/stream")
    assert conn.stats.state == ConnectionState.FAILED
    assert "HTTP 200 instead of a WebSocket upgrade: not a WebSocket endpoint" in conn.stats.last_error


async def test_tls_to_a_plain_port_is_fatal_and_named() -> None:
    async with raw_server(PLAIN_HTTP) as port:
        conn, _ = await run_until_settled(f"wss://127.0.0.1:{port}/stream")
    assert conn.stats.state == ConnectionState.FAILED
    assert "TLS handshake failed" in conn.stats.last_error and "plain (non-TLS) port" in conn.stats.last_error


async def test_a_black_hole_is_transient_with_a_reason() -> None:
    async with raw_server(None) as port:
        conn, task = await run_until_settled(f"ws://127.0.0.1:{port}/stream", attempts=2)
        assert not task.done()  # keeps retrying
        assert conn.fatal_error is None
        assert conn.stats.last_error == "connect failed: no answer to the WebSocket handshake within 0.3 s " \
                                        "(open_timeout)"
        await conn.close()
        await task


async def test_a_refused_port_and_a_server_error_are_transient() -> None:
    async with refusing_ws(HTTPStatus.SERVICE_UNAVAILABLE) as port:
        conn, task = await run_until_settled(f"ws://127.0.0.1:{port}/stream", attempts=2)
        assert not task.done() and "HTTP 503" in conn.stats.last_error
        await conn.close()
        await task
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    conn, task = await run_until_settled(f"ws://127.0.0.1:{closed}/stream", attempts=2)
    assert not task.done() and conn.stats.last_error.startswith("connect failed: connection refused")
    await conn.close()
    await task


async def test_a_fatal_error_during_start_raises_and_leaves_nothing_running() -> None:
    async with BinanceSim(symbols=["BTC-USDT"], seed=1) as sim, refusing_ws(HTTPStatus.UNAUTHORIZED) as port:
        feed = Feed(["binance:BTC-USDT"], endpoints={"binance": {"ws": f"ws://127.0.0.1:{port}",
                                                                 "rest": sim.rest_url}}, connection=FAST_FAIL)
        with pytest.raises(FatalConnectionError, match="HTTP 401 unauthorized on the WebSocket handshake"):
            async with feed:
                pass
        assert not feed.running


async def test_a_fatal_error_after_start_ends_that_venue_and_shows_in_stats() -> None:
    handshakes = 0

    def first_only(conn: Any, request: Any) -> Any:
        nonlocal handshakes
        handshakes += 1
        return None if handshakes == 1 else conn.respond(HTTPStatus.FORBIDDEN, "key revoked\n")

    async def hang_up(ws: Any) -> None:
        await ws.close()

    async with BinanceSim(symbols=["BTC-USDT"], seed=1) as sim, \
            serve(hang_up, "127.0.0.1", 0, process_request=first_only) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        feed = Feed(["binance:BTC-USDT"], endpoints={"binance": {"ws": f"ws://127.0.0.1:{port}",
                                                                 "rest": sim.rest_url}}, connection=FAST_FAIL)
        async with feed:
            conn = feed.connections[0]
            async with asyncio.timeout(20):
                while conn.stats.state != ConnectionState.FAILED:
                    await conn.wait_state_change()
            row = feed.stats().iloc[0]
    assert row["state"] == "failed" and row["connects"] == 1
    assert row["last_error"] == "connect failed: HTTP 403 forbidden on the WebSocket handshake"
