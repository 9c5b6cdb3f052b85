"""Credentials in endpoint URLs never reach a log record, an error, a repr, a stats row or a metric (issue 10).

Every venue runs against its simulator through ``http://alice:S3cret@...`` / ``ws://alice:S3cret@...`` endpoints
with every logger at DEBUG (httpx logs request URLs at INFO, websockets the request line and headers at DEBUG);
the Ethereum source runs against a real anvil through ``ws://alice:S3cret@...?apikey=...`` at DEBUG.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import urllib.request

import pytest

from livefeed import Feed, LivefeedError
from livefeed.chain.anvil import Anvil
from livefeed.redact import redact_text, redact_url
from livefeed.sim import SIMULATORS

from .chain.conftest import anvil_binary
from .conftest import FAST, synced, until

PASSWORD = "S3cret"
API_KEY = "K3yK3yK3y0123"
VENUES = ("binance", "coinbase", "kraken", "bybit", "okx")


def with_credentials(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://alice:{PASSWORD}@{rest}"


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every record as a handler would write it, tracebacks included."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


async def scrape(url: str) -> str:
    return await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read().decode())


def assert_clean(text: str, where: str) -> None:
    assert PASSWORD not in text, f"the password leaked into {where}"
    assert API_KEY not in text, f"the API key leaked into {where}"


def test_redaction_of_urls_queries_and_headers() -> None:
    assert redact_url(f"ws://alice:{PASSWORD}@node.example:8546/?apikey={API_KEY}") == "ws://node.example:8546/?…"
    text = redact_text(f"GET http://alice:{PASSWORD}@h/x?limit=5 > GET /ws?apikey={API_KEY}&x=1 "
                       f"alice:{PASSWORD}@127.0.0.1\n> Authorization: Basic YWxpY2U6UzNjcmV0\n")
    assert_clean(text, "redact_text")
    assert "YWxpY2U6UzNjcmV0" not in text and "Authorization: …" in text
    kept = "binance-0: SUBSCRIBE btcusdt@depth@100ms sent to wss://stream.binance.com:9443/stream"
    assert redact_text(kept) == kept  # stream names and plain URLs are left alone


@pytest.mark.parametrize("venue", VENUES)
async def test_no_secret_leaks_from_a_venue_at_debug(venue: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with SIMULATORS[venue](symbols=["BTC-USDT"], seed=4, interval=0.01) as sim:
        endpoints = {"ws": with_credentials(sim.ws_url), "rest": with_credentials(sim.rest_url)}
        feed = Feed([f"{venue}:BTC-USDT"], channels=["trades", "book"], endpoints={venue: endpoints},
                    connection=FAST)
        async with feed:
            await until(feed, lambda: synced(feed) and len(feed.trades) > 0, what=f"{venue} data")
            server = feed.serve_metrics(port=0)
            try:
                metrics = await scrape(server.url)
            finally:
                server.close()
            seen = {
                "repr(feed)": repr(feed),
                "connections": " ".join(repr(c) for a in feed._adapters for c in a.connections),
                "stats()": feed.stats().to_string(),
                "book_stats()": feed.book_stats().to_string(),
                "metrics": metrics,
            }
    assert any(venue in r.name or "httpx" in r.name for r in caplog.records)  # the libraries did log
    seen["logs"] = everything_logged(caplog)
    for where, text in seen.items():
        assert_clean(text, where)


@pytest.mark.parametrize("venue", VENUES)
async def test_a_failed_listing_error_has_no_secret(venue: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here
    rest = f"http://alice:{PASSWORD}@127.0.0.1:{port}"
    feed = Feed([f"{venue}:BTC-USDT"], endpoints={venue: {"ws": f"ws://alice:{PASSWORD}@127.0.0.1:{port}",
                                                          "rest": rest}})
    with pytest.raises(LivefeedError, match=f"{venue}: could not list") as info:
        async with feed:
            pass
    assert f"127.0.0.1:{port}" in str(info.value)  # still says where
    assert_clean(str(info.value), "the error")
    assert_clean(repr(feed), "repr(feed)")
    assert_clean(everything_logged(caplog), "logs")


async def test_no_secret_leaks_from_the_ethereum_source_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with Anvil(binary=anvil_binary()) as node:
        host_port = node.ws_url.split("://", 1)[1].rstrip("/")
        url = f"ws://alice:{PASSWORD}@{host_port}/?apikey={API_KEY}"
        feed = Feed(["eth:newHeads"], endpoints={"eth": url}, connection=FAST)
        async with feed:
            server = feed.serve_metrics(port=0)
            try:
                await node.mine(2)
                await until(feed, lambda: len(feed.blocks) >= 2, what="blocks")
                metrics = await scrape(server.url)
            finally:
                server.close()
            seen = {"repr(feed)": repr(feed), "stats()": feed.stats().to_string(), "metrics": metrics,
                    "adapter": repr(feed._adapters[0])}
            up = [line for line in metrics.splitlines() if line.startswith("livefeed_connection_up{")]
    assert any(r.name.startswith(("web3", "websockets")) for r in caplog.records)  # the libraries did log
    seen["logs"] = everything_logged(caplog)
    for where, text in seen.items():
        assert_clean(text, where)
    assert up and up[0].endswith(" 1.0")  # the chain's "live" state counts as up
    assert 'livefeed_events_total{symbol="",type="Block",venue="eth"}' in metrics  # chain events are counted
