"""Bokeh figures for live market views, as pure functions: data sources in, a layout out.

The notebook widgets and the Bokeh-server dashboard page both build their figures here, so the two always look the
same. Each call builds new models (a Bokeh model belongs to exactly one document), and every data source carries a
stable ``name`` (``source_name(kind, venue, symbol)``) so a browser test or a user can find it through
``Bokeh.documents[i].get_model_by_name(name)``. Nothing here reads the feed; :mod:`livefeed.viz.views` does.
"""

from __future__ import annotations

from dataclasses import dataclass

from bokeh.layouts import column
from bokeh.models import ColumnDataSource, HoverTool, LayoutDOM, Span
from bokeh.plotting import figure

__all__ = [
    "BID_COLOUR", "ASK_COLOUR", "BUY_COLOUR", "SELL_COLOUR", "Built",
    "source_name", "depth_figure", "spread_figure", "trades_figure", "imbalance_figure", "onchain_figure",
]

BID_COLOUR = "#2ca02c"
ASK_COLOUR = "#d62728"
BUY_COLOUR = "#2ca02c"
SELL_COLOUR = "#d62728"
MID_COLOUR = "#555555"
_TOOLS = "pan,wheel_zoom,box_zoom,reset,save"


@dataclass(slots=True)
class Built:
    """A layout plus the sources a view updates, by role (e.g. ``"bids"``)."""

    layout: LayoutDOM
    sources: dict[str, ColumnDataSource]


def source_name(kind: str, venue: str, symbol: str) -> str:
    """The ``name`` of a view's data source, e.g. ``depth-meta:binance:BTC-USDT``."""
    return f"{kind}:{venue}:{symbol}"


def _time_figure(title: str, height: int, width: int, **kw: object) -> figure:
    return figure(title=title, x_axis_type="datetime", height=height, width=width, tools=_TOOLS,
                  toolbar_location="right", **kw)


def depth_figure(venue: str, symbol: str, *, height: int = 320, width: int = 700) -> Built:
    """Cumulative bid and ask size against price as step areas, best bid / best ask / mid marked.

    Sources: ``depth-bids`` and ``depth-asks`` (``price``, ``cum`` as a step outline, best price first; replaced
    whole each refresh, since most rows change) and ``depth-meta`` (one row: ``ts`` in ms, ``bid``, ``ask``,
    ``mid``, ``band``; patched in place).
    """
    bids = ColumnDataSource({"price": [], "cum": []}, name=source_name("depth-bids", venue, symbol))
    asks = ColumnDataSource({"price": [], "cum": []}, name=source_name("depth-asks", venue, symbol))
    meta = ColumnDataSource({"ts": [0.0], "bid": [float("nan")], "ask": [float("nan")], "mid": [float("nan")],
                             "band": [float("nan")]}, name=source_name("depth-meta", venue, symbol))
    fig = figure(title=f"{venue} {symbol} depth", height=height, width=width, tools=_TOOLS,
                 x_axis_label="price", y_axis_label="cumulative size")
    # The views send step-shaped outlines (each level's cumulative size held until the next price), drawn as plain
    # areas: BokehJS 3.9's varea_step freezes the page when its source starts empty in a jupyter_bokeh widget.
    for src, colour, label in ((bids, BID_COLOUR, "bids"), (asks, ASK_COLOUR, "asks")):
        fig.varea(x="price", y1=0, y2="cum", source=src, fill_color=colour, fill_alpha=0.35, legend_label=label)
        fig.line(x="price", y="cum", source=src, line_color=colour, line_width=1.5)
    # Best bid / ask / mid as vertical glyphs fed by the one-row meta source, so a single patch moves them.
    fig.vspan(x="bid", source=meta, line_color=BID_COLOUR, line_dash="dashed", line_width=1)
    fig.vspan(x="ask", source=meta, line_color=ASK_COLOUR, line_dash="dashed", line_width=1)
    fig.vspan(x="mid", source=meta, line_color=MID_COLOUR, line_width=1, legend_label="mid")
    fig.legend.location = "top_center"
    fig.legend.orientation = "horizontal"
    fig.add_tools(HoverTool(tooltips=[("price", "@price{0,0.00}"), ("cumulative", "@cum{0,0.000}")]))
    return Built(fig, {"bids": bids, "asks": asks, "meta": meta})


