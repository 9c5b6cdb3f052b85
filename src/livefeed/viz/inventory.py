"""What is on screen, for measuring: each live widget's comm id, the views it shows and their refresh counts."""

from __future__ import annotations

from .notebook import PLOTS, LivePlot

__all__ = ["live_plots", "comm_labels", "refresh_count"]


def live_plots() -> list[LivePlot]:
    """Every live plot of this kernel that is still open (dashboards' plots included)."""
    return [plot for plot in list(PLOTS) if not plot.closed]


def _label(plot: LivePlot) -> str:
    view = plot.views[0]
    kinds = "+".join(v.kind for v in plot.views)
    return f"{kinds}:{view.venue}:{view.symbol}#{plot.widget.model_id[:6]}"


def comm_labels() -> dict[str, str]:
    """comm id -> a label naming the views of that widget."""
    return {p.widget.model_id: _label(p) for p in live_plots() if p.widget.comm is not None}


def refresh_count() -> dict[str, int]:
    """label -> how many times that widget's views have been refreshed."""
    return {_label(p): p.views[0].refreshes for p in live_plots() if p.widget.comm is not None}
