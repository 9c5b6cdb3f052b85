"""Live views: each owns the figures it built and knows how to bring them up to date from a feed.

A view reads the feed in two ways, both without ever letting the feed thread near Bokeh: rolling frames through
``RollingFrame.read_since`` (lock-protected copies, only the rows that are new since the last refresh) and order
books through a short function run *on the feed's loop* and awaited from the caller's loop (so a book is never read
half-updated and the caller's loop never blocks). The results are applied to the view's sources on the caller's
loop: one ``stream``/``patch``/replace per source per refresh, whatever the number of events in between.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from .figures import (
    BUY_COLOUR,
    SELL_COLOUR,
    UNSYNCED_COLOURS,
    Built,
    depth_figure,
    imbalance_figure,
    onchain_figure,
    spread_figure,
    time_range,
    trades_figure,
)
from .sampling import FrameTap, event_times

if TYPE_CHECKING:
    from bokeh.models import Range1d

    from ..book import OrderBook
    from ..feed import Feed
    from ..frames import RollingFrame

__all__ = [
    "View", "DepthView", "SpreadView", "TradesView", "ImbalanceView", "OnchainView", "on_feed_loop",
    "market_clock", "market_status", "with_gaps", "market_views", "UnsyncedShading",
]

T = TypeVar("T")

DEFAULT_WINDOW = 60.0
"""Seconds of exchange time every time-based view shows by default (the trailing window)."""
GAP_AFTER = 5.0
"""Seconds without an update after which a line is broken (a gap shows as a gap, not a flat line)."""

_clocks: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], float]] = weakref.WeakKeyDictionary()


async def on_feed_loop(feed: Feed, fn: Callable[[], T]) -> T:
    """Run ``fn()`` where the feed mutates its state and await the result without blocking this loop."""
    return await feed.on_loop(fn)


def market_clock(feed: Feed, venue: str, symbol: str, seen_ms: float | None = None) -> float:
    """The newest exchange time (ms) any view has seen for ``venue:symbol``; ``seen_ms`` moves it forward.

    Every time-based view of a market ends its trailing window here, so all of them show the same stretch of
    exchange time (and the window stops moving when the data stops).
    """
    clocks = _clocks.setdefault(feed, {})
    key = (venue, symbol)
    now = clocks.get(key, 0.0)
    if seen_ms is not None and seen_ms == seen_ms and seen_ms > now:
        clocks[key] = now = float(seen_ms)
    return now


def market_status(feed: Feed, venue: str, symbol: str | None = None) -> str:
    """What a plot of ``venue:symbol`` should say over itself: ``""`` when live, else why it is not."""
    if not feed.running:
        return "feed stopped"
    health = feed.health(venue)
    if health["state"] not in ("connected", "live"):
        return f"{health['state']}..." if health["state"] in ("connecting", "reconnecting") else health["state"]
    if symbol is not None and symbol in health["books"] and not health["books"][symbol]:
        return "book resyncing..."
    return ""


def _ms(ns: np.ndarray) -> np.ndarray:
    """Bokeh datetime axes want float milliseconds since the epoch."""
    return ns.astype(np.float64) / 1e6


def with_gaps(cols: dict[str, np.ndarray], last_ms: float, gap_ms: float) -> dict[str, np.ndarray]:
    """``cols`` (with a ``ts`` column in ms) with a NaN row before every row that follows a silence longer than
    ``gap_ms`` (also after ``last_ms``, the last row already shown), so lines break there instead of bridging."""
    ts = cols["ts"]
    previous = np.concatenate(([last_ms], ts[:-1]))
    breaks = np.nonzero((ts - previous > gap_ms) & (previous > 0))[0]
    if not len(breaks):
        return cols
    out = {}
    for name, values in cols.items():
        if values.dtype.kind == "f":
            filler: Any = ts[breaks] - 1 if name == "ts" else np.nan
            out[name] = np.insert(values, breaks, filler)
        else:
            out[name] = np.insert(values, breaks, values[breaks])
    return out


def _exchange_ms(rows: dict[str, np.ndarray]) -> np.ndarray:
    return _ms(event_times(rows))


_OPEN_MS = 7 * 86_400_000.0
"""How far right an interval still open is drawn (past any window), so it needs no redraw while it lasts."""


class UnsyncedShading:
    """Keeps a view's ``coverage`` strips (:func:`~livefeed.viz.figures.unsynced_strips`) equal to the feed's
    coverage of one stream: redrawn in one change only when the coverage moved, never otherwise.

    Coverage is in wall-clock (receipt) time and the axes in exchange time; :meth:`note` keeps the offset between
    the two from the rows a view reads (0 until then), so a strip sits where the data around it does.
    """

    def __init__(self, feed: Any, source: Any, stream: str) -> None:
        self.feed, self.source, self.stream = feed, source, stream
        self.version = -1
        self.offset_ms = 0.0

    def note(self, rows: dict[str, np.ndarray], ts_ms: np.ndarray) -> None:
        """Learn the exchange-minus-receipt offset from rows read (their median, robust to one late frame)."""
        if "receipt_ts" in rows and len(ts_ms):
            self.offset_ms = float(np.median(ts_ms - _ms(rows["receipt_ts"])))

    def reset(self) -> None:
        self.version = -1

    def refresh(self, venue: str, symbol: str) -> None:
        log = getattr(self.feed, "coverage_log", None)
        if log is None or log.version == self.version:
            return
        self.version = log.version
        spans = log.unsynced(venue, symbol, self.stream)
        off = self.offset_ms
        left = [start / 1e6 + off for start, _, _, _ in spans]
        right = [(end / 1e6 + off) if end is not None else lo + _OPEN_MS
                 for (_, end, _, _), lo in zip(spans, left, strict=True)]
        if not spans and not len(self.source.data["left"]):
            return  # nothing to shade, nothing shaded: send nothing
        self.source.data = {"left": left, "right": right,
                            "colour": [UNSYNCED_COLOURS.get(state, "#7f7f7f") for _, _, state, _ in spans],
                            "label": [f"{state}: {reason}" for _, _, state, reason in spans]}


class View:
    """Base of every live view: ``built`` (layout, sources, time range, status labels) and ``refresh()``.

    ``refresh()`` applies what is new in the feed to the sources; ``follow()`` then moves the trailing time
    window to the market's clock and shows the market's status over every figure (only what changed is sent).
    """

    kind = "view"

    def __init__(self, feed: Feed, venue: str, symbol: str, *, rollover: int = 5_000,
                 window: float = DEFAULT_WINDOW, **figure_options: Any) -> None:
        if not isinstance(rollover, int) or rollover <= 0:
            raise ValueError(f"rollover must be a positive number of rows, got {rollover!r}")
        if not isinstance(window, int | float) or not 0 < window <= 86_400:
            raise ValueError(f"window must be between 0 and 86400 seconds, got {window!r}")
        self.feed = feed
        self.venue = venue
        self.symbol = symbol
        self.rollover = rollover
        self.window = float(window)
        self.built: Built = self._build(**figure_options)
        self.refreshes = 0
        self.status = ""

    def _build(self, **figure_options: Any) -> Built:
        raise NotImplementedError

    @property
    def layout(self) -> Any:
        return self.built.layout

    @property
    def sources(self) -> dict[str, Any]:
        return self.built.sources

    @property
    def x_range(self) -> Range1d | None:
        return self.built.x_range

    async def refresh(self) -> None:
        """Bring the sources up to date; call on the loop that owns the Bokeh document."""
        raise NotImplementedError

    def follow(self, status: str | None = None) -> None:
        """Move the time window to the market clock and show ``status`` (default: the market's own)."""
        x_range = self.built.x_range
        if x_range is not None:
            end = market_clock(self.feed, self.venue, self.symbol)
            if end > 0:
                x_range.update(start=end - self.window * 1000.0, end=end)
        if status is None:
            status = market_status(self.feed, self.venue, self.symbol)
        self.set_status(status)

    def retarget(self, venue: str, symbol: str) -> None:
        """Show another market in the same figures: sources emptied and renamed, titles and units rewritten.

        A market picker switches this way in one message, where building new figures costs the kernel ~0.5 s and
        the browser a new document (a market's recent history comes back on the next refresh).
        """
        from bokeh.models import Plot

        old_tag, new_tag = f"{self.venue} {self.symbol}", f"{venue} {symbol}"
        units = [(f"({quote_of(self.symbol)})", f"({quote_of(symbol)})"),
                 (f"({base_of(self.symbol)})", f"({base_of(symbol)})")]
        for src in self.sources.values():
            src.name = (src.name or "").replace(f":{self.venue}:{self.symbol}", f":{venue}:{symbol}")
            src.data = {name: [] for name in src.data}
        for plot in self.layout.select({"type": Plot}):
            if plot.title is not None and plot.title.text:
                plot.title.text = plot.title.text.replace(old_tag, new_tag)
            for axis in [*plot.xaxis, *plot.yaxis]:
                label = axis.axis_label
                if isinstance(label, str):
                    for old, new in units:
                        label = label.replace(old, new) if old != "()" else label
                    axis.axis_label = label
        self.venue, self.symbol = venue, symbol
        self.status = "?"  # shown afresh at the next follow()
        self._reset()

    def _reset(self) -> None:
        """Forget what was read of the previous market (cursors, running totals)."""

    def set_status(self, status: str) -> None:
        """Show ``status`` over every figure of the view (hidden when empty); sends nothing when unchanged."""
        if status == self.status:
            return
        self.status = status
        for label in self.built.labels:
            label.update(text=status.upper(), visible=bool(status))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.venue}:{self.symbol} refreshes={self.refreshes}>"


