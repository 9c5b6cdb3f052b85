"""Liquidity heatmap, Bookmap-style: resting book size by price over time, with the trades drawn over it.

Each refresh samples the book once and streams one image column: ``bins`` price bins of a fixed width on a grid
aligned to multiples of that width (so a resting wall stays in one row while the mid moves), positioned around the
mid at the time of the sample. The colour is the size resting in the bin on a log scale; empty bins are clear.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from bokeh.models import (
    CategoricalColorMapper,
    ColorBar,
    ColumnDataSource,
    HoverTool,
    Legend,
    LegendItem,
    LogColorMapper,
    LogTicker,
    NumeralTickFormatter,
    Range1d,
)
from bokeh.palettes import Inferno256

from .figures import (
    ASK_COLOUR,
    BID_COLOUR,
    BUY_COLOUR,
    PRICE_FORMAT,
    SELL_COLOUR,
    Built,
    source_name,
    status_label,
    time_figure,
    time_range,
)
from .sampling import SIZE_FORMAT, TIME_FORMAT, ExchangeClock, FrameTap, event_times, infer_tick, nice_step
from .views import View, market_clock, on_feed_loop

if TYPE_CHECKING:
    from ..feed import Feed

__all__ = ["heatmap_figure", "HeatmapView", "bin_depth", "bin_grid"]

NAN = float("nan")
_FIRST_COLUMN_MS = 250.0
"""Width given to the first column, before a refresh period has been seen."""


def heatmap_figure(venue: str, symbol: str, *, height: int = 380, price_format: str = PRICE_FORMAT,
                   x_range: Range1d | None = None) -> Built:
    """Image columns of book size by price over time, best bid / ask lines, and trades as dots by side.

    Sources: ``heatmap`` (one row per column: ``image`` a ``bins x 1`` array of size per bin, NaN when empty,
    ``x``/``dw`` its time span in ms, ``y``/``dh`` its price span, ``ts`` the sample time, ``bid``, ``ask``) and
    ``heatmap-trades`` (``ts``, ``price``, ``size``, ``side``, ``radius``), both streamed with a
    rollover. The colour mapper is named ``heatmap-colour:<venue>:<symbol>``; its ``high`` only ever grows.
    ``x_range`` is the trailing time window the view moves along (default: a new 60 s one).
    """
    x_range = x_range or time_range()
    columns = ColumnDataSource({"image": [], "x": [], "y": [], "dw": [], "dh": [], "ts": [], "bid": [], "ask": []},
                               name=source_name("heatmap", venue, symbol))
    trades = ColumnDataSource({"ts": [], "price": [], "size": [], "side": [], "radius": []},
                              name=source_name("heatmap-trades", venue, symbol))
    mapper = LogColorMapper(palette=Inferno256, low=1e-3, high=1.0, nan_color="rgba(0, 0, 0, 0)",
                            name=source_name("heatmap-colour", venue, symbol))
    fig = time_figure(f"{venue} {symbol} liquidity heatmap", height, x_range, y_format=price_format)
    fig.yaxis.axis_label = "price"
    fig.background_fill_color = "#000004"
    fig.grid.grid_line_alpha = 0.2
    image = fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=columns, color_mapper=mapper)
    # A column spans (previous sample, this sample]: each step holds this sample's price back to the previous one.
    bid = fig.step(x="ts", y="bid", mode="before", source=columns, line_color=BID_COLOUR, line_width=1.5)
    ask = fig.step(x="ts", y="ask", mode="before", source=columns, line_color=ASK_COLOUR, line_width=1.5)
    sides = CategoricalColorMapper(factors=["buy", "sell"], palette=[BUY_COLOUR, SELL_COLOUR])
    tape = fig.scatter(x="ts", y="price", size="radius", fill_color={"field": "side", "transform": sides},
                       line_color="white", line_width=0.5, fill_alpha=0.85, source=trades)
    # Legend swatches for the sides come from renderers of one NaN point (drawn nowhere; an empty renderer gets no
    # swatch): the streamed tape has no fixed row per side for a legend item to point at.
    buy = fig.scatter(x=[NAN], y=[NAN], fill_color=BUY_COLOUR, line_color="white", size=8)
    sell = fig.scatter(x=[NAN], y=[NAN], fill_color=SELL_COLOUR, line_color="white", size=8)
    fig.add_layout(Legend(items=[LegendItem(label="best bid", renderers=[bid]),
                                 LegendItem(label="best ask", renderers=[ask]),
                                 LegendItem(label="buy (taker)", renderers=[buy]),
                                 LegendItem(label="sell (taker)", renderers=[sell])]), "right")
    fig.add_layout(ColorBar(color_mapper=mapper, ticker=LogTicker(), title="size",
                            formatter=NumeralTickFormatter(format="0,0.[000]")), "right")
    fig.add_tools(
        HoverTool(renderers=[image], formatters={"$x": "datetime"}, tooltips=[
            ("time", f"$x{{{TIME_FORMAT}}}"), ("price", "$y{0,0.00}"),
            ("size in bin", f"@image{{{SIZE_FORMAT}}}"),
        ]),
        # One line per trade: dots overlap, and every trade under the cursor is listed.
        HoverTool(renderers=[tape], formatters={"@ts": "datetime"}, tooltips=(
            f"<div>@ts{{{TIME_FORMAT}}} <b>@side</b> @size{{{SIZE_FORMAT}}} at @price{{{price_format}}}</div>")),
    )
    return Built(fig, {"heatmap": columns, "trades": trades}, x_range, [status_label(fig)])


def bin_grid(mid: float, step: float, bins: int) -> float:
    """The lowest bin edge: the grid is aligned to multiples of ``step`` and centred on ``mid``."""
    return (math.floor(mid / step) - bins // 2) * step


def bin_depth(prices: np.ndarray, sizes: np.ndarray, low: float, step: float, bins: int) -> np.ndarray:
    """Total size per bin ``[low + i * step, low + (i + 1) * step)``; levels outside the bins are left out.

    A level exactly on an edge belongs to the bin above it (the nudge absorbs float error in ``price - low``).
    """
    index = np.floor((prices - low) / step + 1e-9).astype(np.int64)
    inside = (index >= 0) & (index < bins)
    return np.bincount(index[inside], weights=sizes[inside], minlength=bins).astype(np.float64)


class HeatmapView(View):
    """Liquidity heatmap of one book with its trades; one image column streamed per refresh.

    ``bins`` price bins of ``bin_size`` each (default: a 1-2-5 step making the bins span about ``band`` either side
    of the mid, never finer than the tick), ``columns`` columns kept (the time window is ``columns`` refreshes),
    ``rollover`` trades kept. A pause longer than ``max_gap`` seconds between samples is left as a gap.
    """

    kind = "heatmap"

    def __init__(self, feed: Feed, venue: str, symbol: str, *, bins: int = 80, band: float = 0.002,
                 bin_size: float | None = None, columns: int = 300, decades: float = 3.0, max_gap: float = 2.0,
                 **kw: Any) -> None:
        if not isinstance(bins, int) or bins < 2:
            raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
        if not isinstance(band, int | float) or not 0 < band < 1:
            raise ValueError(f"band must be a fraction of mid between 0 and 1 (0.002 = 20 bp), got {band!r}")
        if bin_size is not None and not bin_size > 0:
            raise ValueError(f"bin_size must be a positive price step, got {bin_size!r}")
        if not isinstance(columns, int) or columns <= 0:
            raise ValueError(f"columns must be a positive number of refreshes, got {columns!r}")
        if not decades > 0 or not max_gap > 0:
            raise ValueError(f"decades and max_gap must be positive, got {decades!r}, {max_gap!r}")
        self.bins, self.band, self.bin_size, self.columns = bins, float(band), bin_size, columns
        self.decades, self.max_gap_ms = float(decades), max_gap * 1e3
        self.clock = ExchangeClock()
        self._last_ms: float | None = None
        self._last_dw = _FIRST_COLUMN_MS
        self._trade_scale = 0.0
        self._colours_set = False
        super().__init__(feed, venue, symbol, **kw)
        market = [(venue, symbol)]
        self._trades = FrameTap(feed.trades, market, self.rollover)
        self._tops = FrameTap(feed.top_of_book, market, 512)
        self.mapper: LogColorMapper = self.layout.select_one({"name": source_name("heatmap-colour", venue, symbol)})

    def _build(self, **figure_options: Any) -> Built:
        return heatmap_figure(self.venue, self.symbol, **figure_options)

    async def refresh(self) -> None:
        tops = self._tops.read()
        if tops is not None:
            self.clock.observe(tops)
        trades = self._trades.read()
        if trades is not None:
            self.clock.observe(trades)
            self._stream_trades(trades)
        if not self.feed.running:  # a stopped feed's book is frozen: no columns pretending time goes on
            self.refreshes += 1
            return
        if self.bin_size is None:
            self.bin_size = await on_feed_loop(self.feed, self._choose_bin_size)
        if self.bin_size is not None:
            sample = await on_feed_loop(self.feed, self._read_book)
            if sample is not None:
                self._stream_column(*sample)
        self.refreshes += 1

    # -- on the feed loop --------------------------------------------------------------------------------------

    def _choose_bin_size(self) -> float | None:
        book = self.feed.books.get((self.venue, self.symbol))
        mid = book.mid if book is not None else None
        if book is None or mid is None:
            return None
        prices = np.array([p for p, _ in book.bids(50)] + [p for p, _ in book.asks(50)])
        return max(nice_step(2 * self.band * mid / self.bins), infer_tick(prices))

    def _read_book(self) -> tuple[float, float, float, dict[str, np.ndarray]] | None:
        book = self.feed.books.get((self.venue, self.symbol))
        mid = book.mid if book is not None else None
        if book is None or mid is None:
            return None
        reach = (self.bins // 2 + 2) * self.bin_size / mid  # type: ignore[operator]
        return mid, book.best_bid[0], book.best_ask[0], book.cumulative_depth(reach)  # type: ignore[index]

    # -- on the caller's loop ----------------------------------------------------------------------------------

    def _stream_column(self, mid: float, bid: float, ask: float, depth: dict[str, np.ndarray]) -> None:
        step = float(self.bin_size)  # type: ignore[arg-type]
        low = bin_grid(mid, step, self.bins)
        prices = np.concatenate((depth["bid_price"], depth["ask_price"]))
        sizes = np.concatenate((np.diff(depth["bid_cum"], prepend=0.0), np.diff(depth["ask_cum"], prepend=0.0)))
        column = bin_depth(prices, sizes, low, step, self.bins)
        now = self.clock.now_ns() / 1e6
        if self._last_ms is None or now - self._last_ms > self.max_gap_ms:
            start = now - self._last_dw  # a first column, or one after a pause: keep the gap visible
        else:
            start = self._last_ms
            now = max(now, start + 1.0)  # the exchange clock estimate may step back a little
            self._last_dw = now - start
        self._last_ms = now
        market_clock(self.feed, self.venue, self.symbol, now)
        self._widen_colours(column)
        self.sources["heatmap"].stream({
            "image": [np.where(column > 0, column, np.nan).reshape(self.bins, 1)],
            "x": [start], "y": [low], "dw": [now - start], "dh": [self.bins * step], "ts": [now],
            "bid": [bid], "ask": [ask],
        }, rollover=self.columns)

    def _widen_colours(self, column: np.ndarray) -> None:
        """Grow the colour scale when a bin outgrows it (rare, so the mapper is seldom re-sent)."""
        peak = float(column.max()) if len(column) else 0.0
        if peak <= 0:
            return
        if not self._colours_set:
            self.mapper.update(low=peak * 1.5 / 10**self.decades, high=peak * 1.5)
            self._colours_set = True
        elif peak > self.mapper.high:
            self.mapper.high = peak * 2.0

    def _stream_trades(self, rows: dict[str, np.ndarray]) -> None:
        sizes = rows["size"].astype(np.float64)
        self._trade_scale = max(self._trade_scale * 0.999, float(sizes.max()))
        sides = rows["side"].astype(str)
        self.sources["trades"].stream({
            "ts": event_times(rows) / 1e6, "price": rows["price"], "size": sizes, "side": sides,
            "radius": 4.0 + 10.0 * np.sqrt(np.clip(sizes / (self._trade_scale or 1.0), 0.0, 1.0)),
        }, rollover=self.rollover)
