"""Bokeh figures for live market views, as pure functions: data sources in, a layout out.

The notebook widgets and the Bokeh-server dashboard page both build their figures here, so the two always look the
same. Each call builds new models (a Bokeh model belongs to exactly one document), and every data source carries a
stable ``name`` (``source_name(kind, venue, symbol)``) so a browser test or a user can find it through
``Bokeh.documents[i].get_model_by_name(name)``. Nothing here reads the feed; :mod:`livefeed.viz.views` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bokeh.layouts import column
from bokeh.models import (
    ColumnDataSource,
    CustomJSHover,
    DatetimeTickFormatter,
    HoverTool,
    Label,
    LayoutDOM,
    Legend,
    LinearColorMapper,
    NumeralTickFormatter,
    Range1d,
    Span,
    VStrip,
)
from bokeh.plotting import figure

__all__ = [
    "BID_COLOUR", "ASK_COLOUR", "BUY_COLOUR", "SELL_COLOUR", "Built",
    "PRICE_FORMAT", "source_name", "time_range", "time_figure", "status_label", "depth_figure", "spread_figure",
    "trades_figure", "imbalance_figure", "onchain_figure", "candles_figure",
]

BID_COLOUR = "#2ca02c"
ASK_COLOUR = "#d62728"
BUY_COLOUR = "#2ca02c"
SELL_COLOUR = "#d62728"
MID_COLOUR = "#555555"
_TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
PRICE_FORMAT = "0,0.00[000000]"
"""Prices: thousands separators, 2 to 8 decimals, never scientific notation."""


def _utc_ticks() -> DatetimeTickFormatter:
    """Time ticks as a trading screen shows them (Bokeh draws datetimes in UTC)."""
    return DatetimeTickFormatter(milliseconds="%H:%M:%S.%3N", seconds="%H:%M:%S", minsec="%H:%M:%S",
                                 minutes="%H:%M", hourmin="%H:%M", hours="%H:%M", days="%b %d")


@dataclass(slots=True)
class Built:
    """A layout plus the sources a view updates, by role (e.g. ``"bids"``), its time range and status labels."""

    layout: LayoutDOM
    sources: dict[str, ColumnDataSource]
    x_range: Range1d | None = None
    """The trailing time window (shared by every time-based figure of the layout); ``None`` for a price axis."""
    labels: list[Label] = field(default_factory=list)
    """One status label per figure: says "stopped", "paused", "reconnecting" over the plot."""


def source_name(kind: str, venue: str, symbol: str) -> str:
    """The ``name`` of a view's data source, e.g. ``depth-meta:binance:BTC-USDT``."""
    return f"{kind}:{venue}:{symbol}"


def time_range(window: float = 60.0) -> Range1d:
    """A trailing time window of ``window`` seconds; the views move it along exchange time each refresh."""
    return Range1d(start=0, end=window * 1000.0)


def status_label(fig: figure) -> Label:
    """A label over the top-left of ``fig``, hidden until the view has something to say (stopped, paused...)."""
    label = Label(x=8, y=8, x_units="screen", y_units="screen", text="", visible=False, text_font_size="15px",
                  text_font_style="bold", text_color="#ffffff", background_fill_color="#b22222",
                  background_fill_alpha=0.85)
    fig.add_layout(label)
    return label


def time_figure(title: str, height: int, x_range: Range1d | None = None, *, y_format: str = "0,0.[00]",
                **kw: Any) -> figure:
    """A figure with a UTC exchange-time x axis (on ``x_range``, e.g. a shared trailing window; else fitted to the
    data) and a y axis in ``y_format`` (never scientific notation), filling the width, left borders aligned."""
    if x_range is not None:
        kw["x_range"] = x_range
    kw.setdefault("min_border_left", 80)  # stacked plot areas line up
    fig = figure(title=title, x_axis_type="datetime", height=height, sizing_mode="stretch_width", tools=_TOOLS,
                 toolbar_location="right", x_axis_label="time (UTC, exchange time)", **kw)
    fig.xaxis.formatter = _utc_ticks()
    fig.yaxis.formatter = NumeralTickFormatter(format=y_format)
    return fig