class _FrameView(View):
    """A view streaming the rows of one rolling frame that belong to its venue and symbol."""

    frame_name = ""
    coverage_stream = "book"
    """Whose coverage the view shades (when its figures have a ``coverage`` source)."""

    def __init__(self, feed: Feed, venue: str, symbol: str, **kw: Any) -> None:
        super().__init__(feed, venue, symbol, **kw)
        self._reset()

    def _reset(self) -> None:
        # Start a rollover's worth back, so a view opened late still shows recent history.
        self._tap = FrameTap(self._frame(), [(self.venue, self.symbol)], self.rollover)
        self._last_ms = 0.0
        source = self.sources.get("coverage")
        self._shading = None if source is None else UnsyncedShading(self.feed, source, self.coverage_stream)

    def _frame(self) -> RollingFrame:
        return self.feed.frames[self.frame_name]

    def _new_rows(self) -> dict[str, np.ndarray] | None:
        rows = self._tap.read()
        return None if rows is None else {name: values[-self.rollover :] for name, values in rows.items()}

    async def refresh(self) -> None:
        rows = self._new_rows()
        if rows is not None:
            ts = _exchange_ms(rows)
            market_clock(self.feed, self.venue, self.symbol, float(ts[-1]))
            self._apply(rows, ts)
            self._last_ms = float(ts[-1])
            if self._shading is not None:
                self._shading.note(rows, ts)
        if self._shading is not None:
            self._shading.refresh(self.venue, self.symbol)
        self.refreshes += 1

    def _apply(self, rows: dict[str, np.ndarray], ts: np.ndarray) -> None:
        raise NotImplementedError


