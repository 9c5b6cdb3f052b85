"""A live L2 ladder: one row per price step around the touch, bid and ask size, and the volume traded there lately.

Rows sit on a grid of ``tick``-sized steps: bids are rounded down and asks up onto it (so a coarse tick aggregates
levels and the two sides never share a row), trades to the nearest row. The best bid and ask rows are highlighted.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np
from bokeh.layouts import row
from bokeh.models import (
    CategoricalColorMapper,
    ColumnDataSource,
    CustomJSTickFormatter,
    HoverTool,
    Legend,
    LegendItem,
    NumeralTickFormatter,
    Span,
)
from bokeh.plotting import figure

from .figures import ASK_COLOUR, BID_COLOUR, BUY_COLOUR, PRICE_FORMAT, SELL_COLOUR, Built, source_name, status_label
from .sampling import SIZE_FORMAT, ExchangeClock, FrameTap, event_times, infer_tick, nice_step
from .views import View, on_feed_loop

if TYPE_CHECKING:
    from ..feed import Feed

__all__ = ["ladder_figure", "LadderView", "ladder_rows", "row_step", "LADDER_COLUMNS"]

BEST_BID_COLOUR = "#145214"
BEST_ASK_COLOUR = "#8b1010"
_EDGE = 1e-9
"""Nudge (in steps) so a price exactly on the grid is not pushed off it by float error."""

LADDER_COLUMNS = ("price", "bid", "ask", "neg_bid", "buy", "sell", "role", "height")


def ladder_figure(venue: str, symbol: str, *, height: int = 520, window: float = 60.0,
                  price_format: str = PRICE_FORMAT) -> Built:
    """Bid size (left, drawn leftwards) and ask size (right) per price row, and the buy / sell volume traded at
    each row over the last ``window`` seconds, side by side on one price axis.

    Source ``ladder`` (one row per price, highest first: ``price``, ``bid``, ``ask``, ``neg_bid``, ``buy``,
    ``sell``, ``role`` ("best bid" / "best ask" / "", coloured in the browser), ``height`` the bar height in price
    units) is replaced whole when anything in it changed.
    """
    src = ColumnDataSource({name: [] for name in LADDER_COLUMNS}, name=source_name("ladder", venue, symbol))
    book = figure(title=f"{venue} {symbol} ladder", height=height, tools="ywheel_zoom,reset,save",
                  sizing_mode="stretch_width", x_axis_label="bid size | ask size", y_axis_label="price")
    book.yaxis.formatter = NumeralTickFormatter(format=price_format)
    book.xaxis.formatter = CustomJSTickFormatter(code="return Math.abs(tick).toLocaleString('en-US')")
    # The best rows are coloured from ``role`` in the browser, so no colour strings travel with each update.
    bid_colour = CategoricalColorMapper(factors=["best bid"], palette=[BEST_BID_COLOUR], nan_color=BID_COLOUR)
    ask_colour = CategoricalColorMapper(factors=["best ask"], palette=[BEST_ASK_COLOUR], nan_color=ASK_COLOUR)
    bids = book.hbar(y="price", left="neg_bid", right=0, height="height", source=src,
                     fill_color={"field": "role", "transform": bid_colour}, line_color=None)
    asks = book.hbar(y="price", left=0, right="ask", height="height", source=src,
                     fill_color={"field": "role", "transform": ask_colour}, line_color=None)
    nan = float("nan")  # swatches for the best rows: renderers of one NaN bar, drawn nowhere
    best_bid = book.hbar(y=[nan], left=[nan], right=[nan], height=1, fill_color=BEST_BID_COLOUR, line_color=None)
    best_ask = book.hbar(y=[nan], left=[nan], right=[nan], height=1, fill_color=BEST_ASK_COLOUR, line_color=None)
    # Both legends sit above their figures, so the two plot areas start at the same height.
    book.add_layout(Legend(items=[LegendItem(label="bid", renderers=[bids]), LegendItem(label="ask", renderers=[asks]),
                                  LegendItem(label="best bid", renderers=[best_bid]),
                                  LegendItem(label="best ask", renderers=[best_ask])],
                           orientation="horizontal", location="top_left"), "above")
    book.add_layout(Span(location=0, dimension="height", line_color="#555555", line_width=1))
    traded = figure(title=f"traded, last {window:g} s", height=height, y_range=book.y_range,
                    tools="ywheel_zoom,reset,save", sizing_mode="stretch_width", x_axis_label="volume")
    traded.yaxis.visible = False
    traded.xaxis.formatter = NumeralTickFormatter(format="0,0.[0000]")
    bought, sold = traded.hbar_stack(["buy", "sell"], y="price", height="height", source=src,
                                     fill_color=[BUY_COLOUR, SELL_COLOUR], line_color=None)
    traded.add_layout(Legend(items=[LegendItem(label="buy (taker)", renderers=[bought]),
                                    LegendItem(label="sell (taker)", renderers=[sold])],
                             orientation="horizontal", location="top_left"), "above")
    tooltips = [("price", f"@price{{{price_format}}} @role"), ("bid", f"@bid{{{SIZE_FORMAT}}}"),
                ("ask", f"@ask{{{SIZE_FORMAT}}}"), ("bought", f"@buy{{{SIZE_FORMAT}}}"),
                ("sold", f"@sell{{{SIZE_FORMAT}}}")]
    # One renderer per figure answers the hover (every row has a bar there, maybe of zero length): one tooltip.
    for fig, renderer in ((book, bids), (traded, bought)):
        fig.add_tools(HoverTool(renderers=[renderer], tooltips=tooltips, mode="hline"))
        fig.ygrid.grid_line_alpha = 0.3
    layout = row(book, traded, sizing_mode="stretch_width")
    return Built(layout, {"ladder": src}, None, [status_label(book)])


def _bid_index(prices: np.ndarray, step: float) -> np.ndarray:
    return np.floor(prices / step + _EDGE).astype(np.int64)


def _ask_index(prices: np.ndarray, step: float) -> np.ndarray:
    return np.ceil(prices / step - _EDGE).astype(np.int64)


def ladder_rows(bids: tuple[np.ndarray, np.ndarray], asks: tuple[np.ndarray, np.ndarray],
                trades: tuple[np.ndarray, np.ndarray, np.ndarray], step: float, levels: int) -> dict[str, np.ndarray]:
    """The ladder's columns, highest price first: ``levels`` rows down from the best bid, ``levels`` up from the
    best ask, and the rows in between when the spread spans no more than ``levels`` rows.

    ``bids`` / ``asks`` are (prices, sizes), best first; ``trades`` is (prices, sizes, is_buy).
    """
    empty = {name: np.array([]) for name in LADDER_COLUMNS}
    if not len(bids[0]) or not len(asks[0]):
        return empty
    bid_idx, ask_idx = _bid_index(bids[0], step), _ask_index(asks[0], step)
    top_bid, low_ask = int(bid_idx[0]), int(ask_idx[0])
    rows = [np.arange(top_bid - levels + 1, top_bid + 1)]
    if low_ask - top_bid - 1 <= levels:
        rows.append(np.arange(top_bid + 1, low_ask))
    rows.append(np.arange(low_ask, low_ask + levels))
    index = np.concatenate(rows)[::-1]
    first = int(index[-1])  # lowest row; position of row r is index[0] - r
    span = int(index[0]) - first + 1
    bid = _sum_at(bid_idx - first, bids[1], span)
    ask = _sum_at(ask_idx - first, asks[1], span)
    trade_idx = np.floor(trades[0] / step + 0.5).astype(np.int64) - first
    buy = _sum_at(trade_idx, np.where(trades[2], trades[1], 0.0), span)
    sell = _sum_at(trade_idx, np.where(trades[2], 0.0, trades[1]), span)
    at = index - first
    role = np.full(len(index), "", dtype=object)
    role[index == top_bid] = "best bid"
    role[index == low_ask] = "best ask"
    return {
        "price": np.round(index * step, _decimals(step)), "bid": bid[at], "ask": ask[at], "neg_bid": -bid[at],
        "buy": buy[at], "sell": sell[at], "role": role,
        "height": np.full(len(index), 0.9 * step),
    }


def _decimals(step: float) -> int:
    """Decimals that write every multiple of ``step`` exactly (so a row's price equals the venue's float)."""
    return max(0, -math.floor(math.log10(step))) + 2


def _sum_at(index: np.ndarray, weights: np.ndarray, span: int) -> np.ndarray:
    inside = (index >= 0) & (index < span)
    return np.bincount(index[inside], weights=weights[inside], minlength=span).astype(np.float64)


def row_step(bid_prices: np.ndarray, ask_prices: np.ndarray, levels: int) -> float:
    """The ladder's step for these best-first top levels: the tick, unless they need over ``2 * levels`` rows."""
    tick = infer_tick(np.concatenate((bid_prices, ask_prices)))
    span = max(bid_prices[0] - bid_prices[-1], ask_prices[-1] - ask_prices[0])
    if span <= 2 * levels * tick:
        return tick
    return max(tick, nice_step(span / levels))


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray] | None) -> bool:
    return b is not None and all(np.array_equal(a[name], b[name]) for name in LADDER_COLUMNS)


