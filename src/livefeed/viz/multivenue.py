"""Views across venues: one asset's mid on every venue on one chart, and the consolidated best bid / ask with the
venue holding each side.

Both sample the books on the feed's loop once per refresh and stream one row, only when something changed.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from bokeh.layouts import column
from bokeh.models import CategoricalColorMapper, ColumnDataSource, HoverTool, Legend, LegendItem, Range1d, Span
from bokeh.palettes import Category10_10

from ..consolidated import consolidate
from ..errors import UnknownSymbolError
from ..naming import Kind, parse_instrument
from ..symbols import canonical, split
from .figures import ASK_COLOUR, BID_COLOUR, PRICE_FORMAT, Built, source_name, status_label, time_figure, time_range
from .sampling import SIZE_FORMAT, TIME_FORMAT, ExchangeClock, FrameTap
from .views import View, market_clock, market_status, on_feed_loop

if TYPE_CHECKING:
    from ..feed import Feed

__all__ = [
    "VENUE_COLOURS", "venue_colour", "mids_figure", "consolidated_figure", "MidsView", "ConsolidatedView",
    "CONSOLIDATED_COLUMNS",
]

VENUE_COLOURS = {"binance": "#e6a700", "coinbase": "#1f77b4", "kraken": "#7b4fd6", "bybit": "#17becf",
                 "okx": "#444444"}
"""One colour per venue on every multi-venue chart (none of them the bid green or the ask red)."""

CONSOLIDATED_COLUMNS = ("ts", "bid", "ask", "bid_size", "ask_size", "bid_venue", "ask_venue", "spread", "spread_bp")

Market = tuple[str, str]


def venue_colour(venue: str) -> str:
    if venue in VENUE_COLOURS:
        return VENUE_COLOURS[venue]
    return Category10_10[sum(map(ord, venue)) % len(Category10_10)]


def mid_column(venue: str, symbol: str) -> str:
    """The source column of one market's mid, e.g. ``mid_binance_btc_usdt``."""
    return f"mid_{venue}_{symbol}".lower().replace("-", "_")


def _legend_right(fig: Any, items: list[LegendItem]) -> None:
    """Legends go beside the plot, where they cover no data; a click hides a series."""
    fig.add_layout(Legend(items=items, click_policy="hide"), "right")


def mids_figure(asset: str, markets: Sequence[Market], *, height: int = 300, price_format: str = PRICE_FORMAT,
                x_range: Range1d | None = None) -> Built:
    """One mid line per market of ``asset`` over time.

    Source ``mids`` (named ``mids:multi:<asset>``): ``ts`` (ms) and one ``mid_<venue>_<base>_<quote>`` column per
    market, NaN while that book has no mid (drawn as a gap); streamed with a rollover. ``x_range`` is the trailing
    time window the view moves along (default: a new 60 s one).
    """
    x_range = x_range or time_range()
    src = ColumnDataSource({"ts": [], **{mid_column(*m): [] for m in markets}},
                           name=source_name("mids", "multi", asset))
    fig = time_figure(f"{asset} mid by venue", height, x_range, y_format=price_format)
    fig.yaxis.axis_label = "mid"
    items = []
    for venue, symbol in markets:
        col = mid_column(venue, symbol)
        line = fig.step(x="ts", y=col, mode="after", source=src, line_color=venue_colour(venue), line_width=1.5)
        fig.add_tools(HoverTool(renderers=[line], formatters={"@ts": "datetime"}, tooltips=[
            ("market", f"{venue} {symbol}"), ("time", f"@ts{{{TIME_FORMAT}}}"),
            ("mid", f"@{{{col}}}{{{price_format}}}"),
        ]))
        items.append(LegendItem(label=f"{venue} {symbol}", renderers=[line]))
    _legend_right(fig, items)
    return Built(fig, {"mids": src}, x_range, [status_label(fig)])


