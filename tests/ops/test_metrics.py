"""The Prometheus endpoint over real HTTP while the simulator injects faults, and the shipped alert rules and
dashboard checked against the metrics the exporter really serves."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from livefeed import Feed
from livefeed.sim import BinanceSim

from ..conftest import TOLERANT, until
from .conftest import need_binary

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "livefeed-alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "livefeed-dashboard.json"


def sample(text: str, name: str, **labels: str) -> float:
    """The summed value of ``name`` samples whose labels include ``labels``."""
    total, found = 0.0, False
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:{{(.*)}})? (\S+)$", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            total, found = total + float(match.group(2)), True
    assert found, f"{name}{labels} not in the scrape"
    return total


@pytest.fixture
async def feed() -> AsyncIterator[tuple[Feed, BinanceSim]]:
    async with BinanceSim(symbols=("BTC-USDT",), seed=5, interval=0.01, levels=50) as sim:
        f = Feed(["binance:BTC-USDT"], ["trades", "book", "ticker"], endpoints={"binance": sim}, connection=TOLERANT)
        async with f:
            yield f, sim


async def scrape(url: str) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    return response.text


async def test_counters_move_when_faults_are_injected(feed: tuple[Feed, BinanceSim]) -> None:
    f, sim = feed
    server = await asyncio.to_thread(f.serve_metrics, 0)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        await until(f, lambda: bool(f.book_stats()["synced"].all()), what="book synced")
        before = await scrape(server.url)
        assert sample(before, "livefeed_messages_total", venue="binance") > 0
        assert sample(before, "livefeed_book_synced", symbol="BTC-USDT") == 1
        # the lag histogram's buckets and sum are checked value by value in test_metrics_scrape.py
        reconnects = sample(before, "livefeed_reconnects_total")
        gaps = sample(before, "livefeed_book_gaps_total", symbol="BTC-USDT")

        sim.skip_updates(1)
        await until(f, lambda: int(f.book_stats()["gaps"].sum()) > gaps, what="a gap")
        sim.drop_connections()
        await until(f, lambda: int(f.stats()["connects"].sum()) >= 2, what="a reconnect")
        after = await scrape(server.url)
        assert sample(after, "livefeed_reconnects_total") > reconnects
        assert sample(after, "livefeed_book_gaps_total", symbol="BTC-USDT") > gaps
        assert sample(after, "livefeed_book_resyncs_total", symbol="BTC-USDT") >= 1
        assert sample(after, "livefeed_messages_total") > sample(before, "livefeed_messages_total")
    finally:
        await asyncio.to_thread(server.close)


def test_alert_rules_pass_promtool() -> None:
    promtool = need_binary("promtool")
    result = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


async def test_rules_and_dashboard_only_use_metrics_a_real_scrape_serves(feed: tuple[Feed, BinanceSim]) -> None:
    """Every ``livefeed_*`` name in the alert rules and the dashboard is a sample name of a real scrape (with an
    ``events()`` consumer, so the per-queue gauges are there too), not of a hand-written list."""
    f, _ = feed
    server = await asyncio.to_thread(f.serve_metrics, 0)
    try:
        consumer = f.events()
        await anext(consumer)
        await until(f, lambda: bool(f.book_stats()["synced"].all()) and len(f.trades) > 0, what="book and trades")
        text = await scrape(server.url)
        await consumer.aclose()
    finally:
        await asyncio.to_thread(server.close)
    served = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    assert {"livefeed_lag_seconds_bucket", "livefeed_queue_depth", "livefeed_dropped_events_total"} <= served
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]] + [RULES.read_text()]
    used = {name for expr in exprs for name in re.findall(r"\blivefeed_[a-z_]+", expr)}
    assert used and used <= served, used - served


# -- Host header check and chain events (issue 10) -----------------------------------------------------------------

HOSTILE_HOSTS = ["evil.example", "evil.example:9464", "127.0.0.1.evil.example", "attacker.localhost.example",
                 "10.0.0.1", ""]


async def test_only_loopback_host_headers_are_answered(feed: tuple[Feed, BinanceSim]) -> None:
    f, _ = feed
    server = await asyncio.to_thread(f.serve_metrics, 0)
    try:
        async with httpx.AsyncClient() as client:
            for host in ("127.0.0.1", f"127.0.0.1:{server.port}", "localhost", f"localhost:{server.port}",
                         "[::1]:9464"):
                response = await client.get(server.url, headers={"Host": host})
                assert response.status_code == 200, host
            for host in HOSTILE_HOSTS:  # a DNS-rebinding page sends its own name
                response = await client.get(server.url, headers={"Host": host})
                assert response.status_code == 403, host
                assert "livefeed_" not in response.text
    finally:
        await asyncio.to_thread(server.close)


async def test_allowed_hosts_opens_other_names(feed: tuple[Feed, BinanceSim]) -> None:
    from livefeed.metrics import serve_metrics

    f, _ = feed
    server = await asyncio.to_thread(lambda: serve_metrics(f, 0, allowed_hosts=["metrics.internal"]))
    try:
        async with httpx.AsyncClient() as client:
            assert (await client.get(server.url, headers={"Host": "metrics.internal:80"})).status_code == 200
            assert (await client.get(server.url)).status_code == 403  # 127.0.0.1 is not in the list given
    finally:
        await asyncio.to_thread(server.close)


async def test_chain_events_are_counted_not_an_error(feed: tuple[Feed, BinanceSim],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    from livefeed.chain.events import Block, PendingTx

    f, _ = feed
    server = await asyncio.to_thread(f.serve_metrics, 0)
    try:
        await until(f, lambda: len(f.trades) > 0, what="trades")
        block = Block(1, "0xab", "0xaa", 1_000_000_000, 7, 21_000, 30_000_000, 1, 2_000_000_000)
        server.collector.observe(block)  # what the feed's callback does with every chain event
        server.collector.observe(PendingTx("0x01", None, None, None, None, 2_000_000_000))
        text = await scrape(server.url)
    finally:
        await asyncio.to_thread(server.close)
    assert sample(text, "livefeed_events_total", venue="eth", type="Block") == 1
    assert sample(text, "livefeed_events_total", venue="eth", type="PendingTx") == 1
    assert sample(text, "livefeed_connection_up", venue="binance") == 1
