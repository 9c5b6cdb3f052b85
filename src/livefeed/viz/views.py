"""Live views: each owns the figures it built and knows how to bring them up to date from a feed.

A view reads the feed in two ways, both without ever letting the feed thread near Bokeh: rolling frames through
``RollingFrame.read_since`` (lock-protected copies, only the rows that are new since the last refresh) and order
books through a short function run *on the feed's loop* and awaited from the caller's loop (so a book is never read
half-updated and the caller's loop never blocks). The results are applied to the view's sources on the caller's
loop: one ``stream``/``patch``/replace per source per refresh, whatever the number of events in between.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from .figures import (
    BUY_COLOUR,
    SELL_COLOUR,
    Built,
    depth_figure,
    imbalance_figure,
    onchain_figure,
    spread_figure,
    trades_figure,
)

if TYPE_CHECKING:
    from ..book import OrderBook
    from ..feed import Feed
    from ..frames import RollingFrame

__all__ = [
    "step_outline", "View", "DepthView", "SpreadView", "TradesView", "ImbalanceView", "OnchainView", "on_feed_loop",
]

T = TypeVar("T")


async def on_feed_loop(feed: Feed, fn: Callable[[], T]) -> T:
    """Run ``fn()`` where the feed mutates its state and await the result without blocking this loop."""
    feed_loop = feed._loop
    try:
        here = asyncio.get_running_loop()
    except RuntimeError:
        here = None
    if feed_loop is None or feed_loop is here or feed_loop.is_closed():
        return fn()

    async def call() -> T:
        return fn()

    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(), feed_loop))


def _ms(ns: np.ndarray) -> np.ndarray:
    """Bokeh datetime axes want float milliseconds since the epoch."""
    return ns.astype(np.float64) / 1e6


def step_outline(price: np.ndarray, cum: np.ndarray) -> dict[str, np.ndarray]:
    """Points of the step line through ``(price[i], cum[i])`` that holds each ``cum[i]`` until ``price[i+1]``."""
    if not len(price):
        return {"price": price, "cum": cum}
    return {"price": np.repeat(price, 2)[1:], "cum": np.repeat(cum, 2)[:-1]}


class View:
    """Base of every live view: ``built`` (layout + sources), ``refresh()`` applies what is new."""

    kind = "view"

    def __init__(self, feed: Feed, venue: str, symbol: str, *, rollover: int = 5_000, **figure_options: Any) -> None:
        if rollover <= 0:
            raise ValueError(f"rollover must be a positive number of rows, got {rollover!r}")
        self.feed = feed
        self.venue = venue
        self.symbol = symbol
        self.rollover = rollover
        self.built: Built = self._build(**figure_options)
        self.refreshes = 0

    def _build(self, **figure_options: Any) -> Built:
        raise NotImplementedError

    @property
    def layout(self) -> Any:
        return self.built.layout

    @property
    def sources(self) -> dict[str, Any]:
        return self.built.sources

    async def refresh(self) -> None:
        """Bring the sources up to date; call on the loop that owns the Bokeh document."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.venue}:{self.symbol} refreshes={self.refreshes}>"


class _FrameView(View):
    """A view streaming the rows of one rolling frame that belong to its venue and symbol."""

    frame_name = ""

    def __init__(self, feed: Feed, venue: str, symbol: str, **kw: Any) -> None:
        super().__init__(feed, venue, symbol, **kw)
        frame = self._frame()
        # Start a rollover's worth back, so a view opened late still shows recent history.
        self._cursor = max(0, frame.total - self.rollover)

    def _frame(self) -> RollingFrame:
        return self.feed.frames[self.frame_name]

    def _new_rows(self) -> dict[str, np.ndarray] | None:
        cols, self._cursor = self._frame().read_since(self._cursor)
        if not len(cols["ts"]):
            return None
        mask = (cols["venue"] == self.venue) & (cols["symbol"] == self.symbol)
        if not mask.any():
            return None
        return {name: values[mask][-self.rollover :] for name, values in cols.items()}

    async def refresh(self) -> None:
        rows = self._new_rows()
        if rows is not None:
            self._apply(rows)
        self.refreshes += 1

    def _apply(self, rows: dict[str, np.ndarray]) -> None:
        raise NotImplementedError


class SpreadView(_FrameView):
    """Best bid, best ask, mid and spread over time, from ``feed.top_of_book``."""

    kind = "spread"
    frame_name = "top_of_book"

    def _build(self, **figure_options: Any) -> Built:
        return spread_figure(self.venue, self.symbol, **figure_options)

    def _apply(self, rows: dict[str, np.ndarray]) -> None:
        ts = np.where(rows["ts"] > 0, rows["ts"], rows["receipt_ts"])
        self.sources["spread"].stream({
            "ts": _ms(ts), "bid": rows["bid_price"], "ask": rows["ask_price"], "mid": rows["mid"],
            "spread": rows["spread"],
        }, rollover=self.rollover)


