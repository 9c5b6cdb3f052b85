"""Credentials in endpoint URLs never reach a log record, an error, a repr, a stats row, a metric, a raw capture
file or an export (issue 10).

Every venue runs against its simulator through ``http://alice:S3cret@...`` / ``ws://alice:S3cret@...`` endpoints
with every logger at DEBUG (httpx logs request URLs at INFO, websockets the request line and headers at DEBUG);
the Ethereum source runs against a real anvil through ``ws://alice:S3cret@...?apikey=...`` at DEBUG.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import zstandard

from livefeed import Feed, LivefeedError
from livefeed.chain.devnode.anvil import Anvil
from livefeed.redact import redact_text, redact_url
from livefeed.sim import SIMULATORS
from livefeed.sinks.raw_capture import read_capture

from .chain.conftest import anvil_binary
from .conftest import FAST, free_port, synced, until

PASSWORD = "S3cret"
API_KEY = "K3yK3yK3y0123"
VENUES = ("binance", "coinbase", "kraken", "bybit", "okx")
BASIC_AUTH = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
"""What ``alice:S3cret@`` becomes in an ``Authorization: Basic`` header."""
WS_QUERY_ALLOWED = {"coinbase", "kraken", "bybit", "okx"}
"""Venues whose WebSocket URL may carry ``?apikey=``; Binance appends ``/stream`` to its base URL. No venue's REST
URL may carry a query: httpx drops a base URL's query when it joins the request path."""


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
    assert BASIC_AUTH not in text, f"the Basic auth credentials leaked into {where}"


def file_text(path: Path) -> str:
    """Everything a file holds, readable: zstd captures decompressed (every frame), Parquet read back as a table
    (its pages are compressed) as well as its raw bytes."""
    data = path.read_bytes()
    if path.name.endswith(".zst"):
        with zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True) as reader:
            data = reader.read()
    text = data.decode("latin-1")
    if path.suffix == ".parquet":
        text += pd.read_parquet(path).to_csv()
    return text


def assert_tree_clean(directory: Path) -> int:
    """No file name, directory name or file content under ``directory`` holds a secret; returns the file count."""
    files = 0
    for path in sorted(directory.rglob("*")):
        where = str(path.relative_to(directory))
        assert_clean(where, f"the path {where}")
        if path.is_file():
            assert_clean(file_text(path), where)
            files += 1
    return files


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
                "connections": " ".join(repr(c) for c in feed.connections),
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
    port = free_port()  # nobody listens here
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
                    "adapter": repr(feed.sources[0])}
            up = [line for line in metrics.splitlines() if line.startswith("livefeed_connection_up{")]
    assert any(r.name.startswith(("web3", "websockets")) for r in caplog.records)  # the libraries did log
    seen["logs"] = everything_logged(caplog)
    for where, text in seen.items():
        assert_clean(text, where)
    assert up and up[0].endswith(" 1.0")  # the chain's "live" state counts as up
    assert 'livefeed_events_total{symbol="",type="Block",venue="eth"}' in metrics  # chain events are counted


@pytest.mark.parametrize("venue", VENUES)
async def test_no_secret_in_a_venue_capture_or_export(venue: str, tmp_path: Path) -> None:
    async with SIMULATORS[venue](symbols=["BTC-USDT"], seed=4, interval=0.01) as sim:
        ws = with_credentials(sim.ws_url)
        if venue in WS_QUERY_ALLOWED:
            ws += f"?apikey={API_KEY}"
        endpoints = {"ws": ws, "rest": with_credentials(sim.rest_url)}
        feed = Feed([f"{venue}:BTC-USDT"], channels=["trades", "book"], endpoints={venue: endpoints},
                    connection=FAST, raw_capture=tmp_path / "capture")
        async with feed:
            await until(feed, lambda: synced(feed) and len(feed.trades) > 0, what=f"{venue} data")
    exported = [*feed.export(tmp_path / "parquet", "parquet").values(), *feed.export(tmp_path / "csv", "csv").values()]
    records = list(read_capture(tmp_path / "capture"))
    assert any(r.is_rest for r in records) and any(not r.is_rest for r in records)  # REST bodies and WS frames
    assert {"trades.parquet", "trades.csv"} <= {path.name for path in exported}
    assert assert_tree_clean(tmp_path) >= 5  # a capture file, two Parquet parts, two CSV files at least


async def test_no_secret_in_the_ethereum_capture_or_export(tmp_path: Path) -> None:
    async with Anvil(binary=anvil_binary()) as node:
        host_port = node.ws_url.split("://", 1)[1].rstrip("/")
        url = f"ws://alice:{PASSWORD}@{host_port}/?apikey={API_KEY}"
        feed = Feed(["eth:newHeads"], endpoints={"eth": url}, connection=FAST, raw_capture=tmp_path / "capture")
        async with feed:
            await node.mine(2)
            await until(feed, lambda: len(feed.blocks) >= 2, what="blocks")
    exported = [*feed.export(tmp_path / "parquet", "parquet").values(), *feed.export(tmp_path / "csv", "csv").values()]
    assert {"blocks.parquet", "blocks.csv"} <= {path.name for path in exported}
    # The chain source taps no raw frames today (its capture directory stays empty); whatever it records is checked.
    assert assert_tree_clean(tmp_path) >= 2
