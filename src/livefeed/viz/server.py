"""``serve_dashboard(feed)``: the dashboard as a Bokeh server page on localhost, for scripts and ``livefeed demo``.

Call it from a running asyncio program (the Bokeh server joins that loop through tornado); the feed may run on
the same loop (``async with Feed(...)``) or on its background loop thread (``feed.start()``). Every browser session
gets its own document with its own figures (from :mod:`livefeed.viz.figures`, the same as in the notebook) and one
periodic callback that refreshes them: the Bokeh server holds the document lock around it, and the feed thread
never touches a document. The page loads BokehJS from the server itself, so it works offline.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bokeh.application import Application
from bokeh.application.handlers.function import FunctionHandler
from bokeh.document import Document
from bokeh.layouts import column
from bokeh.models import Div

from .views import DepthView, ImbalanceView, SpreadView, TradesView, View

if TYPE_CHECKING:
    from bokeh.server.server import Server

    from ..feed import Feed

__all__ = ["DashboardServer", "serve_dashboard", "dashboard_document"]


def dashboard_document(feed: Feed, doc: Document, *, band: float = 0.01, period: float = 0.25,
                       rollover: int = 5_000, width: int = 900, venues: Any = None) -> list[View]:
    """Fill ``doc`` with a status line and depth/spread/trades/imbalance views for every subscription (of
    ``venues`` only, when given: a page with every book of a five-venue feed is more than a browser wants)."""
    from .panel import status_text

    views: list[View] = []
    rows: list[Any] = []
    status = Div(text="connecting...", name="status")
    for sub in feed.subscriptions:
        if venues is not None and sub.venue not in venues:
            continue
        kw: dict[str, Any] = {"rollover": rollover, "width": width}
        group = [DepthView(feed, sub.venue, sub.symbol, band=band, **kw), SpreadView(feed, sub.venue, sub.symbol, **kw),
                 TradesView(feed, sub.venue, sub.symbol, **kw), ImbalanceView(feed, sub.venue, sub.symbol, **kw)]
        views.extend(group)
        rows.extend(view.layout for view in group)
    rates: dict[str, tuple[int, float]] = {}
    ticks = 0

    async def refresh() -> None:
        nonlocal ticks
        for view in views:
            await view.refresh()
        ticks += 1
        if ticks % max(1, round(1 / period)) == 1:
            status.text = f"<code>{status_text(feed, rates)}</code>"

    doc.title = "livefeed dashboard"
    doc.add_root(column(Div(text="<h2>livefeed</h2>"), status, *rows, name="dashboard"))
    doc.add_periodic_callback(refresh, int(period * 1000))
    return views


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


@dataclass
class DashboardServer:
    """A running dashboard page: open ``url``; ``stop()`` closes it."""

    server: Server
    url: str

    @property
    def port(self) -> int:
        return int(self.server.port or 0)

    def stop(self) -> None:
        self.server.stop()
        self.server.io_loop.add_callback(self.server.unlisten)  # type: ignore[no-untyped-call]


def serve_dashboard(feed: Feed, port: int = 5006, address: str = "127.0.0.1", **options: Any) -> DashboardServer:
    """Serve the live dashboard at ``http://{address}:{port}/`` from the running asyncio loop.

    ``port=0`` picks a free port. Options: ``band``, ``period`` (seconds between refreshes), ``rollover``,
    ``width``, ``venues`` (show only these venues' books). Must be called with an asyncio loop running in this
    thread (e.g. inside ``asyncio.run``).
    """
    import asyncio

    from bokeh.server.server import Server
    from tornado.ioloop import IOLoop

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError("serve_dashboard() needs a running asyncio loop: call it inside asyncio.run(...)") from None
    if not isinstance(port, int) or not 0 <= port < 65536:
        raise ValueError(f"port must be 0..65535, got {port!r}")
    if port == 0:
        port = _free_port(address)

    def make(doc: Document) -> None:
        dashboard_document(feed, doc, **options)

    app = Application(FunctionHandler(make))
    server = Server({"/": app}, io_loop=IOLoop.current(), port=port, address=address,
                    allow_websocket_origin=[f"{address}:{port}", f"localhost:{port}"])
    server.start()
    return DashboardServer(server, f"http://{address}:{port}/")
