"""``feed.dashboard()``: the ipywidgets control panel above the live views of one venue/symbol.

Controls: venue:symbol picker (points the same figures at the new market: one message, no new document), channel
toggles (what the feed subscribes to; applied on the next start), start / stop / pause, depth band, time window and
refresh-rate sliders, and a status table (state, messages/s, reconnects, staleness per connection; says paused /
stopped / reconnecting). The four views live in ONE widget with one shared trailing time window: one message per
refresh for the whole dashboard. A feed with derivatives also shows, in the same widget below them, the funding of
its perpetuals, the basis against spot, a liquidation tape and, with options, the smile and term structure
(:func:`~livefeed.viz.derivatives.derivatives_views`; they stay on their markets when the picker moves). Start and
stop run in a worker thread so the kernel's loop, and with it every
plot, keeps running while connections open or close.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from .. import live
from ..venues import CHANNELS
from .flusher import DEFAULT_PERIOD, Flusher, kernel_loop
from .notebook import LivePlot
from .views import DEFAULT_WINDOW, DepthView, View, market_views

if TYPE_CHECKING:
    from ..feed import Feed

__all__ = ["Dashboard", "dashboard", "status_text", "status_rows", "status_table"]

log = logging.getLogger(__name__)


def status_rows(feed: Feed, previous: dict[str, tuple[int, float]]) -> list[dict[str, Any]]:
    """One row per connection: name, state, messages/s since the last call (``previous`` is updated), reconnects,
    seconds since the last message."""
    stats = feed.stats() if feed.running else None
    if stats is None or not len(stats):
        return []
    now = time.monotonic()
    rows = []
    for name, row in stats.iterrows():
        messages = int(row["messages"])
        last = previous.get(str(name))
        rate = (messages - last[0]) / (now - last[1]) if last and now > last[1] else 0.0
        previous[str(name)] = (messages, now)
        rows.append({"connection": str(name), "state": str(row["state"]), "rate": rate,
                     "reconnects": int(row["reconnects"]), "idle": float(row["idle_s"])})
    return rows


def status_text(feed: Feed, previous: dict[str, tuple[int, float]]) -> str:
    """The status as one line per connection (for logs and terminals)."""
    if not feed.running:
        return "stopped"
    rows = status_rows(feed, previous)
    if not rows:
        return "connecting..."
    return " | ".join(
        f"{r['connection']}: {r['state']}, {r['rate']:,.0f} msg/s, {r['reconnects']} reconnects, "
        + (f"idle {r['idle']:.1f}s" if r["idle"] == r["idle"] else "no messages yet") for r in rows)


def _idle(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds:.1f}"


def status_table(feed: Feed, previous: dict[str, tuple[int, float]], headline: str = "") -> str:
    """The status as a compact HTML table: one row per connection, the feed's state above it."""
    state = headline or ("running" if feed.running else "stopped")
    colour = "#2ca02c" if state == "running" else "#b22222"
    head = f'<b style="color:{colour}">feed {html.escape(state)}</b>'
    rows = status_rows(feed, previous)
    if not rows:
        return head + ("" if not feed.running else " &middot; connecting...")
    right = "style='text-align:right'"
    cells = "".join(
        f"<tr><td>{html.escape(r['connection'])}</td><td>{html.escape(r['state'])}</td>"
        f"<td {right}>{r['rate']:,.0f}</td><td {right}>{r['reconnects']}</td><td {right}>{_idle(r['idle'])}</td></tr>"
        for r in rows)
    return (f"{head}<table style='font-size:12px;border-collapse:collapse' cellpadding='2'>"
            "<tr><th>connection</th><th>state</th><th>msg/s</th><th>reconnects</th><th>idle s</th></tr>"
            f"{cells}</table>")


