"""Live plots as Jupyter widgets: ``feed.plot.depth("binance", "BTC-USDT")`` and friends.

Each plot is a :class:`~livefeed.viz.widget.LiveWidget`: one message to the browser per refresh, nothing back
unless a view of it is removed. BokehJS is loaded INLINE once per kernel (``output_notebook`` with ``INLINE``
resources), never from a CDN, so plots work on an offline machine. All changes are made by the kernel's flusher
task (:mod:`livefeed.viz.flusher`); the feed thread never touches a plot.

Plots belong to the cell that showed them: running the cell again replaces them (the old ones stop refreshing and
are released), as does clearing their output or closing the notebook (see :mod:`livefeed.live`).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from bokeh.layouts import column

from .. import live
from .flusher import Flusher
from .views import DEFAULT_WINDOW, DepthView, ImbalanceView, OnchainView, SpreadView, TradesView, View
from .widget import LiveWidget

if TYPE_CHECKING:
    from ..feed import Feed

__all__ = ["Plots", "LivePlot", "ensure_bokehjs", "check_target"]

_bokehjs_loaded = False
PLOTS: weakref.WeakSet[LivePlot] = weakref.WeakSet()
"""Every live plot made in this process (dashboards' included), for :mod:`livefeed.viz.inventory`."""


def ensure_bokehjs() -> None:
    """Load BokehJS into the notebook page from the installed package (inline), once per kernel."""
    global _bokehjs_loaded
    if _bokehjs_loaded:
        return
    from bokeh.io import output_notebook
    from bokeh.resources import INLINE

    output_notebook(resources=INLINE, hide_banner=True)
    _bokehjs_loaded = True


def check_target(feed: Feed, venue: str, symbol: str) -> tuple[str, str]:
    """Normalise ``venue``/``symbol`` and check the feed subscribes to them, with the choices in the error."""
    from ..naming import parse_instrument

    key = (str(venue).lower(), str(parse_instrument(symbol)))
    known = [(s.venue, s.symbol) for s in feed.subscriptions]
    if key not in known:
        choices = ", ".join(f"{v}:{s}" for v, s in known)
        raise ValueError(f"the feed does not subscribe to {venue}:{symbol}; it has {choices}")
    return key


class LivePlot:
    """Live views shown as one widget; display it (last expression of a cell) and it keeps updating.

    ``sources`` holds the views' ``ColumnDataSource`` objects by role; ``close()`` stops updates and frees the
    widget. One refresh sends at most one message to the browser, whatever changed.
    """

    kind = "plot"

    def __init__(self, views: View | list[View], flusher: Flusher, *, register: bool = True) -> None:
        ensure_bokehjs()
        self.views = [views] if isinstance(views, View) else list(views)
        self.flusher = flusher
        layout = self.views[0].layout if len(self.views) == 1 else column(
            [v.layout for v in self.views], sizing_mode="stretch_width")
        self.widget = LiveWidget(layout)
        self.closed = False
        ref = weakref.ref(self)
        self.widget.on_release.append(lambda: (plot := ref()) is not None and plot._released())
        flusher.add(self)
        PLOTS.add(self)
        if register:
            live.register(self, self.kind, self.close, repr(self), active=lambda: not self.closed)

    @property
    def view(self) -> View:
        return self.views[0]

    @property
    def sources(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for view in self.views:
            out.update(view.sources)
        return out

    async def refresh(self) -> None:
        for view in self.views:
            await view.refresh()

    def follow(self, status: str | None = None) -> None:
        for view in self.views:
            view.follow(status)

    def send_changes(self) -> int:
        return self.widget.send_changes()

    def _released(self) -> None:
        """The widget was released (by :meth:`close`, its output gone, or its comm closed): stop refreshing."""
        self.closed = True
        self.flusher.remove(self)
        live.unregister(self)

    def close(self) -> None:
        """Stop refreshing and close the widget (its output shows nothing more)."""
        self.widget.release()  # idempotent; its on_release runs _released

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        what = ", ".join(f"{v.kind} {v.venue}:{v.symbol}" for v in self.views)
        return f"<LivePlot {what}{' closed' if self.closed else ''}>"


class Plots:
    """``feed.plot``: one call per live view. Options: ``rollover`` (rows kept per plot), ``window`` (seconds of
    exchange time shown by time-based views, default 60), figure ``height``.

    All plots share one flusher (``flusher`` or :meth:`Flusher.shared`, 1 refresh/s by default; change with
    ``feed.plot.flusher.set_period(0.25)``), so every plot of a market shows the same trailing window.
    """

    def __init__(self, feed: Feed, flusher: Flusher | None = None) -> None:
        self.feed = feed
        self.flusher = flusher or Flusher.shared()

    def depth(self, venue: str, symbol: str, *, band: float = 0.01, bins: int = 100, levels: int | None = None,
              **options: Any) -> LivePlot:
        """Depth chart: cumulative size within ``band`` (fraction of mid, 0.01 = 1%) of the mid, in ``bins`` price
        bins per side; hover shows side, price, cumulative size, notional and distance from mid."""
        venue, symbol = check_target(self.feed, venue, symbol)
        return LivePlot(DepthView(self.feed, venue, symbol, band=band, bins=bins, levels=levels, **options),
                        self.flusher)

    def spread(self, venue: str, symbol: str, *, window: float = DEFAULT_WINDOW, spread_unit: str = "bp",
               **options: Any) -> LivePlot:
        """Best bid / ask / mid and the spread (bp, or ``spread_unit="quote"``) over the last ``window`` seconds."""
        venue, symbol = check_target(self.feed, venue, symbol)
        return LivePlot(SpreadView(self.feed, venue, symbol, window=window, spread_unit=spread_unit, **options),
                        self.flusher)

    def trades(self, venue: str, symbol: str, *, window: float = DEFAULT_WINDOW, volume_window: float = 60.0,
               **options: Any) -> LivePlot:
        """Trade tape (marker area by size, colour by aggressor side) and the volume of the last ``volume_window``
        seconds, over the last ``window`` seconds."""
        venue, symbol = check_target(self.feed, venue, symbol)
        return LivePlot(TradesView(self.feed, venue, symbol, window=window, volume_window=volume_window,
                                   **options), self.flusher)

    def candles(self, venue: str, symbol: str, *, interval: str = "1min", window: float | None = None,
                **options: Any) -> LivePlot:
        """Candlesticks at ``interval`` (``"1s"``, ``"1min"``, ...; from :meth:`Feed.bars`) with the volume beneath,
        split into taker buys and sells; the last bar keeps updating until it closes. ``window`` defaults to 60
        bars."""
        from .candles import CandlesView

        venue, symbol = check_target(self.feed, venue, symbol)
        return LivePlot(CandlesView(self.feed, venue, symbol, interval=interval, window=window, **options),
                        self.flusher)

    def imbalance(self, venue: str, symbol: str, *, levels: int = 10, window: float = DEFAULT_WINDOW,
                  **options: Any) -> LivePlot:
        """Order-book imbalance over the top ``levels`` per side."""
        venue, symbol = check_target(self.feed, venue, symbol)
        return LivePlot(ImbalanceView(self.feed, venue, symbol, levels=levels, window=window, **options),
                        self.flusher)

    def heatmap(self, venue: str, symbol: str, *, band: float = 0.002, bins: int = 80, window: float = DEFAULT_WINDOW,
                **options: Any) -> LivePlot:
        """Liquidity heatmap (Bookmap-style): resting size by price over the last ``window`` seconds, ``bins``
        price bins spanning about ``band`` either side of mid, with the trades on top."""
        from .heatmap import HeatmapView

        venue, symbol = check_target(self.feed, venue, symbol)
        return LivePlot(HeatmapView(self.feed, venue, symbol, band=band, bins=bins, window=window, **options),
                        self.flusher)

    def ladder(self, venue: str, symbol: str, *, levels: int = 20, tick: float | None = None,
               window: float = DEFAULT_WINDOW, **options: Any) -> LivePlot:
        """Live L2 ladder: ``levels`` rows per side on a ``tick`` grid (default: the venue's tick, coarser for a
        sparse book) with bid / ask size and the volume traded at each row over the last ``window`` seconds."""
        from .ladder import LadderView

        venue, symbol = check_target(self.feed, venue, symbol)
        return LivePlot(LadderView(self.feed, venue, symbol, levels=levels, tick=tick, window=window, **options),
                        self.flusher)

    def mids(self, asset: str, *, venues: Any = None, quotes: Any = None, window: float = DEFAULT_WINDOW,
             **options: Any) -> LivePlot:
        """Every venue's mid for ``asset`` (e.g. ``"BTC"``) on one chart (optionally only ``venues`` /
        ``quotes``)."""
        from .multivenue import MidsView

        return LivePlot(MidsView(self.feed, asset, venues=venues, quotes=quotes, window=window, **options),
                        self.flusher)

    def consolidated(self, symbol: str, *, quote_map: Any = None, window: float = DEFAULT_WINDOW,
                     **options: Any) -> LivePlot:
        """The best bid and ask for ``symbol`` across the feed's venues, marked with the venue holding each, and
        the cross-venue spread in bp (``quote_map={"USDT": "USD"}`` counts USDT books as USD)."""
        from .multivenue import ConsolidatedView

        return LivePlot(ConsolidatedView(self.feed, symbol, quote_map=quote_map, window=window, **options),
                        self.flusher)

    def onchain(self, venue: str = "eth", **options: Any) -> LivePlot:
        """Transfers, net flow by address and block base fee (needs an on-chain venue's frames)."""
        return LivePlot(OnchainView(self.feed, venue, **options), self.flusher)

    def basis(self, venue: str, symbol: str, *, spot: Any = None, window: float = DEFAULT_WINDOW,
              funding_interval: float = 8 * 3600.0, **options: Any) -> LivePlot:
        """A perpetual's or dated future's mid against the spot mid of the same asset (``spot=(venue, symbol)``,
        default: the subscribed spot market of that base, same venue and quote first): both prices, the basis in
        price, and annualised (a future over its time to expiry; a perpetual's premium and, from ``feed.funding``,
        its funding rate as if paid every ``funding_interval`` seconds)."""
        from .derivatives import BasisView

        venue, symbol = check_target(self.feed, venue, symbol)
        return LivePlot(BasisView(self.feed, venue, symbol, spot=spot, window=window,
                                  funding_interval=funding_interval, **options), self.flusher)

    def funding(self, *markets: Any, asset: str | None = None, window: float = 600.0, **options: Any) -> LivePlot:
        """Funding rate over time of ``markets`` (``"binance:BTC-USDT-PERP"`` or ``(venue, symbol)``; default:
        every subscribed perpetual, of ``asset`` only when given), from ``feed.funding``; the title says when the
        next funding is due, the hover each market's next funding time and annualised rate."""
        from .derivatives import FundingView

        return LivePlot(FundingView(self.feed, markets or None, asset=asset, window=window, **options), self.flusher)

    def liquidations(self, venue: str, symbol: str, *, window: float = 300.0, **options: Any) -> LivePlot:
        """Liquidation tape of a perpetual or future (``feed.liquidations``) over its mid: marker area by size,
        colour by the forced order's side."""
        from .derivatives import LiquidationsView

        venue, symbol = check_target(self.feed, venue, symbol)
        return LivePlot(LiquidationsView(self.feed, venue, symbol, window=window, **options), self.flusher)

    def smile(self, venue: str, underlying: str, expiry: Any, **options: Any) -> LivePlot:
        """Implied vol by strike (mark, bid and ask IV, from ``feed.options``) of the subscribed ``underlying``
        options expiring on ``expiry`` (a date, ``"2026-12-25"`` or ``"20261225"``), redrawn as quotes change."""
        from .derivatives_options import SmileView

        return LivePlot(SmileView(self.feed, str(venue).lower(), underlying, expiry, **options), self.flusher)

    def term_structure(self, venue: str, underlying: str, **options: Any) -> LivePlot:
        """At-the-money implied vol of every subscribed expiry of ``underlying``, by days to expiry."""
        from .derivatives_options import TermStructureView

        return LivePlot(TermStructureView(self.feed, str(venue).lower(), underlying, **options), self.flusher)