def spread_figure(venue: str, symbol: str, *, height: int = 240, width: int = 700) -> Built:
    """Best bid, best ask and mid over time, and the spread below on a shared time axis.

    Source ``spread`` (``ts`` ms, ``bid``, ``ask``, ``mid``, ``spread``) is streamed with a rollover.
    """
    src = ColumnDataSource({"ts": [], "bid": [], "ask": [], "mid": [], "spread": []},
                           name=source_name("spread", venue, symbol))
    prices = _time_figure(f"{venue} {symbol} best bid / ask / mid", height, width)
    prices.step(x="ts", y="bid", mode="after", source=src, line_color=BID_COLOUR, legend_label="bid")
    prices.step(x="ts", y="ask", mode="after", source=src, line_color=ASK_COLOUR, legend_label="ask")
    prices.step(x="ts", y="mid", mode="after", source=src, line_color=MID_COLOUR, legend_label="mid")
    prices.legend.location = "top_left"
    spread = _time_figure("spread", height // 2 + 40, width, x_range=prices.x_range)
    spread.step(x="ts", y="spread", mode="after", source=src, line_color="#1f77b4")
    return Built(column(prices, spread), {"spread": src})


def trades_figure(venue: str, symbol: str, *, height: int = 260, width: int = 700) -> Built:
    """Trade tape: price over time, marker area by size, colour by aggressor side; rolling volume below.

    Source ``trades`` (``ts`` ms, ``price``, ``size``, ``side``, ``colour``, ``radius``, ``volume``) is streamed
    with a rollover; ``volume`` is the traded size over the view's rolling window ending at that trade.
    """
    src = ColumnDataSource({"ts": [], "price": [], "size": [], "side": [], "colour": [], "radius": [],
                            "volume": []}, name=source_name("trades", venue, symbol))
    tape = _time_figure(f"{venue} {symbol} trades", height, width)
    tape.scatter(x="ts", y="price", size="radius", fill_color="colour", line_color="colour", fill_alpha=0.5,
                 source=src)
    tape.add_tools(HoverTool(tooltips=[("price", "@price{0,0.00}"), ("size", "@size"), ("side", "@side")]))
    volume = _time_figure("rolling volume", height // 2 + 40, width, x_range=tape.x_range)
    volume.step(x="ts", y="volume", mode="after", source=src, line_color="#9467bd")
    return Built(column(tape, volume), {"trades": src})


def imbalance_figure(venue: str, symbol: str, *, height: int = 200, width: int = 700) -> Built:
    """Order-book imbalance (bid - ask) / (bid + ask) over the top levels, in [-1, 1], over time.

    Source ``imbalance`` (``ts`` ms, ``imbalance``) is streamed with a rollover.
    """
    src = ColumnDataSource({"ts": [], "imbalance": []}, name=source_name("imbalance", venue, symbol))
    fig = _time_figure(f"{venue} {symbol} book imbalance", height, width, y_range=(-1.05, 1.05))
    fig.varea(x="ts", y1=0, y2="imbalance", source=src, fill_color="#1f77b4", fill_alpha=0.3)
    fig.line(x="ts", y="imbalance", source=src, line_color="#1f77b4")
    fig.add_layout(Span(location=0, dimension="width", line_color=MID_COLOUR, line_width=1))
    return Built(fig, {"imbalance": src})


def onchain_figure(venue: str = "eth", *, height: int = 220, width: int = 700) -> Built:
    """On-chain flow: transfer values over time, net flow by address (top movers), block base fee.

    Sources ``transfers`` (``ts``, ``value``), ``netflow`` (``address``, ``net``; replaced each refresh) and
    ``blocks`` (``ts``, ``base_fee``), named with symbol ``"chain"``.
    """
    transfers = ColumnDataSource({"ts": [], "value": []}, name=source_name("transfers", venue, "chain"))
    netflow = ColumnDataSource({"address": [], "net": [], "colour": []}, name=source_name("netflow", venue, "chain"))
    blocks = ColumnDataSource({"ts": [], "base_fee": []}, name=source_name("blocks", venue, "chain"))
    flow = _time_figure(f"{venue} transfers", height, width)
    flow.scatter(x="ts", y="value", source=transfers, size=5, fill_alpha=0.5)
    net = figure(title="net flow by address", y_range=[], height=height + 80, width=width, tools="save")
    net.hbar(y="address", right="net", height=0.8, fill_color="colour", line_color=None, source=netflow)
    fees = _time_figure("block base fee (gwei)", height, width)
    fees.step(x="ts", y="base_fee", mode="after", source=blocks)
    return Built(column(flow, net, fees), {"transfers": transfers, "netflow": netflow, "blocks": blocks})