def _outside_legend(fig: figure) -> None:
    """Move the legend out of the data area, to the right of the plot."""
    legends = [r for r in fig.center if isinstance(r, Legend)]
    if legends:
        legend = legends[0]
        fig.center = [r for r in fig.center if not isinstance(r, Legend)]
        legend.location = "top_left"
        legend.click_policy = "hide"
        fig.add_layout(legend, "right")


UNSYNCED_COLOURS = {"resyncing": "#ff7f0e", "stale": "#bcbd22", "disconnected": "#d62728", "gap": "#9467bd"}
"""Shading of a stream's unsynced stretches, by coverage state (see :mod:`livefeed.coverage`)."""


def unsynced_strips(figures: list[figure], venue: str, symbol: str, stream: str) -> ColumnDataSource:
    """Shade, behind the data of each of ``figures``, the stretches when ``venue:symbol``'s ``stream`` was not
    synced: full-height strips from source ``coverage-<stream>`` (``left``, ``right`` ms, ``colour``, ``label``)."""
    src = ColumnDataSource({"left": [], "right": [], "colour": [], "label": []},
                           name=source_name(f"coverage-{stream}", venue, symbol))
    for fig in figures:
        fig.add_glyph(src, VStrip(x0="left", x1="right", fill_color="colour", fill_alpha=0.18, line_color=None),
                      level="underlay", name="unsynced")
    return src


def depth_figure(venue: str, symbol: str, *, height: int = 320, quote: str = "", base: str = "") -> Built:
    """Cumulative bid and ask size against price, as bars over a fixed number of price bins; best bid / ask / mid
    marked.

    Sources: ``depth-bids`` and ``depth-asks`` (``price`` = bin centre, ``cum`` = cumulative size from the touch to
    that bin; replaced whole each refresh) and ``depth-meta`` (one row: ``ts`` in ms, ``bid``, ``ask``, ``mid``,
    ``band``, ``width`` = bin width; patched in place). Hover: side, price, cumulative size, notional and distance
    from mid in bp.
    """
    bids = ColumnDataSource({"price": [], "cum": []}, name=source_name("depth-bids", venue, symbol))
    asks = ColumnDataSource({"price": [], "cum": []}, name=source_name("depth-asks", venue, symbol))
    meta = ColumnDataSource({"ts": [0.0], "bid": [float("nan")], "ask": [float("nan")], "mid": [float("nan")],
                             "band": [float("nan")], "width": [0.0]}, name=source_name("depth-meta", venue, symbol))
    fig = figure(title=f"{venue} {symbol} depth", height=height, sizing_mode="stretch_width", tools=_TOOLS,
                 x_axis_label=f"price ({quote})" if quote else "price",
                 y_axis_label=f"cumulative size ({base})" if base else "cumulative size", min_border_left=80)
    fig.xaxis.formatter = NumeralTickFormatter(format="0,0.[00]")
    fig.yaxis.formatter = NumeralTickFormatter(format="0,0.[000]")
    renderers = []
    for src, colour, label in ((bids, BID_COLOUR, "bids"), (asks, ASK_COLOUR, "asks")):
        renderers.append(fig.vbar(x="price", top="cum", width=0.0, source=src, fill_color=colour, fill_alpha=0.35,
                                  line_color=colour, line_alpha=0.6, legend_label=label, name=label))
    fig.vspan(x="bid", source=meta, line_color=BID_COLOUR, line_dash="dashed", line_width=1)
    fig.vspan(x="ask", source=meta, line_color=ASK_COLOUR, line_dash="dashed", line_width=1)
    fig.vspan(x="mid", source=meta, line_color=MID_COLOUR, line_width=1, legend_label="mid")
    notional = CustomJSHover(code="return (value * special_vars.data_x).toLocaleString('en-US', "
                                  "{maximumFractionDigits: 0});")
    distance = CustomJSHover(args={"meta": meta}, code="""
        const mid = meta.data.mid[0];
        const bp = (special_vars.data_x / mid - 1) * 1e4;
        return (bp >= 0 ? '+' : '') + bp.toFixed(1) + ' bp';""")
    unit = f" {quote}" if quote else ""
    fig.add_tools(HoverTool(renderers=renderers, tooltips=[
        ("side", "$name"), ("price", "@price{0,0.00[000000]}" + unit), ("cumulative size", "@cum{0,0.0000}"),
        ("notional", "@cum{notional}" + unit), ("from mid", "@price{distance}")],
        formatters={"@cum": notional, "@price": distance}))
    _outside_legend(fig)
    return Built(fig, {"bids": bids, "asks": asks, "meta": meta}, None, [status_label(fig)])