def consolidated_figure(symbol: str, venues: Sequence[str], *, height: int = 300,
                        price_format: str = PRICE_FORMAT, x_range: Range1d | None = None) -> Built:
    """The best bid and ask across venues over time, each sample marked in the colour of the venue holding it,
    and the cross-venue spread in basis points below (negative: crossed across venues).

    Source ``consolidated`` (named ``consolidated:multi:<symbol>``; columns :data:`CONSOLIDATED_COLUMNS`) is
    streamed with a rollover. ``x_range`` is the trailing time window of both figures (default: a new 60 s one).
    """
    x_range = x_range or time_range()
    src = ColumnDataSource({name: [] for name in CONSOLIDATED_COLUMNS},
                           name=source_name("consolidated", "multi", symbol))
    prices = time_figure(f"{symbol} consolidated best bid / ask", height, x_range, y_format=price_format)
    prices.yaxis.axis_label = "price"
    bid = prices.step(x="ts", y="bid", mode="after", source=src, line_color=BID_COLOUR, line_width=1.5)
    ask = prices.step(x="ts", y="ask", mode="after", source=src, line_color=ASK_COLOUR, line_width=1.5)
    # Marks in the colour of the venue holding the side, mapped in the browser (no colour strings per row).
    holder = CategoricalColorMapper(factors=list(venues), palette=[venue_colour(v) for v in venues],
                                    nan_color="rgba(0, 0, 0, 0)")
    bid_colour = {"field": "bid_venue", "transform": holder}
    ask_colour = {"field": "ask_venue", "transform": holder}
    bid_marks = prices.scatter(x="ts", y="bid", marker="triangle", size=7, fill_color=bid_colour,
                               line_color=bid_colour, source=src)
    ask_marks = prices.scatter(x="ts", y="ask", marker="inverted_triangle", size=7, fill_color=ask_colour,
                               line_color=ask_colour, source=src)
    # Venue swatches from renderers of one NaN point (drawn nowhere): which venue holds a side changes row by row,
    # the legend must not.
    nan = float("nan")
    swatches = [LegendItem(label=venue, renderers=[prices.scatter(x=[nan], y=[nan], marker="square", size=9,
                                                                  fill_color=venue_colour(venue), line_color=None)])
                for venue in venues]
    _legend_right(prices, [LegendItem(label="best bid", renderers=[bid, bid_marks]),
                           LegendItem(label="best ask", renderers=[ask, ask_marks]), *swatches])
    prices.add_tools(HoverTool(renderers=[bid_marks, ask_marks], formatters={"@ts": "datetime"}, tooltips=[
        ("time", f"@ts{{{TIME_FORMAT}}}"),
        ("bid", f"@bid{{{price_format}}} x @bid_size{{{SIZE_FORMAT}}} on @bid_venue"),
        ("ask", f"@ask{{{price_format}}} x @ask_size{{{SIZE_FORMAT}}} on @ask_venue"),
        ("spread", f"@spread{{{price_format}}} (@spread_bp{{0,0.00}} bp)"),
    ]))
    spread = time_figure("cross-venue spread (bp)", height // 2 + 40, prices.x_range, y_format="0,0.00")
    spread.yaxis.axis_label = "bp"
    line = spread.step(x="ts", y="spread_bp", mode="after", source=src, line_color="#1f77b4")
    spread.add_layout(Span(location=0, dimension="width", line_color="#555555", line_width=1))
    spread.add_tools(HoverTool(renderers=[line], formatters={"@ts": "datetime"}, mode="vline", tooltips=[
        ("time", f"@ts{{{TIME_FORMAT}}}"), ("spread", "@spread_bp{0,0.00} bp"),
    ]))
    _legend_right(spread, [LegendItem(label="spread", renderers=[line])])
    # Room on the right for the wider legend in both figures keeps the plot areas, and their time axes, aligned.
    prices.min_border_right = spread.min_border_right = 170
    return Built(column(prices, spread, sizing_mode="stretch_width"), {"consolidated": src}, x_range,
                 [status_label(prices), status_label(spread)])


def _markets(feed: Feed, base: str, accept_quote: Any, venues: Collection[str] | None) -> list[Market]:
    """The feed's subscribed markets of ``base`` whose quote passes ``accept_quote``, in subscription order."""
    found = []
    for sub in feed.subscriptions:
        try:
            market = parse_instrument(sub.symbol)
        except UnknownSymbolError:  # e.g. an on-chain subscription
            continue
        if market.kind is not Kind.SPOT:  # spot mids compare; a perp or future quotes its own basis
            continue
        if market.base == base and accept_quote(market.quote) and (venues is None or sub.venue in venues):
            found.append((sub.venue, sub.symbol))
    return list(dict.fromkeys(found))


class _MultiVenueView(View):
    """Samples several books on the feed loop each refresh; streams a row only when the sample changed."""

    def __init__(self, feed: Feed, label: str, markets: list[Market], **kw: Any) -> None:
        self.markets = markets
        self.clock = ExchangeClock()
        self._last: tuple[Any, ...] | None = None
        super().__init__(feed, "multi", label, **kw)
        self._tops = FrameTap(feed.top_of_book, markets, 512)

    async def refresh(self) -> None:
        tops = self._tops.read()
        if tops is not None:
            self.clock.observe(tops)
        sample = await on_feed_loop(self.feed, self._sample)
        # NaN never equals itself: compare through repr so an unchanged gap is still "unchanged".
        if sample is not None and repr(sample) != repr(self._last):
            self._last = sample
            now = self.clock.now_ns() / 1e6
            self._stream(sample, now)
            market_clock(self.feed, self.venue, self.symbol, now)
        self.refreshes += 1

    def follow(self, status: str | None = None) -> None:
        """Move the window along; the status is the first market's that is not live (e.g. "kraken: stale")."""
        if status is None:
            states = ((venue, market_status(self.feed, venue, symbol)) for venue, symbol in self.markets)
            status = next((f"{venue}: {state}" if self.feed.running else state
                           for venue, state in states if state), "")
        super().follow(status)

    def _sample(self) -> tuple[Any, ...] | None:
        raise NotImplementedError

    def _stream(self, sample: tuple[Any, ...], ts: float) -> None:
        raise NotImplementedError


class MidsView(_MultiVenueView):
    """The mid of ``asset`` on every subscribed venue (optionally only ``venues`` / ``quotes``), one line each."""

    kind = "mids"

    def __init__(self, feed: Feed, asset: str, *, venues: Collection[str] | None = None,
                 quotes: Collection[str] | None = None, **kw: Any) -> None:
        base = asset.strip().upper()
        wanted = None if quotes is None else {q.upper() for q in quotes}
        markets = _markets(feed, base, lambda quote: wanted is None or quote in wanted, venues)
        if not markets:
            subs = ", ".join(str(s) for s in feed.subscriptions)
            raise ValueError(f"the feed subscribes to no {base} market (venues={venues}, quotes={quotes}): {subs}")
        super().__init__(feed, base, markets, **kw)

    def _build(self, **figure_options: Any) -> Built:
        return mids_figure(self.symbol, self.markets, **figure_options)

    def _sample(self) -> tuple[float, ...]:
        books = self.feed.books
        mids = []
        for market in self.markets:
            book = books.get(market)
            mid = book.mid if book is not None else None
            mids.append(math.nan if mid is None else mid)
        return tuple(mids)

    def _stream(self, sample: tuple[Any, ...], ts: float) -> None:
        row = {"ts": [ts], **{mid_column(*m): [mid] for m, mid in zip(self.markets, sample, strict=True)}}
        self.sources["mids"].stream(row, rollover=self.rollover)


class ConsolidatedView(_MultiVenueView):
    """The best bid and ask for ``symbol`` across the feed's venues over time, with the venue holding each side.

    Quotes stay apart unless mapped, as in :meth:`Feed.consolidated`: ``quote_map={"USDT": "USD"}`` lets
    ``BTC-USDT`` books count towards ``BTC-USD``.
    """

    kind = "consolidated"

    def __init__(self, feed: Feed, symbol: str, *, quote_map: Mapping[str, str] | None = None, **kw: Any) -> None:
        base, quote = split(symbol)
        self.quote_map = {k.upper(): v.upper() for k, v in (quote_map or {}).items()}
        markets = _markets(feed, base, lambda q: self.quote_map.get(q, q) == quote, None)
        if not markets:
            subs = ", ".join(str(s) for s in feed.subscriptions)
            raise ValueError(f"no subscribed market counts as {canonical(symbol)} (quote_map={quote_map}): {subs}")
        self.venues = list(dict.fromkeys(venue for venue, _ in markets))
        super().__init__(feed, f"{base}-{quote}", markets, **kw)

    def _build(self, **figure_options: Any) -> Built:
        return consolidated_figure(self.symbol, self.venues, **figure_options)

    def _sample(self) -> tuple[Any, ...] | None:
        books = self.feed.books
        present = [books[m] for m in self.markets if m in books]
        if not present:
            return None
        q = consolidate(self.symbol, present, self.quote_map)
        return q.bid, q.bid_size, q.bid_venue, q.ask, q.ask_size, q.ask_venue

    def _stream(self, sample: tuple[Any, ...], ts: float) -> None:
        bid, bid_size, bid_venue, ask, ask_size, ask_venue = sample
        bid, bid_size, ask, ask_size = (np.nan if v is None else v for v in (bid, bid_size, ask, ask_size))
        spread = ask - bid
        mid = (ask + bid) / 2
        self.sources["consolidated"].stream({
            "ts": [ts], "bid": [bid], "ask": [ask], "bid_size": [bid_size], "ask_size": [ask_size],
            "bid_venue": [bid_venue or ""], "ask_venue": [ask_venue or ""], "spread": [spread],
            "spread_bp": [spread / mid * 1e4 if mid else np.nan],
        }, rollover=self.rollover)