class Dashboard:
    """Control panel plus depth, spread, trades and imbalance views of the selected venue:symbol.

    The views share one trailing time window (``window`` seconds of exchange time) and are one widget.
    """

    kind = "dashboard"

    def __init__(self, feed: Feed, *, venue: str | None = None, symbol: str | None = None, band: float = 0.01,
                 period: float = DEFAULT_PERIOD, rollover: int = 5_000, window: float = DEFAULT_WINDOW,
                 derivatives: bool = True) -> None:
        self.feed = feed
        self.derivatives = derivatives
        self.extras: list[View] = []
        """The derivatives views under the market's (see the module)."""
        self.flusher = Flusher(period)
        self.rollover = rollover
        targets = [f"{s.venue}:{s.symbol}" for s in feed.subscriptions]
        first = f"{venue or feed.subscriptions[0].venue}:{symbol or feed.subscriptions[0].symbol}"
        if first not in targets:
            raise ValueError(f"the feed does not subscribe to {first}; it has {', '.join(targets)}")
        self.picker = w.Dropdown(options=targets, value=first, description="market")
        self.channels = {c: w.ToggleButton(value=c in feed.channels, description=c) for c in CHANNELS}
        self.start_button = w.Button(description="start", icon="play")
        self.stop_button = w.Button(description="stop", icon="stop")
        self.pause_button = w.ToggleButton(description="pause plots", icon="pause")
        self.band = w.FloatSlider(value=band, min=0.001, max=0.05, step=0.001, readout_format=".3f",
                                  description="band")
        self.window = w.FloatSlider(value=window, min=10, max=900, step=10, description="window s")
        self.rate = w.FloatSlider(value=round(1 / period, 2), min=0.5, max=10, step=0.5, description="refresh/s")
        self.status = w.HTML()
        self._rates: dict[str, tuple[int, float]] = {}
        self._status_at = 0.0
        self.plot: LivePlot | None = None
        self.plots = w.Box(layout=w.Layout(width="100%"))
        self.panel = w.VBox([
            w.HBox([self.picker, self.start_button, self.stop_button, self.pause_button]),
            w.HBox([w.Label("channels (next start):"), *self.channels.values()]),
            w.HBox([self.band, self.window, self.rate]),
            self.status,
        ])
        self.widget = w.VBox([self.panel, self.plots], layout=w.Layout(width="100%"))
        self.closed = False
        self.picker.observe(lambda _c: self._build_views(), "value")
        for toggle in self.channels.values():
            toggle.observe(self._on_channels, "value")
        self.start_button.on_click(lambda _b: self._in_thread(feed.start))
        self.stop_button.on_click(lambda _b: self._in_thread(feed.stop))
        self.pause_button.observe(lambda c: self.flusher.pause(bool(c["new"])), "value")
        self.band.observe(lambda c: self.depth is not None and self.depth.set_band(c["new"]), "value")
        self.window.observe(lambda c: self._set_window(float(c["new"])), "value")
        self.rate.observe(lambda c: self.flusher.set_period(1.0 / c["new"]), "value")
        self.flusher.on_tick.append(self._update_status)
        self._build_views()
        self.flusher.start()
        live.register(self, self.kind, self.close, repr(self), active=lambda: not self.closed)

    @property
    def views(self) -> list[View]:
        """The picked market's views (the derivatives views are :attr:`extras`)."""
        return self.plot.views[: len(self.plot.views) - len(self.extras)] if self.plot is not None else []

    @property
    def depth(self) -> DepthView | None:
        return next((v for v in self.views if isinstance(v, DepthView)), None)

    def _build_views(self) -> None:
        """Show the picked market: the first time, build the views in a widget; after that, point the same
        figures at the new market (one message, no new document in the browser)."""
        venue, _, symbol = self.picker.value.partition(":")
        if self.plot is not None:
            for view in self.views:
                view.retarget(venue, symbol)
            self.flusher.refresh_soon()  # the new market's recent history at once, not at the next period
            return
        views = market_views(self.feed, venue, symbol, band=self.band.value, rollover=self.rollover,
                             window=self.window.value)
        if self.derivatives:
            from .derivatives import derivatives_views

            self.extras = derivatives_views(self.feed, self.picker.options, rollover=self.rollover,
                                            window=self.window.value)
        self.plot = LivePlot([*views, *self.extras], self.flusher, register=False)
        self.plot.widget.on_release.append(self.close)  # its output gone: the whole dashboard goes
        self.plot.widget.layout = w.Layout(width="100%")
        self.plots.children = [self.plot.widget]

    def _set_window(self, seconds: float) -> None:
        for view in self.views:  # the derivatives views keep their own (funding moves slowly)
            view.window = seconds

    def _on_channels(self, _change: object) -> None:
        chosen = [c for c, toggle in self.channels.items() if toggle.value]
        if chosen:
            self.feed.channels = chosen

    def _in_thread(self, fn: Any) -> None:
        async def run() -> None:
            try:
                await asyncio.to_thread(fn)
            except Exception as exc:
                log.exception("dashboard action failed")
                self.status.value = f"<b>error:</b> {html.escape(str(exc))}"

        self._pending = kernel_loop().create_task(run())

    def _update_status(self) -> None:
        now = time.monotonic()
        if now - self._status_at < 1.0:
            return
        self._status_at = now
        running = self.feed.running
        for toggle in self.channels.values():
            toggle.disabled = running
        headline = "stopped" if not running else ("running, plots paused" if self.flusher.paused else "running")
        venue = self.picker.value.partition(":")[0]
        state = self.feed.health(venue)["state"] if running else "stopped"
        if running and state not in ("connected", "live"):
            headline = f"running, {venue} {state}"
        self.status.value = status_table(self.feed, self._rates, headline)

    def close(self) -> None:
        """Stop refreshing, release the plots and close the panel."""
        if self.closed:
            return
        self.closed = True
        self.flusher.stop()
        if self.plot is not None:
            self.plot.close()
        self.flusher.views.clear()
        self.widget.close()
        live.unregister(self)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"<Dashboard {self.picker.value}{' closed' if self.closed else ''}>"


def dashboard(feed: Feed, **options: Any) -> Dashboard:
    """Build the dashboard widget; options: ``venue``, ``symbol``, ``band`` (default 0.01 = 1% of mid),
    ``period`` (seconds between refreshes, default 1), ``rollover``, ``window`` (seconds, default 60),
    ``derivatives`` (default True: the derivatives views under the market's when the feed has such markets)."""
    return Dashboard(feed, **options)