class LadderView(View):
    """The L2 ladder of one book: ``levels`` rows per side on a ``tick`` grid with the volume traded at each row
    over the last ``window`` seconds.

    Without ``tick``, the first book seen sets it: the venue's tick (from the decimals its prices use), or, when
    the best ``levels`` levels per side spread over more than twice as many ticks, the 1-2-5 step that fits them
    in ``levels`` rows (so a sparse book does not show a column of empty rows).

    The source is replaced at most once per refresh, and not at all when no row changed.
    """

    kind = "ladder"

    def __init__(self, feed: Feed, venue: str, symbol: str, *, levels: int = 20, tick: float | None = None,
                 **kw: Any) -> None:
        if not isinstance(levels, int) or levels <= 0:
            raise ValueError(f"levels must be a positive integer, got {levels!r}")
        if tick is not None and not tick > 0:
            raise ValueError(f"tick must be a positive price step, got {tick!r}")
        self.levels, self.tick = levels, tick
        self.clock = ExchangeClock()
        self._recent: deque[tuple[int, float, float, bool]] = deque()
        self._sent: dict[str, np.ndarray] | None = None
        super().__init__(feed, venue, symbol, **kw)  # ``window`` (seconds of trades counted) is the View's
        self._trades = FrameTap(feed.trades, [(venue, symbol)], self.rollover)

    def _build(self, **figure_options: Any) -> Built:
        return ladder_figure(self.venue, self.symbol, window=self.window, **figure_options)

    async def refresh(self) -> None:
        self._take_trades()
        book = await on_feed_loop(self.feed, self._read_book)
        if book is not None:
            bids, asks = book
            if self.tick is None:
                self.tick = row_step(bids[0], asks[0], self.levels)
            rows = ladder_rows(bids, asks, self._window_trades(), self.tick, self.levels)
            if not _same(rows, self._sent):
                self.sources["ladder"].data = rows
                self._sent = rows
        self.refreshes += 1

    def _read_book(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None:
        """On the feed loop: the book levels that can land in the ladder's rows, best first."""
        book = self.feed.books.get((self.venue, self.symbol))
        if book is None or book.best_bid is None or book.best_ask is None:
            return None
        if self.tick is None:  # the first read: the top levels are enough to tell the tick
            bid_levels, ask_levels = book.bids(self.levels), book.asks(self.levels)
            return ((np.array([p for p, _ in bid_levels]), np.array([s for _, s in bid_levels])),
                    (np.array([p for p, _ in ask_levels]), np.array([s for _, s in ask_levels])))
        # Every level that can round into a row: within ``levels`` steps beyond the touch, measured from the mid.
        mid, spread = book.mid, book.spread
        reach = (self.levels + 1) * self.tick + spread / 2  # type: ignore[operator]
        depth = book.cumulative_depth(reach / mid)  # type: ignore[operator]
        return ((depth["bid_price"], np.diff(depth["bid_cum"], prepend=0.0)),
                (depth["ask_price"], np.diff(depth["ask_cum"], prepend=0.0)))

    def _take_trades(self) -> None:
        rows = self._trades.read()
        if rows is None:
            return
        self.clock.observe(rows)
        ts = event_times(rows)
        sides = rows["side"].astype(str) == "buy"
        self._recent.extend(zip(ts.tolist(), rows["price"].tolist(), rows["size"].tolist(), sides.tolist(),
                                strict=True))

    def _window_trades(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        horizon = self.clock.now_ns() - int(self.window * 1e9)
        recent = self._recent
        while recent and recent[0][0] <= horizon:
            recent.popleft()
        while len(recent) > self.rollover:  # bounded however fast trades arrive
            recent.popleft()
        if not recent:
            return np.array([]), np.array([]), np.array([], dtype=bool)
        _, prices, sizes, buys = zip(*recent, strict=True)
        return np.array(prices), np.array(sizes), np.array(buys, dtype=bool)
