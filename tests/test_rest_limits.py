"""REST bodies are bounded: a server streaming an endless listing or snapshot cannot grow the client (issue 10)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from livefeed.registry import adapter_class
from livefeed.source import AdapterOptions, VenueEndpoints
from livefeed.venues.base import DEFAULT_MAX_BODY, ResponseTooLargeError, RestError

MARKET_VENUES = ("binance", "coinbase", "kraken", "bybit", "okx")
LIMIT = 1 * 2**20
SERVED_CAP = 48 * 2**20
"""The endless server gives up after this much, so a client without a limit fails the test instead of the machine."""


class HostileHttp:
    """A loopback HTTP server answering every GET with ``mode``: an endless chunked JSON body, a huge declared
    Content-Length, or an HTML page (a plain web server where the venue's API should be)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sent = 0
        self.requests: list[str] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> HostileHttp:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(request.split(b"\r\n", 1)[0].decode())
            if self.mode == "html":
                page = b"<html><body>It works!</body></html>"
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(page), page))
            elif self.mode == "declared":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{"
                             % (10 * 2**30))
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                chunk = b'{"symbols": [' + b'{"symbol": "X"},' * 4000
                framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
                while self.sent < SERVED_CAP:
                    writer.write(framed)
                    self.sent += len(chunk)
                    await writer.drain()
            await writer.drain()
            writer.close()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass


@pytest.fixture
async def endless() -> AsyncIterator[HostileHttp]:
    async with HostileHttp("endless") as server:
        yield server


def adapter(venue: str, rest: str, **options: object):  # type: ignore[no-untyped-def]
    cls = adapter_class(venue)
    return cls(["BTC-USDT"], ["trades", "book"], lambda e: None, VenueEndpoints(ws="ws://127.0.0.1:9", rest=rest),
               AdapterOptions(**options))  # type: ignore[arg-type]


def test_the_default_limit_is_well_above_the_largest_real_snapshot() -> None:
    assert AdapterOptions().max_body == DEFAULT_MAX_BODY == 64 * 2**20  # Coinbase's full snapshot is ~5.4 MB


@pytest.mark.parametrize("venue", MARKET_VENUES)
async def test_an_endless_listing_is_cut_at_the_limit(venue: str, endless: HostileHttp) -> None:
    a = adapter(venue, endless.url, max_body=LIMIT)
    try:
        async with asyncio.timeout(30):
            with pytest.raises(ResponseTooLargeError, match=r"more than the 1 MiB allowed for a REST body") as info:
                await a.validate()
    finally:
        await a.close()
    assert endless.sent < SERVED_CAP  # the client stopped reading long before the server gave up
    assert venue in str(info.value) and "max_body" in str(info.value)


async def test_a_huge_declared_length_is_refused_before_reading() -> None:
    async with HostileHttp("declared") as server:
        a = adapter("binance", server.url)
        try:
            with pytest.raises(ResponseTooLargeError, match="declares 10,737,418,240 bytes"):
                await a.validate()
        finally:
            await a.close()


async def test_max_body_is_a_venue_option() -> None:
    cls = adapter_class("binance")
    a = cls(["BTC-USDT"], ["book"], lambda e: None, max_body=123)
    assert a.options.max_body == 123
    with pytest.raises(ValueError, match="max_body must be a positive number of bytes"):
        cls(["BTC-USDT"], ["book"], lambda e: None, max_body=-1)


async def test_an_endless_snapshot_is_dropped_and_retried_not_kept(
    endless: HostileHttp, caplog: pytest.LogCaptureFixture
) -> None:
    a = adapter("binance", endless.url, max_body=LIMIT)
    caplog.set_level(logging.WARNING, logger="livefeed.venues.binance")
    try:
        async with asyncio.timeout(30):
            assert await a.fetch_snapshot("BTC-USDT") is None
    finally:
        await a.close()
    assert any("more than the 1 MiB" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("venue", MARKET_VENUES)
async def test_a_plain_web_server_is_named_not_a_json_error(venue: str) -> None:
    async with HostileHttp("html") as server:
        a = adapter(venue, server.url)
        try:
            with pytest.raises(RestError, match=r"answered HTTP 200 with a body that is not JSON \(text/html"):
                await a.validate()
        finally:
            await a.close()