class SpreadView(_FrameView):
    """Best bid, best ask, mid and spread over time, from ``feed.top_of_book``; spread in bp by default
    (``spread_unit="quote"`` for the quote currency)."""

    kind = "spread"
    frame_name = "top_of_book"

    def __init__(self, feed: Feed, venue: str, symbol: str, *, spread_unit: str = "bp", **kw: Any) -> None:
        if spread_unit not in ("bp", "quote"):
            raise ValueError(f"spread_unit must be 'bp' or 'quote', got {spread_unit!r}")
        self.spread_unit = spread_unit
        super().__init__(feed, venue, symbol, spread_unit=spread_unit, **kw)

    def _build(self, **figure_options: Any) -> Built:
        return spread_figure(self.venue, self.symbol, quote=quote_of(self.symbol), **figure_options)

    def _apply(self, rows: dict[str, np.ndarray], ts: np.ndarray) -> None:
        spread = rows["spread"].astype(np.float64)
        if self.spread_unit == "bp":
            spread = spread / rows["mid"] * 1e4
        cols = {"ts": ts, "bid": rows["bid_price"], "ask": rows["ask_price"], "mid": rows["mid"], "spread": spread}
        self.sources["spread"].stream(with_gaps(cols, self._last_ms, GAP_AFTER * 1e3), rollover=self.rollover)


def quote_of(symbol: str) -> str:
    """The quote currency of an instrument name (``BTC-USDT-PERP`` -> ``USDT``); ``""`` for other targets."""
    parts = symbol.split("-")
    return parts[1] if len(parts) >= 2 else ""


