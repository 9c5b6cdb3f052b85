"""Live plots as Jupyter widgets: ``feed.plot.depth("binance", "BTC-USDT")`` and friends.

Each plot is a ``jupyter_bokeh.BokehModel`` (an ipywidget), so it renders in JupyterLab 4 and Notebook 7 and sends
every change as a patch over the widget comm. BokehJS is loaded INLINE once per kernel (``output_notebook`` with
``INLINE`` resources), never from a CDN, so plots work on an offline machine. All changes are made by the kernel's
flusher task (:mod:`livefeed.viz.flusher`); the feed thread never touches a plot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .flusher import Flusher
from .views import DepthView, ImbalanceView, OnchainView, SpreadView, TradesView, View

if TYPE_CHECKING:
    from ..feed import Feed

__all__ = ["Plots", "LivePlot", "ensure_bokehjs", "check_target", "bokeh_widget"]

_bokehjs_loaded = False
_widget_class: type | None = None


def bokeh_widget(layout: Any) -> Any:
    """A ``jupyter_bokeh.BokehModel`` for ``layout`` whose ``close()`` may be called more than once.

    jupyter_bokeh 4.1's ``close`` raises ``KeyError`` the second time (e.g. an explicit close, then the widget's
    ``__del__``), which pytest and the kernel report as an unraisable exception.
    """
    global _widget_class
    if _widget_class is None:
        from jupyter_bokeh import BokehModel

        class _Widget(BokehModel):  # type: ignore[misc]
            _livefeed_closed = False

            def close(self) -> None:
                if not self._livefeed_closed:
                    self._livefeed_closed = True
                    super().close()

        _widget_class = _Widget
    return _widget_class(layout)


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
    from ..symbols import canonical

    key = (str(venue).lower(), canonical(symbol))
    known = [(s.venue, s.symbol) for s in feed.subscriptions]
    if key not in known:
        choices = ", ".join(f"{v}:{s}" for v, s in known)
        raise ValueError(f"the feed does not subscribe to {venue}:{symbol}; it has {choices}")
    return key


class LivePlot:
    """One live view shown as a widget; display it (last expression of a cell) and it keeps updating.

    ``view.sources`` holds its ``ColumnDataSource`` objects; ``close()`` stops updates and frees the widget.
    """

    def __init__(self, view: View, flusher: Flusher) -> None:
        ensure_bokehjs()
        self.view = view
        self.flusher = flusher
        self.widget = bokeh_widget(view.layout)
        flusher.add(view)

    @property
    def sources(self) -> dict[str, Any]:
        return self.view.sources

    def close(self) -> None:
        self.flusher.remove(self.view)
        self.widget.close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"<LivePlot {self.view!r}>"


class Plots:
    """``feed.plot``: one call per live view. Options: ``rollover`` (rows kept per plot), figure ``width``/``height``.

    All plots share one flusher (``flusher`` or :meth:`Flusher.shared`, 4 refreshes/s by default; change with
    ``feed.plot.flusher.set_period(0.5)``).
    """

    def __init__(self, feed: Feed, flusher: Flusher | None = None) -> None:
        self.feed = feed
        self.flusher = flusher or Flusher.shared()

    def depth(self, venue: str, symbol: str, *, band: float = 0.01, levels: int | None = None,
              **options: Any) -> LivePlot:
        """Depth chart: cumulative size within ``band`` (fraction of mid, 0.01 = 1%) of the mid."""
        venue, symbol = check_target(self.feed, venue, symbol)
        return LivePlot(DepthView(self.feed, venue, symbol, band=band, levels=levels, **options), self.flusher)

    def spread(self, venue: str, symbol: str, **options: Any) -> LivePlot:
        """Best bid / ask / mid and the spread over time (needs the ``book`` channel)."""
        venue, symbol = check_target(self.feed, venue, symbol)
        return LivePlot(SpreadView(self.feed, venue, symbol, **options), self.flusher)

    def trades(self, venue: str, symbol: str, *, window: float = 60.0, **options: Any) -> LivePlot:
        """Trade tape with marker size by amount, colour by aggressor side, and ``window``-second volume."""
        venue, symbol = check_target(self.feed, venue, symbol)
        return LivePlot(TradesView(self.feed, venue, symbol, window=window, **options), self.flusher)

    def imbalance(self, venue: str, symbol: str, *, levels: int = 10, **options: Any) -> LivePlot:
        """Order-book imbalance over the top ``levels`` per side."""
        venue, symbol = check_target(self.feed, venue, symbol)
        return LivePlot(ImbalanceView(self.feed, venue, symbol, levels=levels, **options), self.flusher)

    def onchain(self, venue: str = "eth", **options: Any) -> LivePlot:
        """Transfers, net flow by address and block base fee (needs an on-chain venue's frames)."""
        return LivePlot(OnchainView(self.feed, venue, **options), self.flusher)
