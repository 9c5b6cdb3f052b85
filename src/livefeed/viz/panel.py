"""``feed.dashboard()``: the ipywidgets control panel above the live views of one venue/symbol.

Controls: venue:symbol picker (rebuilds the views: a figure belongs to one document, so each view builds its own),
channel toggles (what the feed subscribes to; applied on the next start), start / stop / pause, depth band and
refresh-rate sliders, and a status line (messages/s, reconnects, staleness per connection). Start and stop run in a
worker thread so the kernel's loop, and with it every plot, keeps running while connections open or close.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..venues import CHANNELS
from .flusher import Flusher, kernel_loop
from .notebook import bokeh_widget, ensure_bokehjs
from .views import DepthView, ImbalanceView, SpreadView, TradesView, View

if TYPE_CHECKING:
    from ..feed import Feed

__all__ = ["Dashboard", "dashboard", "status_text"]

log = logging.getLogger(__name__)


def status_text(feed: Feed, previous: dict[str, tuple[int, float]]) -> str:
    """One line per connection: state, messages/s since the last call (``previous`` is updated), reconnects, idle."""
    stats = feed.stats()
    if not len(stats):
        return "stopped" if not feed.running else "connecting..."
    now = time.monotonic()
    parts = []
    for name, row in stats.iterrows():
        messages = int(row["messages"])
        last = previous.get(str(name))
        rate = (messages - last[0]) / (now - last[1]) if last and now > last[1] else 0.0
        previous[str(name)] = (messages, now)
        idle = row["idle_s"]
        parts.append(f"{name}: {row['state']}, {rate:,.0f} msg/s, {int(row['reconnects'])} reconnects, "
                     f"idle {idle:.1f}s" if idle == idle else f"{name}: {row['state']}, no messages yet")
    return " | ".join(parts)


class Dashboard:
    """Control panel plus depth, spread, trades and imbalance views of the selected venue:symbol."""

    def __init__(self, feed: Feed, *, venue: str | None = None, symbol: str | None = None, band: float = 0.01,
                 period: float = 0.25, rollover: int = 5_000, width: int = 700) -> None:
        ensure_bokehjs()
        self.feed = feed
        self.flusher = Flusher(period)
        self.rollover = rollover
        self.width = width
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
        self.rate = w.FloatSlider(value=round(1 / period, 2), min=0.5, max=10, step=0.5, description="refresh/s")
        self.status = w.HTML()
        self._rates: dict[str, tuple[int, float]] = {}
        self._status_at = 0.0
        self.views: list[View] = []
        self.plots = w.VBox()
        self.panel = w.VBox([
            w.HBox([self.picker, self.start_button, self.stop_button, self.pause_button]),
            w.HBox([w.Label("channels (next start):"), *self.channels.values()]),
            w.HBox([self.band, self.rate]),
            self.status,
        ])
        self.widget = w.VBox([self.panel, self.plots])
        self.picker.observe(lambda _c: self._build_views(), "value")
        for toggle in self.channels.values():
            toggle.observe(self._on_channels, "value")
        self.start_button.on_click(lambda _b: self._in_thread(feed.start))
        self.stop_button.on_click(lambda _b: self._in_thread(feed.stop))
        self.pause_button.observe(lambda c: self.flusher.pause(bool(c["new"])), "value")
        self.band.observe(lambda c: self.depth is not None and self.depth.set_band(c["new"]), "value")
        self.rate.observe(lambda c: self.flusher.set_period(1.0 / c["new"]), "value")
        self.flusher.on_tick.append(self._update_status)
        self._build_views()
        self.flusher.start()

    @property
    def depth(self) -> DepthView | None:
        return next((v for v in self.views if isinstance(v, DepthView)), None)

    def _build_views(self) -> None:
        for view in self.views:
            self.flusher.remove(view)
        for child in self.plots.children:
            child.close()
        venue, _, symbol = self.picker.value.partition(":")
        kw: dict[str, Any] = {"rollover": self.rollover, "width": self.width}
        self.views = [
            DepthView(self.feed, venue, symbol, band=self.band.value, **kw),
            SpreadView(self.feed, venue, symbol, **kw),
            TradesView(self.feed, venue, symbol, **kw),
            ImbalanceView(self.feed, venue, symbol, **kw),
        ]
        self.plots.children = [bokeh_widget(view.layout) for view in self.views]
        for view in self.views:
            self.flusher.add(view)

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
        state = "paused plots, " if self.flusher.paused else ""
        self.status.value = f"<code>{html.escape(state + status_text(self.feed, self._rates))}</code>"

    def close(self) -> None:
        self.flusher.stop()
        self.flusher.views.clear()
        self.widget.close()
        for child in self.plots.children:
            child.close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def dashboard(feed: Feed, **options: Any) -> Dashboard:
    """Build the dashboard widget; options: ``venue``, ``symbol``, ``band``, ``period``, ``rollover``, ``width``."""
    return Dashboard(feed, **options)
