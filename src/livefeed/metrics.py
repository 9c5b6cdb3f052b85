"""Feed health as Prometheus metrics, per connection and per symbol, on 127.0.0.1 by default.

Counters already kept by the feed (connection stats, book-sync stats, sink counters) are read when Prometheus
scrapes, so the hot path pays nothing for them. The only per-event work is the exchange-to-receipt lag histogram,
a bisect and an integer increment in a feed callback. Scrapes run on the exporter's HTTP thread and only read
plain integers the loop writes. Rates (messages/s) are ``rate(livefeed_messages_total[1m])`` in PromQL.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from .model import Event

__all__ = ["FeedCollector", "MetricsServer", "serve_metrics", "LAG_BUCKETS_S"]

LAG_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(slots=True)
class _Lag:
    counts: list[int] = field(default_factory=lambda: [0] * (len(LAG_BUCKETS_S) + 1))
    total: float = 0.0
    events: int = 0


class FeedCollector(Collector):
    """A Prometheus collector for one feed (``Feed`` or anything with ``_adapters``, ``sinks`` and callbacks)."""

    def __init__(self, feed: Any) -> None:
        self.feed = feed
        self._lag: dict[tuple[str, str], _Lag] = {}
        self._events: dict[tuple[str, str, str], int] = {}
        feed.add_callback(self.observe)

    def observe(self, event: Event) -> None:
        """Per event (feed loop): count it and record its exchange-to-receipt lag."""
        key = (event.venue, event.symbol)
        kind = (event.venue, event.symbol, type(event).__name__)
        self._events[kind] = self._events.get(kind, 0) + 1
        if event.exchange_ts is None:
            return
        lag = self._lag.get(key)
        if lag is None:
            lag = self._lag[key] = _Lag()
        seconds = (event.receipt_ts - event.exchange_ts) / 1e9
        lag.counts[bisect.bisect_left(LAG_BUCKETS_S, seconds)] += 1
        lag.total += seconds
        lag.events += 1

    def collect(self) -> Iterator[Any]:
        feed = self.feed
        conn_labels = ["venue", "connection"]
        messages = CounterMetricFamily("livefeed_messages", "WebSocket frames received", labels=conn_labels)
        received = CounterMetricFamily("livefeed_received_bytes", "WebSocket bytes received", labels=conn_labels)
        reconnects = CounterMetricFamily("livefeed_reconnects", "reconnect attempts", labels=conn_labels)
        stale = CounterMetricFamily("livefeed_stale_timeouts", "reconnects forced by silence", labels=conn_labels)
        malformed = CounterMetricFamily("livefeed_malformed_frames", "frames dropped as unparseable",
                                        labels=conn_labels)
        last = GaugeMetricFamily("livefeed_last_message_timestamp_seconds", "receipt time of the last frame",
                                 labels=conn_labels)
        up = GaugeMetricFamily("livefeed_connection_up", "1 while connected", labels=conn_labels)
        sym_labels = ["venue", "symbol"]
        gaps = CounterMetricFamily("livefeed_book_gaps", "sequence gaps detected", labels=sym_labels)
        resyncs = CounterMetricFamily("livefeed_book_resyncs", "book rebuilds from a snapshot", labels=sym_labels)
        checksum = CounterMetricFamily("livefeed_book_checksum_failures", "book checksum mismatches",
                                       labels=sym_labels)
        synced = GaugeMetricFamily("livefeed_book_synced", "1 while the local book is exact", labels=sym_labels)
        for adapter in list(getattr(feed, "_adapters", [])):
            for conn in list(adapter.connections):
                s, labels = conn.stats, [adapter.name, conn.name]
                messages.add_metric(labels, s.messages)
                received.add_metric(labels, s.bytes)
                reconnects.add_metric(labels, s.reconnects)
                stale.add_metric(labels, s.stale_timeouts)
                malformed.add_metric(labels, s.malformed)
                last.add_metric(labels, s.last_message_ns / 1e9)
                up.add_metric(labels, 1.0 if s.state == "connected" else 0.0)
            for sync in list(adapter.sync.values()):
                labels = [sync.venue, sync.symbol]
                gaps.add_metric(labels, sync.gaps)
                resyncs.add_metric(labels, sync.resyncs)
                checksum.add_metric(labels, sync.checksum_failures)
                synced.add_metric(labels, 1.0 if sync.synced else 0.0)
        yield from (messages, received, reconnects, stale, malformed, last, up, gaps, resyncs, checksum, synced)

        events = CounterMetricFamily("livefeed_events", "normalised events emitted",
                                     labels=["venue", "symbol", "type"])
        for labels, count in list(self._events.items()):
            events.add_metric(list(labels), count)
        yield events
        lag = HistogramMetricFamily("livefeed_lag_seconds", "exchange-to-receipt lag", labels=sym_labels)
        for (venue, symbol), h in list(self._lag.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*LAG_BUCKETS_S, float("inf")), list(h.counts), strict=True):
                cumulative += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            lag.add_metric([venue, symbol], buckets, h.total)
        yield lag

        dropped = CounterMetricFamily("livefeed_dropped_events", "events dropped by a bounded queue",
                                      labels=["queue"])
        depth = GaugeMetricFamily("livefeed_queue_depth", "events waiting in a bounded queue", labels=["queue"])
        dropped.add_metric(["feed-consumers"], getattr(feed, "dropped_events", 0))
        for queue in list(getattr(feed, "_queues", [])):
            depth.add_metric([f"feed-consumer-{id(queue):x}"], queue.qsize())
        sink_errors = CounterMetricFamily("livefeed_sink_errors", "failed sink writes", labels=["queue"])
        for index, sink in enumerate(list(getattr(feed, "sinks", []))):
            name = f"{type(sink).__name__.lower()}-{index}"
            if hasattr(sink, "dropped"):
                dropped.add_metric([name], sink.dropped)
            for attr in ("buffered", "queue_depth"):
                if hasattr(sink, attr):
                    depth.add_metric([name], getattr(sink, attr))
                    break
            if hasattr(sink, "errors"):
                sink_errors.add_metric([name], sink.errors)
        yield from (dropped, depth, sink_errors)
        yield GaugeMetricFamily("livefeed_scrape_timestamp_seconds", "when this scrape was taken", value=time.time())


class MetricsServer:
    """A running exporter: ``url`` to scrape, ``close()`` to stop it."""

    def __init__(self, collector: FeedCollector, port: int, host: str) -> None:
        self.collector = collector
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        self.host = host
        self.port = int(self._server.server_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def __repr__(self) -> str:
        return f"<MetricsServer {self.url}>"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def serve_metrics(feed: Any, port: int = 9464, host: str = "127.0.0.1") -> MetricsServer:
    """Expose ``feed``'s health for Prometheus. Binds loopback unless told otherwise: metrics are not public."""
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be 0..65535, got {port!r}")
    return MetricsServer(FeedCollector(feed), port, host)
