"""Bokeh figures of the derivatives views, as pure functions (sources in, a layout out), like :mod:`.figures`.

Every source is named ``source_name(kind, venue, symbol)``: ``basis`` / ``basis-funding`` (of the perpetual or
future), ``funding`` (one per market), ``liquidations`` / ``liquidations-price``, ``smile`` / ``smile-meta``
(symbol ``<UNDERLYING>-<YYYYMMDD>``) and ``term`` (symbol the underlying).
"""

from __future__ import annotations

from collections.abc import Sequence

from bokeh.layouts import column
from bokeh.models import (
    ColumnDataSource,
    CustomJSHover,
    HoverTool,
    Legend,
    LegendItem,
    LinearColorMapper,
    NumeralTickFormatter,
    Range1d,
    Span,
)
from bokeh.plotting import figure

from .figures import (
    ASK_COLOUR,
    BID_COLOUR,
    BUY_COLOUR,
    MID_COLOUR,
    PRICE_FORMAT,
    SELL_COLOUR,
    Built,
    source_name,
    status_label,
    time_figure,
    time_range,
)
from .multivenue import venue_colour
from .sampling import SIZE_FORMAT, TIME_FORMAT

__all__ = ["basis_figure", "funding_figure", "liquidations_figure", "smile_figure", "term_structure_figure",
           "BASIS_COLUMNS", "FUNDING_COLUMNS", "SMILE_COLUMNS", "TERM_COLUMNS"]

BASIS_COLUMNS = ("ts", "derivative", "spot", "basis", "premium_bp", "annual")
FUNDING_COLUMNS = ("ts", "rate", "annual", "next_funding", "mark")
LIQUIDATION_COLUMNS = ("ts", "price", "size", "notional", "buy", "radius")
SMILE_COLUMNS = ("strike", "mark_iv", "bid_iv", "ask_iv", "call_iv", "put_iv", "option", "delta", "moneyness")
TERM_COLUMNS = ("expiry", "days", "atm_iv", "forward", "label", "options")
_PCT = "0,0.00[00]"
_TOOLS = "pan,wheel_zoom,box_zoom,reset,save"


def _legend_right(fig: figure, items: list[LegendItem]) -> None:
    fig.add_layout(Legend(items=items, click_policy="hide"), "right")


