"""``serve_dashboard(feed)``: the dashboard as a Bokeh server page on localhost, for scripts and ``livefeed demo``.

Call it from a running asyncio program (the Bokeh server joins that loop through tornado); the feed may run on
the same loop (``async with Feed(...)``) or on its background loop thread (``feed.start()``). Every browser session
gets its own document with its own figures (from :mod:`livefeed.viz.figures`, the same as in the notebook): a
market picker over every subscription the page shows, the depth / spread / trades / imbalance views of the picked
market on one trailing time window (with, for a perpetual, future or option, its derivatives views: basis, funding
and liquidations, or the smile and term structure; :func:`~livefeed.viz.derivatives.market_derivatives_views`), the
consolidated cross-venue quote when the feed has several venues, and a compact status table. One periodic callback
refreshes them: the Bokeh server holds the document lock around it, and the feed thread never touches a document.
When the page stops hearing from the server (the demo ended), it says so over the page. The page loads BokehJS from
the server itself, so it works offline.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bokeh.application import Application
from bokeh.application.handlers.function import FunctionHandler
from bokeh.document import Document
from bokeh.events import DocumentReady
from bokeh.layouts import column, row
from bokeh.models import CustomJS, Div, Select

from .views import View, market_views

if TYPE_CHECKING:
    from bokeh.server.server import Server

    from ..feed import Feed

__all__ = ["DashboardServer", "serve_dashboard", "dashboard_document", "GONE_AFTER_MS"]

GONE_AFTER_MS = 5_000
"""The page says the feed is gone when its status has not changed for this long (it changes every second)."""

_WATCH_JS = """
window.livefeed_last_status = Date.now();
setInterval(() => {
    const quiet = Date.now() - window.livefeed_last_status;
    if (quiet > gone_after && !banner.visible) {
        banner.text = "<b>The feed is gone:</b> this page has not heard from livefeed for " +
            Math.round(quiet / 1000) + " s (the demo or script ended). The plots show the last data received.";
        banner.visible = true;
    }
}, 1000);
"""


def dashboard_document(feed: Feed, doc: Document, *, band: float = 0.01, period: float = 0.25,
                       rollover: int = 5_000, window: float = 60.0, venues: Any = None,
                       derivatives: bool = True) -> list[View]:
    """Fill ``doc`` with the live dashboard of ``feed`` (of ``venues`` only, when given) and return the views
    showing now (the picked market's, its derivatives views included, plus the consolidated view)."""
    from .derivatives import market_derivatives_views
    from .panel import status_table

    targets = [f"{s.venue}:{s.symbol}" for s in feed.subscriptions if venues is None or s.venue in venues]
    if not targets:
        raise ValueError(f"no subscription of the feed is on venues {sorted(venues or [])}")
    picker = Select(title="market", options=targets, value=targets[0], name="market", width=260)
    status = Div(text="connecting...", name="status", sizing_mode="stretch_width")
    banner = Div(text="", visible=False, name="gone", sizing_mode="stretch_width",
                 styles={"background": "#b22222", "color": "white", "padding": "8px", "font-size": "15px"})
    views: list[View] = []
    plots = column(sizing_mode="stretch_width", name="plots")
    extra: list[View] = _consolidated_views(feed, targets, rollover=rollover, window=window)

    def show(target: str) -> None:
        venue, _, symbol = target.partition(":")
        views[:] = market_views(feed, venue, symbol, band=band, rollover=rollover, window=window)
        if derivatives:  # only the picked market's: every derivatives view at once makes a slow page
            views.extend(market_derivatives_views(feed, venue, symbol, rollover=rollover, window=window))
        plots.children = [v.layout for v in views]

    show(targets[0])
    picker.on_change("value", lambda _attr, _old, new: show(new))
    rates: dict[str, tuple[int, float]] = {}
    ticks = 0

    async def refresh() -> None:
        nonlocal ticks
        for view in [*views, *extra]:
            await view.refresh()
        for view in [*views, *extra]:
            view.follow()
        ticks += 1
        if ticks % max(1, round(1 / period)) == 1:
            status.text = status_table(feed, rates, "running" if feed.running else "stopped")

    status.js_on_change("text", CustomJS(code="window.livefeed_last_status = Date.now();"))
    doc.js_on_event(DocumentReady, CustomJS(args={"banner": banner, "gone_after": GONE_AFTER_MS}, code=_WATCH_JS))
    doc.title = "livefeed dashboard"
    doc.add_root(column(banner, Div(text="<h2>livefeed</h2>"), row(picker, status, sizing_mode="stretch_width"),
                        plots, *(v.layout for v in extra), name="dashboard", sizing_mode="stretch_width"))
    doc.add_periodic_callback(refresh, int(period * 1000))
    return views


def _consolidated_views(feed: Feed, targets: list[str], *, rollover: int, window: float) -> list[View]:
    """The cross-venue views (several venues' mids, consolidated best bid/ask) when the page shows >1 venue."""
    if len({t.partition(":")[0] for t in targets}) < 2:
        return []
    from ..naming import Kind, kind_of
    from .multivenue import ConsolidatedView, MidsView

    by_base: dict[str, set[str]] = {}
    for target in targets:
        venue, _, symbol = target.partition(":")
        if kind_of(symbol) is Kind.SPOT:  # spot books are compared across venues; other kinds stay apart
            by_base.setdefault(symbol.partition("-")[0], set()).add(venue)
    shared = [base for base, venues in by_base.items() if len(venues) > 1]
    views: list[View] = []
    for base in shared[:2]:  # a page, not a wall: the first two assets several venues quote
        views.append(MidsView(feed, base, rollover=rollover, window=window))
        views.append(ConsolidatedView(feed, f"{base}-USD", quote_map={"USDT": "USD", "USDC": "USD"},
                                      rollover=rollover, window=window))
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
    ``window`` (seconds of exchange time shown), ``venues`` (show only these venues' markets), ``derivatives``
    (default True: a picked perpetual, future or option also shows its basis, funding and liquidations, or the
    smile and term structure). Must be
    called with an asyncio loop running in this thread (e.g. inside ``asyncio.run``).
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