def base_of(symbol: str) -> str:
    """The base asset of an instrument name (``BTC-USD-20261225-80000-C`` -> ``BTC``); ``""`` for other targets."""
    return symbol.partition("-")[0] if "-" in symbol else ""


class TradesView(_FrameView):
    """The trade tape from ``feed.trades``: price, size, aggressor side, and volume over ``volume_window`` s."""

    kind = "trades"
    frame_name = "trades"
    coverage_stream = "trades"

    def __init__(self, feed: Feed, venue: str, symbol: str, *, volume_window: float = 60.0, **kw: Any) -> None:
        if not isinstance(volume_window, int | float) or volume_window <= 0:
            raise ValueError(f"volume_window must be positive seconds, got {volume_window!r}")
        self.volume_window_ns = int(volume_window * 1e9)
        self._recent: deque[tuple[int, float]] = deque()
        super().__init__(feed, venue, symbol, volume_window=volume_window, **kw)

    def _reset(self) -> None:
        super()._reset()
        self._recent.clear()
        self._volume = 0.0
        self._size_scale = 0.0

    def _build(self, *, volume_window: float = 60.0, **figure_options: Any) -> Built:
        return trades_figure(self.venue, self.symbol, window=volume_window, quote=quote_of(self.symbol),
                             base=base_of(self.symbol), **figure_options)

    def _apply(self, rows: dict[str, np.ndarray], ts: np.ndarray) -> None:
        ts_ns = event_times(rows)
        sizes = rows["size"].astype(np.float64)
        volume = np.empty(len(ts_ns))
        recent, window = self._recent, self.volume_window_ns
        for i, (t, size) in enumerate(zip(ts_ns.tolist(), sizes.tolist(), strict=True)):
            recent.append((t, size))
            self._volume += size
            while recent and recent[0][0] <= t - window:
                self._volume -= recent.popleft()[1]
            volume[i] = self._volume
        # Marker size follows sqrt(size) against a slowly adapting scale, so areas compare within the window.
        self._size_scale = max(self._size_scale * 0.999, float(sizes.max()) if len(sizes) else 0.0)
        scale = self._size_scale or 1.0
        radius = (4.0 + 18.0 * np.sqrt(np.clip(sizes / scale, 0.0, 1.0))).astype(np.float32)
        self.sources["trades"].stream({
            "ts": ts, "price": rows["price"], "size": sizes, "buy": (rows["side"] == "buy").astype(np.int8),
            "radius": radius, "volume": volume.astype(np.float32),
            "trade_id": [str(t) for t in rows["trade_id"].tolist()],
        }, rollover=self.rollover)


class _BookView(View):
    """A view computed from the live order book, only when the book has changed since the last refresh."""

    def __init__(self, feed: Feed, venue: str, symbol: str, **kw: Any) -> None:
        super().__init__(feed, venue, symbol, **kw)
        self._reset()

    def _reset(self) -> None:
        self._last_key: object = None
        self.clock_ms = 0.0
        self._top_of_book = FrameTap(self.feed.top_of_book, [(self.venue, self.symbol)], 1_000)

    def _book(self) -> OrderBook | None:
        return self.feed.books.get((self.venue, self.symbol))

    def _read(self, book: OrderBook) -> Any:
        raise NotImplementedError

    def _tick_clock(self) -> float:
        """Move the market clock to the newest top-of-book change of this book (its exchange time); return it."""
        rows = self._top_of_book.read()
        latest = None if rows is None else float(_exchange_ms(rows).max())
        return market_clock(self.feed, self.venue, self.symbol, latest)

    async def refresh(self) -> None:
        self.clock_ms = self._tick_clock()
        book = self._book()
        if book is not None:

            def read() -> tuple[object, Any]:
                key = (book.sequence, book.best_bid, book.best_ask)
                return key, (None if key == self._last_key else self._read(book))

            key, data = await on_feed_loop(self.feed, read)
            if data is not None:
                self._last_key = key
                self._apply(data)
        self.refreshes += 1

    def _apply(self, data: Any) -> None:
        raise NotImplementedError