class TradesView(_FrameView):
    """The trade tape from ``feed.trades``: price, size, aggressor side, and volume over ``window`` seconds."""

    kind = "trades"
    frame_name = "trades"

    def __init__(self, feed: Feed, venue: str, symbol: str, *, window: float = 60.0, **kw: Any) -> None:
        if window <= 0:
            raise ValueError(f"window must be positive seconds, got {window!r}")
        self.window_ns = int(window * 1e9)
        self._recent: deque[tuple[int, float]] = deque()
        self._volume = 0.0
        self._size_scale = 0.0
        super().__init__(feed, venue, symbol, **kw)

    def _build(self, **figure_options: Any) -> Built:
        return trades_figure(self.venue, self.symbol, **figure_options)

    def _apply(self, rows: dict[str, np.ndarray]) -> None:
        ts = np.where(rows["ts"] > 0, rows["ts"], rows["receipt_ts"])
        sizes = rows["size"].astype(np.float64)
        volume = np.empty(len(ts))
        recent, window = self._recent, self.window_ns
        for i, (t, size) in enumerate(zip(ts.tolist(), sizes.tolist(), strict=True)):
            recent.append((t, size))
            self._volume += size
            while recent and recent[0][0] <= t - window:
                self._volume -= recent.popleft()[1]
            volume[i] = self._volume
        # Marker size follows sqrt(size) against a slowly adapting scale, so areas compare within the window.
        self._size_scale = max(self._size_scale * 0.999, float(sizes.max()) if len(sizes) else 0.0)
        scale = self._size_scale or 1.0
        radius = 4.0 + 18.0 * np.sqrt(np.clip(sizes / scale, 0.0, 1.0))
        sides = rows["side"].astype(str)
        self.sources["trades"].stream({
            "ts": _ms(ts), "price": rows["price"], "size": sizes, "side": sides,
            "colour": np.where(sides == "buy", BUY_COLOUR, SELL_COLOUR), "radius": radius, "volume": volume,
        }, rollover=self.rollover)


class _BookView(View):
    """A view computed from the live order book, only when the book has changed since the last refresh."""

    def __init__(self, feed: Feed, venue: str, symbol: str, **kw: Any) -> None:
        super().__init__(feed, venue, symbol, **kw)
        self._last_key: object = None

    def _book(self) -> OrderBook | None:
        return self.feed._books.get((self.venue, self.symbol))

    def _read(self, book: OrderBook) -> Any:
        raise NotImplementedError

    async def refresh(self) -> None:
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


class DepthView(_BookView):
    """The depth chart of one book: cumulative size within ``band`` (fraction of mid) of the mid."""

    kind = "depth"

    def __init__(self, feed: Feed, venue: str, symbol: str, *, band: float = 0.01, levels: int | None = None,
                 **kw: Any) -> None:
        self.band = self._check_band(band)
        self.levels = levels
        super().__init__(feed, venue, symbol, **kw)

    @staticmethod
    def _check_band(band: float) -> float:
        if not isinstance(band, int | float) or not 0 < band < 1:
            raise ValueError(f"band must be a fraction of mid between 0 and 1 (0.01 = 1%), got {band!r}")
        return float(band)

    def set_band(self, band: float) -> None:
        """Show levels within ``band`` of mid from the next refresh on."""
        self.band = self._check_band(band)
        self._last_key = None

    def _build(self, **figure_options: Any) -> Built:
        return depth_figure(self.venue, self.symbol, **figure_options)

    def _read(self, book: OrderBook) -> Any:
        bid, ask = book.best_bid, book.best_ask
        return book.cumulative_depth(self.band, self.levels), bid, ask, book.mid

    def _apply(self, data: Any) -> None:
        depth, bid, ask, mid = data
        src = self.sources
        src["bids"].data = step_outline(depth["bid_price"], depth["bid_cum"])
        src["asks"].data = step_outline(depth["ask_price"], depth["ask_cum"])
        nan = float("nan")
        bid_price = bid[0] if bid else nan
        ask_price = ask[0] if ask else nan
        mid_price = mid if mid is not None else nan
        src["meta"].patch({
            "ts": [(0, time.time() * 1e3)], "bid": [(0, bid_price)], "ask": [(0, ask_price)],
            "mid": [(0, mid_price)], "band": [(0, self.band)],
        })


class ImbalanceView(_BookView):
    """Order-book imbalance over the top ``levels`` per side, sampled at each refresh the book changed."""

    kind = "imbalance"

    def __init__(self, feed: Feed, venue: str, symbol: str, *, levels: int = 10, **kw: Any) -> None:
        if levels <= 0:
            raise ValueError(f"levels must be positive, got {levels!r}")
        self.levels = levels
        super().__init__(feed, venue, symbol, **kw)

    def _build(self, **figure_options: Any) -> Built:
        return imbalance_figure(self.venue, self.symbol, **figure_options)

    def _read(self, book: OrderBook) -> Any:
        return book.imbalance(self.levels)

    def _apply(self, data: Any) -> None:
        if data is not None:
            self.sources["imbalance"].stream({"ts": [time.time() * 1e3], "imbalance": [data]},
                                             rollover=self.rollover)


def _times(cols: dict[str, np.ndarray]) -> np.ndarray:
    """Exchange/chain time where known, else receipt time (a chain log may arrive before its block's timestamp)."""
    ts = cols["ts"]
    return np.where(ts > 0, ts, cols["receipt_ts"]) if "receipt_ts" in cols else ts


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
        super().__init__(feed, venue, "chain", **kw)
        self._cursors = {name: max(0, feed.frames[name].total - self.rollover) for name in ("transfers", "blocks")}

    def _build(self, **figure_options: Any) -> Built:
        return onchain_figure(self.venue, **figure_options)

    async def refresh(self) -> None:
        frames = self.feed.frames
        cols, self._cursors["transfers"] = frames["transfers"].read_since(self._cursors["transfers"])
        if len(cols["ts"]):
            values = cols["value"].astype(np.float64)
            removed = cols["removed"].astype(bool) if "removed" in cols else np.zeros(len(values), dtype=bool)
            live = ~removed
            if live.any():
                self.sources["transfers"].stream({"ts": _ms(_times(cols)[live]), "value": values[live]},
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
            keep = blocks["removed"] == 0 if "removed" in blocks else slice(None)
            self.sources["blocks"].stream({"ts": _ms(_times(blocks)[keep]),
                                           "base_fee": blocks["base_fee"][keep].astype(np.float64) / 1e9},
                                          rollover=self.rollover)
        self.refreshes += 1