def spread_figure(venue: str, symbol: str, *, height: int = 240, x_range: Range1d | None = None,
                  spread_unit: str = "bp", quote: str = "") -> Built:
    """Best bid, best ask and mid over time, and the spread (in bp, or in quote currency) below, on one window.

    Source ``spread`` (``ts`` ms, ``bid``, ``ask``, ``mid``, ``spread``) is streamed with a rollover; a NaN row
    marks a gap in the data, so a gap shows as a gap.
    """
    x_range = x_range or time_range()
    src = ColumnDataSource({"ts": [], "bid": [], "ask": [], "mid": [], "spread": []},
                           name=source_name("spread", venue, symbol))
    prices = time_figure(f"{venue} {symbol} best bid / ask / mid", height, x_range,
                          y_axis_label=f"price ({quote})" if quote else "price")
    for col, colour in (("bid", BID_COLOUR), ("ask", ASK_COLOUR), ("mid", MID_COLOUR)):
        prices.step(x="ts", y=col, mode="after", source=src, line_color=colour, legend_label=col)
    unit = "bp" if spread_unit == "bp" else (quote or "quote")
    spread_fmt = "0,0.00" if spread_unit == "bp" else PRICE_FORMAT
    hover = [("time", "@ts{%H:%M:%S.%3N} UTC"), ("bid", f"@bid{{{PRICE_FORMAT}}}"), ("ask", f"@ask{{{PRICE_FORMAT}}}"),
             ("mid", f"@mid{{{PRICE_FORMAT}}}"), ("spread", f"@spread{{{spread_fmt}}} {unit}")]
    prices.add_tools(HoverTool(tooltips=hover, formatters={"@ts": "datetime"}, mode="vline"))
    _outside_legend(prices)
    spread = time_figure(f"spread ({unit})", height // 2 + 40, x_range, y_axis_label=unit)
    spread.step(x="ts", y="spread", mode="after", source=src, line_color="#1f77b4")
    spread.add_tools(HoverTool(tooltips=hover, formatters={"@ts": "datetime"}, mode="vline"))
    shading = unsynced_strips([prices, spread], venue, symbol, "book")
    return Built(column(prices, spread, sizing_mode="stretch_width"), {"spread": src, "coverage": shading}, x_range,
                 [status_label(prices), status_label(spread)])


def trades_figure(venue: str, symbol: str, *, height: int = 260, x_range: Range1d | None = None,
                  window: float = 60.0, quote: str = "", base: str = "") -> Built:
    """Trade tape: price over time, marker area by size, colour by aggressor side (legend: buy / sell);
    volume traded over the last ``window`` seconds below.

    Source ``trades`` (``ts`` ms, ``price``, ``size``, ``buy`` 1/0, ``radius``, ``volume``, ``trade_id``) is
    streamed with a rollover.
    """
    x_range = x_range or time_range()
    src = ColumnDataSource({"ts": [], "price": [], "size": [], "buy": [], "radius": [], "volume": [],
                            "trade_id": []}, name=source_name("trades", venue, symbol))
    tape = time_figure(f"{venue} {symbol} trades", height, x_range,
                        y_axis_label=f"price ({quote})" if quote else "price")
    colours = LinearColorMapper(palette=[SELL_COLOUR, BUY_COLOUR], low=0, high=1)
    tape.scatter(x="ts", y="price", size="radius", fill_color={"field": "buy", "transform": colours},
                 line_color={"field": "buy", "transform": colours}, fill_alpha=0.5, source=src)
    # Legend swatches for the two sides: renderers of one NaN point (drawn nowhere; an empty one gets no swatch).
    nan = [float("nan")]
    tape.scatter(x=nan, y=nan, fill_color=BUY_COLOUR, line_color=BUY_COLOUR, legend_label="buy (taker)")
    tape.scatter(x=nan, y=nan, fill_color=SELL_COLOUR, line_color=SELL_COLOUR, legend_label="sell (taker)")
    side = CustomJSHover(code="return value ? 'buy' : 'sell';")
    unit = f" {quote}" if quote else ""
    tape.add_tools(HoverTool(tooltips=[
        ("time", "@ts{%H:%M:%S.%3N} UTC"), ("price", f"@price{{{PRICE_FORMAT}}}{unit}"),
        ("size", f"@size{{{PRICE_FORMAT}}}"), ("side", "@buy{side}"), ("trade id", "@trade_id")],
        formatters={"@ts": "datetime", "@buy": side}))
    _outside_legend(tape)
    label = f"volume, last {window:g} s" + (f" ({base})" if base else "")
    volume = time_figure(label, height // 2 + 40, x_range, y_axis_label=base or "size")
    volume.step(x="ts", y="volume", mode="after", source=src, line_color="#9467bd")
    volume.add_tools(HoverTool(tooltips=[("time", "@ts{%H:%M:%S.%3N} UTC"), (label, f"@volume{{{PRICE_FORMAT}}}")],
                               formatters={"@ts": "datetime"}, mode="vline"))
    shading = unsynced_strips([tape, volume], venue, symbol, "trades")
    return Built(column(tape, volume, sizing_mode="stretch_width"), {"trades": src, "coverage": shading}, x_range,
                 [status_label(tape), status_label(volume)])


def imbalance_figure(venue: str, symbol: str, *, height: int = 200, x_range: Range1d | None = None,
                     levels: int = 10) -> Built:
    """Order-book imbalance (bid - ask) / (bid + ask) over the top levels, in [-1, 1], over time.

    Source ``imbalance`` (``ts`` ms, ``imbalance``) is streamed with a rollover.
    """
    x_range = x_range or time_range()
    src = ColumnDataSource({"ts": [], "imbalance": []}, name=source_name("imbalance", venue, symbol))
    fig = time_figure(f"{venue} {symbol} book imbalance, top {levels} levels", height, x_range,
                       y_range=(-1.05, 1.05), y_axis_label="(bid - ask) / (bid + ask)")
    fig.varea(x="ts", y1=0, y2="imbalance", source=src, fill_color="#1f77b4", fill_alpha=0.3)
    fig.line(x="ts", y="imbalance", source=src, line_color="#1f77b4")
    fig.add_layout(Span(location=0, dimension="width", line_color=MID_COLOUR, line_width=1))
    fig.add_tools(HoverTool(tooltips=[("time", "@ts{%H:%M:%S.%3N} UTC"), ("imbalance", "@imbalance{+0.000}")],
                            formatters={"@ts": "datetime"}, mode="vline"))
    return Built(fig, {"imbalance": src}, x_range, [status_label(fig)])


def onchain_figure(venue: str = "eth", *, height: int = 220, x_range: Range1d | None = None) -> Built:
    """On-chain flow: transfer values over time, net flow by address (top movers), block base fee.

    Sources ``transfers`` (``ts``, ``value``), ``netflow`` (``address``, ``net``; replaced each refresh) and
    ``blocks`` (``ts``, ``base_fee``), named with symbol ``"chain"``.
    """
    x_range = x_range or time_range(600.0)
    transfers = ColumnDataSource({"ts": [], "value": []}, name=source_name("transfers", venue, "chain"))
    netflow = ColumnDataSource({"address": [], "net": [], "colour": []}, name=source_name("netflow", venue, "chain"))
    blocks = ColumnDataSource({"ts": [], "base_fee": []}, name=source_name("blocks", venue, "chain"))
    flow = time_figure(f"{venue} transfers", height, x_range, y_axis_label="value (token units)")
    flow.scatter(x="ts", y="value", source=transfers, size=5, fill_alpha=0.5)
    flow.add_tools(HoverTool(tooltips=[("time", "@ts{%H:%M:%S} UTC"), ("value", f"@value{{{PRICE_FORMAT}}}")],
                             formatters={"@ts": "datetime"}))
    net = figure(title="net flow by address", y_range=[], height=height + 80, sizing_mode="stretch_width",
                 tools="save", min_border_left=80)
    net.hbar(y="address", right="net", height=0.8, fill_color="colour", line_color=None, source=netflow)
    net.xaxis.formatter = NumeralTickFormatter(format="0,0.[00]")
    net.add_tools(HoverTool(tooltips=[("address", "@address"), ("net", f"@net{{{PRICE_FORMAT}}}")]))
    fees = time_figure("block base fee (gwei)", height, x_range, y_axis_label="gwei")
    fees.step(x="ts", y="base_fee", mode="after", source=blocks)
    fees.add_tools(HoverTool(tooltips=[("time", "@ts{%H:%M:%S} UTC"), ("base fee", "@base_fee{0,0.000} gwei")],
                             formatters={"@ts": "datetime"}, mode="vline"))
    return Built(column(flow, net, fees, sizing_mode="stretch_width"),
                 {"transfers": transfers, "netflow": netflow, "blocks": blocks}, x_range,
                 [status_label(flow), status_label(net), status_label(fees)])


def candles_figure(venue: str, symbol: str, interval_ms: float, *, height: int = 300,
                   x_range: Range1d | None = None, quote: str = "", base: str = "") -> Built:
    """Candlesticks (high-low wick, open-close body; green when close >= open) with the volume beneath, split
    into taker buys and sells.

    Sources ``candles`` (closed bars, streamed) and ``open-candle`` (the one bar still updating, replaced each
    refresh) share columns: ``ts`` (bar centre, ms), ``open``, ``high``, ``low``, ``close``, ``volume``,
    ``buy``, ``sell``, ``vwap``, ``trades``, ``up`` (1/0).
    """
    x_range = x_range or time_range()
    columns = ("ts", "open", "high", "low", "close", "volume", "buy", "sell", "vwap", "trades", "up")
    closed = ColumnDataSource({c: [] for c in columns}, name=source_name("candles", venue, symbol))
    current = ColumnDataSource({c: [] for c in columns}, name=source_name("open-candle", venue, symbol))
    prices = time_figure(f"{venue} {symbol} bars", height, x_range,
                         y_axis_label=f"price ({quote})" if quote else "price", y_format=PRICE_FORMAT)
    volume = time_figure("volume (taker buys / sells)", height // 2 + 40, x_range,
                         y_axis_label=f"volume ({base})" if base else "volume")
    colours = LinearColorMapper(palette=[SELL_COLOUR, BUY_COLOUR], low=0, high=1)
    width = interval_ms * 0.7
    for src, alpha in ((closed, 0.9), (current, 0.45)):
        prices.segment(x0="ts", y0="low", x1="ts", y1="high", source=src, line_color=MID_COLOUR)
        prices.vbar(x="ts", width=width, top="open", bottom="close", source=src, line_color=MID_COLOUR,
                    fill_color={"field": "up", "transform": colours}, fill_alpha=alpha)
        volume.vbar(x="ts", width=width, top="buy", bottom=0, source=src, fill_color=BUY_COLOUR, fill_alpha=alpha,
                    line_color=None)
        volume.vbar(x="ts", width=width, top="volume", bottom="buy", source=src, fill_color=SELL_COLOUR,
                    fill_alpha=alpha, line_color=None)
    hover = [("bar", "@ts{%H:%M:%S.%3N} UTC"), ("open", f"@open{{{PRICE_FORMAT}}}"),
             ("high", f"@high{{{PRICE_FORMAT}}}"), ("low", f"@low{{{PRICE_FORMAT}}}"),
             ("close", f"@close{{{PRICE_FORMAT}}}"), ("vwap", f"@vwap{{{PRICE_FORMAT}}}"),
             ("volume", "@volume{0,0.[0000]} (buy @buy{0,0.[0000]})"), ("trades", "@trades")]
    for fig in (prices, volume):
        fig.add_tools(HoverTool(tooltips=hover, formatters={"@ts": "datetime"}))
    shading = unsynced_strips([prices, volume], venue, symbol, "trades")
    return Built(column(prices, volume, sizing_mode="stretch_width"),
                 {"candles": closed, "open-candle": current, "coverage": shading}, x_range,
                 [status_label(prices), status_label(volume)])