def binned_depth(depth: dict[str, np.ndarray], mid: float, band: float, bins: int) -> dict[str, np.ndarray]:
    """Cumulative size from the touch out to each of ``bins`` equal price bins per side within ``band`` of mid.

    ``bid_price``/``ask_price`` are the bin centres (nearest the mid first), ``*_cum`` the size of every level
    from the touch to the bin's outer edge: a depth chart of constant size whatever the book's depth.
    """
    width = mid * band / bins
    steps = np.arange(1, bins + 1, dtype=np.float64)
    bid_edges = mid - steps * width
    ask_edges = mid + steps * width
    bid_n = np.searchsorted(-depth["bid_price"], -bid_edges, side="right")
    ask_n = np.searchsorted(depth["ask_price"], ask_edges, side="right")
    bid_cum = np.concatenate(([0.0], depth["bid_cum"]))[bid_n]
    ask_cum = np.concatenate(([0.0], depth["ask_cum"]))[ask_n]
    return {"bid_price": bid_edges + width / 2, "bid_cum": bid_cum.astype(np.float32),
            "ask_price": ask_edges - width / 2, "ask_cum": ask_cum.astype(np.float32), "width": np.float64(width)}


class DepthView(_BookView):
    """The depth chart of one book: cumulative size within ``band`` (fraction of mid) of the mid, in ``bins``
    equal price bins per side."""

    kind = "depth"

    def __init__(self, feed: Feed, venue: str, symbol: str, *, band: float = 0.01, bins: int = 100,
                 levels: int | None = None, **kw: Any) -> None:
        self.band = self._check_band(band)
        if not isinstance(bins, int) or not 2 <= bins <= 2_000:
            raise ValueError(f"bins must be an integer between 2 and 2000, got {bins!r}")
        self.bins = bins
        self.levels = levels
        super().__init__(feed, venue, symbol, **kw)
        self._bars = [r.glyph for r in self.layout.renderers if r.name in ("bids", "asks")]

    @staticmethod
    def _check_band(band: float) -> float:
        if not isinstance(band, int | float) or not 0 < band < 1:
            raise ValueError(f"band must be a fraction of mid between 0 and 1 (0.01 = 1%), got {band!r}")
        return float(band)

    def _reset(self) -> None:
        super()._reset()
        nan = float("nan")
        self.sources["meta"].data = {"ts": [0.0], "bid": [nan], "ask": [nan], "mid": [nan], "band": [nan],
                                     "width": [0.0]}

    def set_band(self, band: float) -> None:
        """Show levels within ``band`` of mid from the next refresh on."""
        self.band = self._check_band(band)
        self._last_key = None

    def _build(self, **figure_options: Any) -> Built:
        figure_options.pop("window", None)
        return depth_figure(self.venue, self.symbol, quote=quote_of(self.symbol), base=base_of(self.symbol),
                            **figure_options)

    def _read(self, book: OrderBook) -> Any:
        mid = book.mid
        if mid is None:
            return None
        depth = book.cumulative_depth(self.band, self.levels)
        return binned_depth(depth, mid, self.band, self.bins), book.best_bid, book.best_ask, mid

    def _apply(self, data: Any) -> None:
        depth, bid, ask, mid = data
        src = self.sources
        src["bids"].data = {"price": depth["bid_price"], "cum": depth["bid_cum"]}
        src["asks"].data = {"price": depth["ask_price"], "cum": depth["ask_cum"]}
        width = float(depth["width"])
        for glyph in self._bars:
            if not glyph.width or abs(glyph.width / width - 1) > 0.01:
                glyph.width = width
        nan = float("nan")
        src["meta"].patch({
            "ts": [(0, self.clock_ms)], "bid": [(0, bid[0] if bid else nan)], "ask": [(0, ask[0] if ask else nan)],
            "mid": [(0, mid)], "band": [(0, self.band)], "width": [(0, width)],
        })


class ImbalanceView(_BookView):
    """Order-book imbalance over the top ``levels`` per side, sampled at each refresh the book changed."""

    kind = "imbalance"

    def __init__(self, feed: Feed, venue: str, symbol: str, *, levels: int = 10, **kw: Any) -> None:
        if not isinstance(levels, int) or levels <= 0:
            raise ValueError(f"levels must be a positive integer, got {levels!r}")
        self.levels = levels
        super().__init__(feed, venue, symbol, levels=levels, **kw)

    def _reset(self) -> None:
        super()._reset()
        self._last_ms = 0.0

    def _build(self, **figure_options: Any) -> Built:
        return imbalance_figure(self.venue, self.symbol, **figure_options)

    def _read(self, book: OrderBook) -> Any:
        return book.imbalance(self.levels)

    def _apply(self, imbalance: Any) -> None:
        ts = self.clock_ms
        if imbalance is None or ts <= self._last_ms:
            return
        cols = with_gaps({"ts": np.array([ts]), "imbalance": np.array([imbalance])}, self._last_ms, GAP_AFTER * 1e3)
        self.sources["imbalance"].stream(cols, rollover=self.rollover)
        self._last_ms = ts