def basis_figure(venue: str, symbol: str, spot_venue: str, spot_symbol: str, *, dated: bool, height: int = 240,
                 x_range: Range1d | None = None, quote: str = "", funding_hours: float = 8.0) -> Built:
    """A perpetual's or future's mid against the spot mid, the basis in price, and the basis as an annual rate.

    Source ``basis`` (:data:`BASIS_COLUMNS`: ``ts`` ms, the two mids, ``basis`` = derivative - spot,
    ``premium_bp`` = basis / spot in bp, ``annual`` = % a year: a future's basis over its time to expiry, a
    perpetual's premium as if paid every funding interval) and, for a perpetual, ``basis-funding``
    (:data:`FUNDING_COLUMNS`: the venue's funding rate, annualised), both streamed with a rollover.
    """
    x_range = x_range or time_range()
    src = ColumnDataSource({c: [] for c in BASIS_COLUMNS}, name=source_name("basis", venue, symbol))
    unit = f" ({quote})" if quote else ""
    prices = time_figure(f"{venue} {symbol} vs {spot_venue} {spot_symbol} (mids)", height, x_range,
                         y_axis_label=f"price{unit}", y_format=PRICE_FORMAT)
    lines = [prices.step(x="ts", y=col, mode="after", source=src, line_color=colour, line_width=1.5)
             for col, colour in (("derivative", "#1f77b4"), ("spot", MID_COLOUR))]
    _legend_right(prices, [LegendItem(label=symbol, renderers=[lines[0]]),
                           LegendItem(label=f"{spot_venue} {spot_symbol}", renderers=[lines[1]])])
    hover = [("time", f"@ts{{{TIME_FORMAT}}}"), (symbol, f"@derivative{{{PRICE_FORMAT}}}"),
             ("spot", f"@spot{{{PRICE_FORMAT}}}"), ("basis", f"@basis{{+0,0.00[00]}}{unit} (@premium_bp{{+0.00}} bp)"),
             ("annualised", "@annual{+0,0.00}% a year")]
    prices.add_tools(HoverTool(renderers=lines, tooltips=hover, formatters={"@ts": "datetime"}, mode="vline"))
    basis = time_figure(f"basis{unit}: {symbol} - spot", height // 2 + 40, x_range, y_axis_label=f"basis{unit}",
                        y_format="+0,0.00")
    line = basis.step(x="ts", y="basis", mode="after", source=src, line_color="#1f77b4")
    basis.add_layout(Span(location=0, dimension="width", line_color=MID_COLOUR, line_width=1))
    basis.add_tools(HoverTool(renderers=[line], tooltips=hover, formatters={"@ts": "datetime"}, mode="vline"))
    sources = {"basis": src}
    what = "basis to expiry" if dated else f"premium as {funding_hours:g} h funding"
    rate = time_figure("annualised (% a year)", height // 2 + 40, x_range, y_axis_label="% a year", y_format="+0,0.00")
    annual = rate.step(x="ts", y="annual", mode="after", source=src, line_color="#9467bd", line_width=1.5)
    items = [LegendItem(label=what, renderers=[annual])]
    rate.add_tools(HoverTool(renderers=[annual], tooltips=[("time", f"@ts{{{TIME_FORMAT}}}"),
                                                            (what, "@annual{+0,0.00}% a year")],
                             formatters={"@ts": "datetime"}, mode="vline"))
    if not dated:
        funding = ColumnDataSource({c: [] for c in FUNDING_COLUMNS}, name=source_name("basis-funding", venue, symbol))
        paid = rate.step(x="ts", y="annual", mode="after", source=funding, line_color="#ff7f0e", line_width=1.5)
        items.append(LegendItem(label="funding rate", renderers=[paid]))
        rate.add_tools(HoverTool(renderers=[paid], formatters={"@ts": "datetime", "@next_funding": "datetime"},
                                 tooltips=[("time", f"@ts{{{TIME_FORMAT}}}"),
                                           ("funding", "@rate{0.0000}% per interval = @annual{+0,0.00}% a year"),
                                           ("next funding", "@next_funding{%F %H:%M} UTC")]))
        sources["funding"] = funding
    rate.add_layout(Span(location=0, dimension="width", line_color=MID_COLOUR, line_width=1))
    _legend_right(rate, items)
    for fig in (prices, basis, rate):
        fig.min_border_right = 190  # the legends' room, so the three time axes line up
    return Built(column(prices, basis, rate, sizing_mode="stretch_width"), sources, x_range,
                 [status_label(prices), status_label(basis), status_label(rate)])


def funding_figure(markets: Sequence[tuple[str, str]], *, height: int = 280, x_range: Range1d | None = None) -> Built:
    """One step line per market: its funding rate (% of the interval) over time.

    One source per market, by role ``venue:symbol`` (named ``funding:<venue>:<symbol>``; :data:`FUNDING_COLUMNS`:
    ``rate`` in % per interval, ``annual`` in % a year, ``next_funding`` ms, ``mark``), streamed with a rollover.
    The title names the next funding time; the hover each market's.
    """
    x_range = x_range or time_range(600.0)
    fig = time_figure("funding rate (% per funding interval)", height, x_range, y_axis_label="% per interval",
                      y_format="0.0000")
    sources, items = {}, []
    for venue, symbol in markets:
        src = ColumnDataSource({c: [] for c in FUNDING_COLUMNS}, name=source_name("funding", venue, symbol))
        line = fig.step(x="ts", y="rate", mode="after", source=src, line_color=venue_colour(venue), line_width=1.5)
        fig.add_tools(HoverTool(renderers=[line], formatters={"@ts": "datetime", "@next_funding": "datetime"},
                                tooltips=[("market", f"{venue} {symbol}"), ("time", f"@ts{{{TIME_FORMAT}}}"),
                                          ("funding", "@rate{0.0000}% (@annual{+0,0.00}% a year)"),
                                          ("next funding", "@next_funding{%F %H:%M} UTC"),
                                          ("mark", f"@mark{{{PRICE_FORMAT}}}")]))
        sources[f"{venue}:{symbol}"] = src
        items.append(LegendItem(label=f"{venue} {symbol}", renderers=[line]))
    fig.add_layout(Span(location=0, dimension="width", line_color=MID_COLOUR, line_width=1))
    _legend_right(fig, items)
    return Built(fig, sources, x_range, [status_label(fig)])


def liquidations_figure(venue: str, symbol: str, *, height: int = 300, x_range: Range1d | None = None,
                        quote: str = "", base: str = "") -> Built:
    """Forced orders over the market's mid: marker area by size, colour by the liquidation order's side.

    Sources ``liquidations`` (``ts`` ms, ``price``, ``size``, ``notional``, ``buy`` 1/0, ``radius``) and
    ``liquidations-price`` (``ts``, ``mid`` from the top of book), both streamed with a rollover.
    """
    x_range = x_range or time_range(300.0)
    tape = ColumnDataSource({c: [] for c in LIQUIDATION_COLUMNS}, name=source_name("liquidations", venue, symbol))
    price = ColumnDataSource({"ts": [], "mid": []}, name=source_name("liquidations-price", venue, symbol))
    unit = f" ({quote})" if quote else ""
    fig = time_figure(f"{venue} {symbol} liquidations", height, x_range, y_axis_label=f"price{unit}",
                      y_format=PRICE_FORMAT)
    mid = fig.step(x="ts", y="mid", mode="after", source=price, line_color=MID_COLOUR, line_alpha=0.7)
    colours = LinearColorMapper(palette=[SELL_COLOUR, BUY_COLOUR], low=0, high=1)
    marks = fig.scatter(x="ts", y="price", size="radius", source=tape, fill_alpha=0.55, marker="diamond",
                        fill_color={"field": "buy", "transform": colours},
                        line_color={"field": "buy", "transform": colours})
    nan = [float("nan")]
    buys = fig.scatter(x=nan, y=nan, marker="diamond", fill_color=BUY_COLOUR, line_color=BUY_COLOUR)
    sells = fig.scatter(x=nan, y=nan, marker="diamond", fill_color=SELL_COLOUR, line_color=SELL_COLOUR)
    _legend_right(fig, [LegendItem(label="mid", renderers=[mid]),
                        LegendItem(label="buy (shorts liquidated)", renderers=[buys]),
                        LegendItem(label="sell (longs liquidated)", renderers=[sells])])
    side = CustomJSHover(code="return value ? 'buy (a short closed)' : 'sell (a long closed)';")
    fig.add_tools(HoverTool(renderers=[marks], formatters={"@ts": "datetime", "@buy": side}, tooltips=[
        ("time", f"@ts{{{TIME_FORMAT}}}"), ("side", "@buy{side}"), ("price", f"@price{{{PRICE_FORMAT}}}{unit}"),
        ("size", f"@size{{{SIZE_FORMAT}}} {base}".rstrip()), ("notional", f"@notional{{0,0}}{unit}")]))
    return Built(fig, {"liquidations": tape, "price": price}, x_range, [status_label(fig)])


def smile_figure(venue: str, label: str, *, height: int = 320) -> Built:
    """Implied volatility by strike for one expiry: mark IV as a line, bid and ask IV as markers, the forward
    (underlying price) as a vertical line.

    Source ``smile`` (:data:`SMILE_COLUMNS`, one row per strike from the out-of-the-money option there: puts below
    the forward, calls above; IVs in %; replaced when a quote changed) and ``smile-meta`` (one row: ``forward``,
    ``ts``; patched). ``label`` is ``<UNDERLYING>-<YYYYMMDD>``.
    """
    smile = ColumnDataSource({c: [] for c in SMILE_COLUMNS}, name=source_name("smile", venue, label))
    meta = ColumnDataSource({"forward": [float("nan")], "ts": [0.0]}, name=source_name("smile-meta", venue, label))
    fig = figure(title=f"{venue} {label} smile (implied vol by strike)", height=height, sizing_mode="stretch_width",
                 tools=_TOOLS, x_axis_label="strike", y_axis_label="implied vol (%)", min_border_left=80)
    fig.xaxis.formatter = NumeralTickFormatter(format="0,0.[00]")
    fig.yaxis.formatter = NumeralTickFormatter(format="0,0.0")
    mark = fig.line(x="strike", y="mark_iv", source=smile, line_color="#1f77b4", line_width=2)
    dots = fig.scatter(x="strike", y="mark_iv", source=smile, size=6, fill_color="#1f77b4", line_color="#1f77b4")
    bid = fig.scatter(x="strike", y="bid_iv", source=smile, marker="triangle", size=8, fill_color=BID_COLOUR,
                      line_color=BID_COLOUR, fill_alpha=0.6)
    ask = fig.scatter(x="strike", y="ask_iv", source=smile, marker="inverted_triangle", size=8,
                      fill_color=ASK_COLOUR, line_color=ASK_COLOUR, fill_alpha=0.6)
    forward = fig.vspan(x="forward", source=meta, line_color=MID_COLOUR, line_dash="dashed", line_width=1)
    _legend_right(fig, [LegendItem(label="mark IV", renderers=[mark, dots]),
                        LegendItem(label="bid IV", renderers=[bid]), LegendItem(label="ask IV", renderers=[ask]),
                        LegendItem(label="forward", renderers=[forward])])
    fig.add_tools(HoverTool(renderers=[dots, bid, ask], tooltips=[
        ("option", "@option"), ("strike", "@strike{0,0.[00]}"), ("moneyness", "@moneyness{0.000} (K / F)"),
        ("mark IV", "@mark_iv{0.00}%"), ("bid / ask IV", "@bid_iv{0.00}% / @ask_iv{0.00}%"),
        ("call / put mark IV", "@call_iv{0.00}% / @put_iv{0.00}%"), ("delta", "@delta{+0.000}")]))
    return Built(fig, {"smile": smile, "meta": meta}, None, [status_label(fig)])


def term_structure_figure(venue: str, underlying: str, *, height: int = 260) -> Built:
    """At-the-money implied volatility by expiry (days to expiry on the x axis).

    Source ``term`` (:data:`TERM_COLUMNS`: ``expiry`` ms, ``days``, ``atm_iv`` %, ``forward``, ``label``, ``options``
    = quoted options of that expiry), replaced when an expiry's ATM IV changed.
    """
    src = ColumnDataSource({c: [] for c in TERM_COLUMNS}, name=source_name("term", venue, underlying))
    fig = figure(title=f"{venue} {underlying} ATM implied vol term structure", height=height,
                 sizing_mode="stretch_width", tools=_TOOLS, x_axis_label="days to expiry",
                 y_axis_label="ATM implied vol (%)", min_border_left=80)
    fig.xaxis.formatter = NumeralTickFormatter(format="0,0.[0]")
    fig.yaxis.formatter = NumeralTickFormatter(format="0,0.0")
    fig.line(x="days", y="atm_iv", source=src, line_color="#9467bd", line_width=2)
    dots = fig.scatter(x="days", y="atm_iv", source=src, size=8, fill_color="#9467bd", line_color="#9467bd")
    fig.add_tools(HoverTool(renderers=[dots], tooltips=[
        ("expiry", "@label"), ("days", "@days{0,0.0}"), ("ATM IV", "@atm_iv{0.00}%"),
        ("forward", f"@forward{{{PRICE_FORMAT}}}"), ("options quoted", "@options")]))
    return Built(fig, {"term": src}, None, [status_label(fig)])
