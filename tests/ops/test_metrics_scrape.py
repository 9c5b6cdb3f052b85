"""Metric VALUES from a real scrape of ``serve_metrics``' ``/metrics`` (HTTP GET, parsed with prometheus_client's
own parser) against a feed on the Binance simulator, each compared with the feed's own counters: what the alert
rules in deploy/ read must be the right field under the right labels, and the lag histogram must hold every
observation in the right bucket."""

from __future__ import annotations

import asyncio
import math
from collections import Counter, defaultdict
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from livefeed import Feed
from livefeed.metrics import LAG_BUCKETS_S, host_allowed
from livefeed.model import Event
from livefeed.sim import BinanceSim
from livefeed.sinks.redis import RedisSink

from ..conftest import FAST, until
from .conftest import free_port

SYMBOLS = ("BTC-USDT", "ETH-USDT")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in samples, f"{name}{labels} not in the scrape"
    return samples[key]


def labelled(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSim]:
    async with BinanceSim(symbols=SYMBOLS, seed=17, interval=0.005, levels=50) as server:
        yield server


async def test_a_scrape_reports_the_feeds_own_counters_under_the_right_labels(sim: BinanceSim) -> None:
    """After malformed frames, a gap, a dropped connection, a Redis sink that cannot reach Redis and a stalled ``events()``
    consumer, with the market paused and the feed caught up, every value the exporter serves equals the counter
    it stands for: per connection (messages, bytes, reconnects, stale timeouts, malformed, last message time, up),
    per book (gaps, resyncs, checksum failures, synced), per event type, per queue (dropped, depth, sink errors)
    and the lag histogram (every bucket, sum and count); then, with the connection refused, ``up`` is 0."""
    # Nothing listens on this port: every write fails. One attempt, then a 60 s backoff: the counters stay put.
    sink = RedisSink(f"redis://127.0.0.1:{free_port()}/0", max_buffered=10, retry_initial=60, retry_cap=60,
                     stop_timeout=0.5)
    feed = Feed([f"binance:{s}" for s in SYMBOLS], channels=["trades", "book", "ticker"],
                endpoints={"binance": sim}, connection=FAST, sinks=[sink], event_queue_size=5)
    async with feed:
        server = feed.serve_metrics(0)  # on the loop, so the count below sees exactly the events it sees
        lags: dict[tuple[str, str], list[float]] = defaultdict(list)
        kinds: Counter[tuple[str, str, str]] = Counter()

        def note(event: Event) -> None:
            kinds[(event.venue, event.symbol, type(event).__name__)] += 1  # type: ignore[attr-defined]
            if getattr(event, "exchange_ts", None) is not None:
                lags[(event.venue, event.symbol)].append(  # type: ignore[attr-defined]
                    (event.receipt_ts - event.exchange_ts) / 1e9)  # type: ignore[attr-defined]

        feed.add_callback(note)
        try:
            consumer = feed.events()
            await anext(consumer)  # a consumer that then stalls: its queue fills and drops
            sim.send_malformed(3)
            await until(feed, lambda: int(feed.stats()["malformed"].sum()) == 3, what="malformed frames counted")
            await until(feed, lambda: bool(feed.book_stats()["synced"].all()), what="books synced")
            sim.skip_updates(1)
            await until(feed, lambda: int(feed.book_stats()["gaps"].min()) >= 1, what="a gap on every book")
            sim.drop_connections()
            await until(feed, lambda: int(feed.stats()["reconnects"].sum()) >= 1
                        and bool(feed.book_stats()["synced"].all()), what="reconnected and synced")
            await until(feed, lambda: sink.errors == 1 and feed.dropped_events > 0, what="drops")
            sim.pause()
            for symbol in SYMBOLS:
                last = sim.last_update_id(symbol)
                await until(feed, lambda s=symbol, n=last: feed.books[("binance", s)].sequence == n,
                            what=f"{symbol} caught up")
            samples = await scrape(server.url)
            counted = Counter(kinds)  # coverage changes keep coming while the connection is down below
            conns, books = feed.stats(), feed.book_stats()
            dropped, depths = feed.dropped_events, feed.queue_depths
            sink_dropped, sink_buffered, sink_errors = sink.dropped, sink.buffered, sink.errors
            await consumer.aclose()
            # and with the connection down: refused on reconnect
            sim.refuse_connections(3600)
            sim.drop_connections()
            conn = feed.connections[0]
            async with asyncio.timeout(20):
                while conn.connected:
                    await conn.wait_state_change()
            down = await scrape(server.url)
            sim.refuse_connections(0)
        finally:
            feed.remove_callback(note)
            await asyncio.to_thread(server.close)

    # per connection
    assert len(conns) >= 1
    for name, row in conns.iterrows():
        labels = {"venue": "binance", "connection": str(name)}
        assert value(samples, "livefeed_messages_total", **labels) == row["messages"] > 0
        assert value(samples, "livefeed_received_bytes_total", **labels) == row["bytes"] > row["messages"]
        assert value(samples, "livefeed_reconnects_total", **labels) == row["reconnects"]
        assert value(samples, "livefeed_stale_timeouts_total", **labels) == row["stale_timeouts"]
        assert value(samples, "livefeed_malformed_frames_total", **labels) == row["malformed"]
        assert row["malformed"] != row["stale_timeouts"]  # so a value read from the wrong field shows
        assert value(samples, "livefeed_last_message_timestamp_seconds", **labels) == row["last_message"].value / 1e9
        assert row["state"] == "connected" and value(samples, "livefeed_connection_up", **labels) == 1.0
        assert value(down, "livefeed_connection_up", **labels) == 0.0
    assert sum(labelled(samples, "livefeed_reconnects_total").values()) >= 1
    # per book (on Binance a gap is what triggers a resync, so those two are equal here)
    for _, row in books.iterrows():
        labels = {"venue": "binance", "symbol": row["symbol"]}
        assert value(samples, "livefeed_book_gaps_total", **labels) == row["gaps"] >= 1
        assert value(samples, "livefeed_book_resyncs_total", **labels) == row["resyncs"]
        assert value(samples, "livefeed_book_checksum_failures_total", **labels) == row["checksum_failures"]
        assert value(samples, "livefeed_book_stale_resyncs_total", **labels) == row["stale_resyncs"]
        assert value(samples, "livefeed_book_synced", **labels) == 1.0
    # per event type
    events = labelled(samples, "livefeed_events_total")
    assert events == {frozenset({"venue": v, "symbol": s, "type": t}.items()): float(n)
                      for (v, s, t), n in counted.items()}
    assert len({t for _, _, t in counted}) >= 3  # trades, book deltas/snapshots and tickers all counted
    # per queue: the stalled consumer and the sink that cannot reach Redis
    assert value(samples, "livefeed_dropped_events_total", queue="feed-consumers") == dropped > 0
    assert value(samples, "livefeed_queue_depth", queue="feed-consumer-0") == depths[0] == 5
    assert value(samples, "livefeed_dropped_events_total", queue="redissink-0") == sink_dropped > 0
    assert value(samples, "livefeed_queue_depth", queue="redissink-0") == sink_buffered == 10
    assert value(samples, "livefeed_sink_errors_total", queue="redissink-0") == sink_errors == 1
    # the lag histogram: cumulative buckets (le = upper bound, inclusive), sum and count per symbol
    assert set(lags) == {("binance", s) for s in SYMBOLS}
    for (venue, symbol), seconds in lags.items():
        labels = {"venue": venue, "symbol": symbol}
        for bound in (*LAG_BUCKETS_S, math.inf):
            le = "+Inf" if bound == math.inf else repr(bound)
            assert value(samples, "livefeed_lag_seconds_bucket", le=le, **labels) == sum(s <= bound for s in seconds)
        assert value(samples, "livefeed_lag_seconds_count", **labels) == len(seconds)
        assert value(samples, "livefeed_lag_seconds_sum", **labels) == pytest.approx(math.fsum(seconds), abs=1e-9)
        inner = [value(samples, "livefeed_lag_seconds_bucket", le=repr(b), **labels) for b in LAG_BUCKETS_S]
        assert inner[-1] > 0 and inner[0] < len(seconds)  # observations spread over buckets, not all in one


def test_the_loopback_guard_reads_the_host_header_as_browsers_send_it() -> None:
    """Rule: the port, letter case, a trailing dot and IPv6 brackets do not change the host named; anything
    that is not exactly an allowed name (a suffix, a prefix, another port-less name) is refused."""
    loopback = ("127.0.0.1", "localhost", "::1")
    for ok in ("127.0.0.1", "127.0.0.1:9464", "LOCALHOST:80", "localhost.", "localhost.:9464", "[::1]", "[::1]:9464",
               "::1"):
        assert host_allowed(ok, loopback), ok
    for refused in ("localhost.evil.example", "evil-localhost", "127.0.0.2", "127.0.0.1.nip.io:9464", "[::2]:9464",
                    "", None, "0.0.0.0"):
        assert not host_allowed(refused, loopback), refused
    assert host_allowed("anything.example:1", ["*"])
    assert not host_allowed("metrics.internal:80", loopback) and host_allowed("metrics.internal:80",
                                                                              [*loopback, "metrics.internal"])