def _short(address: str) -> str:
    return f"{address[:8]}..{address[-4:]}" if len(address) > 14 else address


class OnchainView(View):
    """Transfers over time, net flow by address (top ``top`` by absolute net) and block base fee in gwei.

    Reads the ``transfers``, ``blocks`` and (when present) ``flow`` frames of the ``eth`` adapter
    (:mod:`livefeed.chain.events`). Reorg retractions (``removed == 1``) are left off the transfer plot and
    subtracted from the net flow.
    """

    kind = "onchain"

    def __init__(self, feed: Feed, venue: str = "eth", *, top: int = 15, **kw: Any) -> None:
        missing = [name for name in ("transfers", "blocks") if name not in feed.frames]
        if missing:
            raise ValueError(f"feed has no {', '.join(missing)} frame(s): subscribe to an on-chain venue, e.g. "
                             f"Feed(['eth:transfers:<token address>', 'eth:blocks'])")
        self.top = top
        self._net: dict[str, float] = {}
        kw.setdefault("window", 600.0)
        super().__init__(feed, venue, "chain", **kw)
        self._cursors = {name: max(0, feed.frames[name].total - self.rollover) for name in ("transfers", "blocks")}

    def _build(self, **figure_options: Any) -> Built:
        return onchain_figure(self.venue, **figure_options)

    def follow(self, status: str | None = None) -> None:
        super().follow(status if status is not None else market_status(self.feed, self.venue))

    async def refresh(self) -> None:
        frames = self.feed.frames
        cols, self._cursors["transfers"] = frames["transfers"].read_since(self._cursors["transfers"])
        if len(cols["ts"]):
            values = cols["value"].astype(np.float64)
            removed = cols["removed"].astype(bool) if "removed" in cols else np.zeros(len(values), dtype=bool)
            live = ~removed
            if live.any():
                ts = _ms(event_times(cols))
                market_clock(self.feed, self.venue, self.symbol, float(ts.max()))
                self.sources["transfers"].stream({"ts": ts[live], "value": values[live]},
                                                 rollover=self.rollover)
            sign = np.where(removed, -1.0, 1.0) * values
            for src, dst, amount in zip(cols["sender"].tolist(), cols["recipient"].tolist(), sign.tolist(),
                                        strict=True):
                self._net[src] = self._net.get(src, 0.0) - amount
                self._net[dst] = self._net.get(dst, 0.0) + amount
            movers = sorted(self._net.items(), key=lambda kv: -abs(kv[1]))[: self.top]
            labels = [_short(str(a)) for a, _ in movers]
            self.layout.children[1].y_range.factors = labels
            self.sources["netflow"].data = {
                "address": labels, "net": [n for _, n in movers],
                "colour": [BUY_COLOUR if n >= 0 else SELL_COLOUR for _, n in movers],
            }
        blocks, self._cursors["blocks"] = frames["blocks"].read_since(self._cursors["blocks"])
        if len(blocks["ts"]):
            ts = _ms(event_times(blocks))
            market_clock(self.feed, self.venue, self.symbol, float(ts.max()))
            keep = blocks["removed"] == 0 if "removed" in blocks else slice(None)
            self.sources["blocks"].stream({"ts": ts[keep],
                                           "base_fee": blocks["base_fee"][keep].astype(np.float64) / 1e9},
                                          rollover=self.rollover)
        self.refreshes += 1


def market_views(feed: Feed, venue: str, symbol: str, *, band: float, rollover: int, window: float) -> list[View]:
    """The four views of one market a dashboard shows: depth, then spread, trades and imbalance on ONE shared
    trailing time window."""
    kw: dict[str, Any] = {"rollover": rollover, "window": window, "x_range": time_range(window)}
    return [DepthView(feed, venue, symbol, band=band, rollover=rollover), SpreadView(feed, venue, symbol, **kw),
            TradesView(feed, venue, symbol, **kw), ImbalanceView(feed, venue, symbol, **kw)]
