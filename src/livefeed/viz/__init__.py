"""Live Bokeh views of a feed, for notebooks (widgets) and a Bokeh server page.

``feed.plot.depth("binance", "BTC-USDT")``, ``.spread``, ``.trades``, ``.imbalance``, ``.heatmap``, ``.ladder``,
``.mids("BTC")``, ``.consolidated("BTC-USD")``, ``.onchain``;
``feed.dashboard()`` adds the control panel; ``serve_dashboard(feed, port=...)`` serves the same figures as a page.
"""

from __future__ import annotations

from .figures import source_name
from .flusher import Flusher
from .heatmap import HeatmapView
from .ladder import LadderView
from .multivenue import ConsolidatedView, MidsView
from .notebook import LivePlot, Plots
from .panel import Dashboard, dashboard
from .server import DashboardServer, serve_dashboard
from .views import DepthView, ImbalanceView, OnchainView, SpreadView, TradesView, View
from .widget import LiveWidget

__all__ = [
    "Plots", "LivePlot", "Dashboard", "dashboard", "Flusher", "serve_dashboard", "DashboardServer", "source_name",
    "View", "DepthView", "SpreadView", "TradesView", "ImbalanceView", "OnchainView", "HeatmapView", "LadderView",
    "MidsView", "ConsolidatedView", "LiveWidget",
]
