"""Feed health as Prometheus metrics, per connection and per symbol, on 127.0.0.1 by default.

Counters already kept by the feed (connection stats, book-sync stats, sink counters) are read when Prometheus
scrapes, so the hot path pays nothing for them. The only per-event work is the exchange-to-receipt lag histogram,
a bisect and an integer increment in a feed callback. Scrapes run on the exporter's HTTP thread and only read
plain integers the loop writes. Rates (messages/s) are ``rate(livefeed_messages_total[1m])`` in PromQL.
"""

from __future__ import annotations

import bisect
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler
from prometheus_client.registry import Collector

from .connection import ConnectionState

__all__ = ["FeedCollector", "MetricsServer", "serve_metrics", "LAG_BUCKETS_S", "LOOPBACK_HOSTS", "host_allowed"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
"""Host header values ``/metrics`` answers by default (any port): a page from another site that rebinds its DNS
name to 127.0.0.1 still sends its own name, so it is refused."""

LAG_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(slots=True)
class _Lag:
    counts: list[int] = field(default_factory=lambda: [0] * (len(LAG_BUCKETS_S) + 1))
    total: float = 0.0
    events: int = 0


class FeedCollector(Collector):
    """A Prometheus collector for one feed (``Feed`` or anything with ``sources``, ``sinks`` and callbacks)."""

    def __init__(self, feed: Any) -> None:
        self.feed = feed
        self._lag: dict[tuple[str, str], _Lag] = {}
        self._events: dict[tuple[str, str, str], int] = {}
        feed.add_callback(self.observe)

    def observe(self, event: Any) -> None:
        """Per event (feed loop): count it and record its exchange-to-receipt lag.

        Market events carry venue, symbol and exchange time; chain events (blocks, transfers, ...) carry
        ``venue="eth"``, a token symbol where they have one, and the block's time as exchange time.
        """
        venue = event.venue
        symbol = getattr(event, "symbol", "")
        key = (venue, symbol)
        kind = (venue, symbol, type(event).__name__)
        self._events[kind] = self._events.get(kind, 0) + 1
        exchange_ts = getattr(event, "exchange_ts", None)
        if exchange_ts is None:
            return
        lag = self._lag.get(key)
        if lag is None:
            lag = self._lag[key] = _Lag()
        seconds = (event.receipt_ts - exchange_ts) / 1e9
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
        stale_books = CounterMetricFamily("livefeed_book_stale_resyncs", "resyncs of a book silent for "
                                          "book_stale_after while its connection was up", labels=sym_labels)
        for source in list(getattr(feed, "sources", ())):
            for s in source.connection_stats():
                labels = [source.name, s.name]
                messages.add_metric(labels, s.messages)
                received.add_metric(labels, s.bytes)
                reconnects.add_metric(labels, s.reconnects)
                stale.add_metric(labels, s.stale_timeouts)
                malformed.add_metric(labels, s.malformed)
                last.add_metric(labels, s.last_message_ns / 1e9)
                up.add_metric(labels, 1.0 if _is_up(s.state) else 0.0)
            for sync in list(getattr(source, "sync", {}).values()):  # market venues keep books; a chain has none
                labels = [sync.venue, sync.symbol]
                gaps.add_metric(labels, sync.gaps)
                resyncs.add_metric(labels, sync.resyncs)
                checksum.add_metric(labels, sync.checksum_failures)
                synced.add_metric(labels, 1.0 if sync.synced else 0.0)
                stale_books.add_metric(labels, sync.stale_resyncs)
        yield from (messages, received, reconnects, stale, malformed, last, up, gaps, resyncs, checksum, synced,
                    stale_books)
        yield from self._audit(feed)

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
        for index, waiting in enumerate(getattr(feed, "queue_depths", ())):
            depth.add_metric([f"feed-consumer-{index}"], waiting)
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


    @staticmethod
    def _audit(feed: Any) -> Iterator[Any]:
        """The live audit (``feed.audit()``): every check of a book by kind and result, each result exported
        from the start (0 until it happens) so ``increase()`` sees the first disagreement; trades filled from REST."""
        from .audit import RESULTS, audit_rows

        checks = CounterMetricFamily("livefeed_audit_checks", "independent checks of a local book (book_ticker, "
                                     "checksum, rest_top) by result", labels=["venue", "symbol", "kind", "result"])
        filled = CounterMetricFamily("livefeed_trades_filled", "trades fetched from REST to fill trade-id holes",
                                     labels=["venue"])
        sources = list(getattr(feed, "sources", ()))
        for row in audit_rows(sources):
            for result in RESULTS:
                checks.add_metric([str(row["venue"]), str(row["symbol"]), str(row["kind"]), result],
                                  int(row[result]))  # type: ignore[call-overload]
        for source in sources:
            filler = getattr(source, "hole_filler", None)
            if filler is not None:
                filled.add_metric([source.name], filler.filled)
        yield from (checks, filled)


def _is_up(state: object) -> bool:
    try:
        return ConnectionState(state).up
    except ValueError:
        return False


def host_allowed(host_header: str | None, allowed: Iterable[str]) -> bool:
    """Whether a request's ``Host`` header (port ignored) names one of ``allowed`` (``"*"`` allows any)."""
    allowed = set(allowed)
    if "*" in allowed:
        return True
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):  # [::1]:9464
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".") in {h.lower().strip("[]") for h in allowed}


def _host_guard(app: Callable[..., Any], allowed: tuple[str, ...]) -> Callable[..., Any]:
    """WSGI middleware: 403 for a Host header outside ``allowed`` (DNS-rebinding protection)."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if host_allowed(environ.get("HTTP_HOST"), allowed):
            return app(environ, start_response)
        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [b"Host not allowed (livefeed metrics answer only loopback host names; see allowed_hosts)\n"]

    return guarded


class MetricsServer:
    """A running exporter: ``url`` to scrape, ``close()`` to stop it. Answers only the ``allowed_hosts``."""

    def __init__(self, collector: FeedCollector, port: int, host: str,
                 allowed_hosts: Iterable[str] | None = None) -> None:
        self.collector = collector
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        if allowed_hosts is None:
            allowed_hosts = LOOPBACK_HOSTS if _is_loopback(host) else (*LOOPBACK_HOSTS, host)
        self.allowed_hosts = tuple(allowed_hosts)
        app = _host_guard(make_wsgi_app(self.registry), self.allowed_hosts)

        class Server(ThreadingWSGIServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

        self._server = make_server(host, port, app, Server, handler_class=_SilentHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="livefeed-metrics", daemon=True)
        self._thread.start()
        self.host = host
        self.port = int(self._server.server_port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def __repr__(self) -> str:
        return f"<MetricsServer {self.url}>"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def serve_metrics(feed: Any, port: int = 9464, host: str = "127.0.0.1",
                  allowed_hosts: Iterable[str] | None = None) -> MetricsServer:
    """Expose ``feed``'s health for Prometheus. Binds loopback unless told otherwise: metrics are not public.

    Requests must name an ``allowed_hosts`` host in their ``Host`` header (default: the loopback names, plus
    ``host`` itself when it is not loopback); ``allowed_hosts=["*"]`` answers any.
    """
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be 0..65535, got {port!r}")
    return MetricsServer(FeedCollector(feed), port, host, allowed_hosts)
