"""Derivatives views: basis against spot, funding rates, the liquidation tape (options: :mod:`.derivatives_options`).

All three read rolling frames only (``top_of_book``, ``funding``, ``liquidations``) through :class:`FrameTap`, so
they never touch a book and never wait on the feed's loop; each refresh streams each source at most once, and
nothing when no new row concerns the view.

Annual rates: a dated future's basis is annualised over its time to expiry (expiries at 08:00 UTC, as Binance and
Deribit deliver); a perpetual's premium and its funding rate are annualised as if paid every funding interval
(``funding_interval``, 8 h by default: the interval of every venue's BTC and ETH perpetuals here; the frame does not
carry it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UnknownSymbolError
from ..naming import Instrument, Kind, parse_instrument
from .derivatives_figures import basis_figure, funding_figure, liquidations_figure
from .figures import Built
from .sampling import FrameTap, event_times
from .views import GAP_AFTER, View, base_of, market_clock, market_status, quote_of, with_gaps

if TYPE_CHECKING:
    from ..feed import Feed

__all__ = ["BasisView", "FundingView", "LiquidationsView", "derivatives_views", "market_derivatives_views",
           "spot_for", "perp_markets",
           "expiry_ns", "annual_rate", "forward_fill", "thin", "YEAR_S", "EXPIRY_HOUR_UTC", "FUNDING_INTERVAL_S"]

YEAR_S = 365.25 * 86_400
FUNDING_INTERVAL_S = 8 * 3_600.0
EXPIRY_HOUR_UTC = 8
"""Binance's quarterlies and Deribit's futures and options expire at 08:00 UTC."""

Market = tuple[str, str]


def expiry_ns(day: dt.date) -> int:
    """The expiry instant (ns since the epoch) of an instrument expiring on ``day``."""
    moment = dt.datetime(day.year, day.month, day.day, EXPIRY_HOUR_UTC, tzinfo=dt.UTC)
    return int(moment.timestamp()) * 1_000_000_000


def annual_rate(fraction: np.ndarray, period_s: np.ndarray | float) -> np.ndarray:
    """``fraction`` earned per ``period_s`` seconds as % a year (simple, not compounded)."""
    return np.asarray(fraction, dtype=np.float64) * (YEAR_S / np.asarray(period_s, dtype=np.float64)) * 100.0


def forward_fill(values: np.ndarray, before: float) -> np.ndarray:
    """``values`` with each NaN replaced by the last number before it (``before`` ahead of the first)."""
    padded = np.concatenate(([before], values.astype(np.float64)))
    index = np.where(np.isnan(padded), 0, np.arange(len(padded)))
    np.maximum.accumulate(index, out=index)
    return padded[index][1:]


def thin(values: list[np.ndarray], previous: tuple[float, ...] | None) -> np.ndarray:
    """Mask of the rows where any of ``values`` differs from the row before (``previous``: the last row already
    shown), plus the last row, so a step line keeps every change and reaches the newest time."""
    n = len(values[0])
    keep = np.zeros(n, dtype=bool)
    for i, column in enumerate(values):
        before = np.concatenate(([np.nan if previous is None else previous[i]], column[:-1]))
        same = (column == before) | (np.isnan(column) & np.isnan(before))
        keep |= ~same
    if n:
        keep[-1] = True
    return keep


def _subscribed(feed: Feed) -> list[tuple[str, str, Instrument]]:
    out = []
    for sub in feed.subscriptions:
        try:
            out.append((sub.venue, sub.symbol, parse_instrument(sub.symbol)))
        except UnknownSymbolError:  # an on-chain target
            continue
    return out


def _market(target: str | Market) -> Market:
    if isinstance(target, str):
        venue, sep, symbol = target.partition(":")
        if not sep:
            raise ValueError(f"a market is 'venue:SYMBOL' or (venue, symbol), got {target!r}")
        return venue.strip().lower(), str(parse_instrument(symbol))
    venue, symbol = target
    return str(venue).strip().lower(), str(parse_instrument(symbol))


def spot_for(feed: Feed, venue: str, instrument: Instrument, spot: str | Market | None = None) -> Market:
    """The spot market to measure ``instrument``'s basis against: ``spot`` when given (it must be a subscribed
    spot market), else the subscribed spot market of the same base, preferring the same venue and quote."""
    subscribed = _subscribed(feed)
    spots = [(v, s, i) for v, s, i in subscribed if i.kind is Kind.SPOT]
    if spot is not None:
        wanted = _market(spot)
        if wanted not in [(v, s) for v, s, _ in spots]:
            raise ValueError(f"spot {wanted[0]}:{wanted[1]} is not a spot market the feed subscribes to; it has "
                             f"{', '.join(f'{v}:{s}' for v, s, _ in spots) or 'none'}")
        return wanted
    same_base = [(v, s, i) for v, s, i in spots if i.base == instrument.base]
    if not same_base:
        raise ValueError(f"the feed subscribes to no {instrument.base} spot market to measure {venue}:{instrument} "
                         f"against; add one (e.g. 'binance:{instrument.base}-USDT') or pass spot=(venue, symbol)")
    ranked = sorted(same_base, key=lambda m: (m[2].quote != instrument.quote, m[0] != venue))
    return ranked[0][0], ranked[0][1]


def perp_markets(feed: Feed, asset: str | None = None) -> list[Market]:
    """The feed's subscribed perpetuals (of ``asset`` only, when given), in subscription order."""
    base = asset.strip().upper() if asset else None
    return [(v, s) for v, s, i in _subscribed(feed) if i.kind is Kind.PERP and (base is None or i.base == base)]


def _frame_or_error(feed: Feed, name: str, what: str) -> Any:
    if name not in feed.frames:
        raise ValueError(f"the feed has no {name!r} frame: {what} needs a derivatives market, e.g. "
                         f"Feed(['binance:BTC-USDT-PERP'])")
    return feed.frames[name]


def _ms(ns: np.ndarray) -> np.ndarray:
    return ns.astype(np.float64) / 1e6


def _times_ms(ns: np.ndarray) -> np.ndarray:
    """Time columns (NaT stored as the int64 minimum) in ms, NaN where unknown."""
    out = ns.astype(np.float64) / 1e6
    out[ns <= 0] = np.nan
    return out


def funding_columns(rows: dict[str, np.ndarray], interval_s: float) -> dict[str, np.ndarray]:
    """Funding frame rows as the funding sources' columns (rates in %)."""
    rate = rows["funding_rate"].astype(np.float64)
    return {"ts": _ms(event_times(rows)), "rate": rate * 100.0, "annual": annual_rate(rate, interval_s),
            "next_funding": _times_ms(rows["next_funding"]), "mark": rows["mark_price"].astype(np.float64)}


class BasisView(View):
    """A perpetual's or dated future's mid against a spot mid: both prices, the basis, and the annualised rate
    (see the module). One row per top-of-book change of either market once both have a mid."""

    kind = "basis"

    def __init__(self, feed: Feed, venue: str, symbol: str, *, spot: str | Market | None = None,
                 funding_interval: float = FUNDING_INTERVAL_S, **kw: Any) -> None:
        instrument = parse_instrument(symbol)
        if instrument.kind not in (Kind.PERP, Kind.FUTURE):
            raise ValueError(f"basis is of a perpetual or a dated future, not a {instrument.kind} ({symbol!r})")
        if not isinstance(funding_interval, int | float) or not funding_interval > 0:
            raise ValueError(f"funding_interval must be positive seconds, got {funding_interval!r}")
        self.instrument = instrument
        self.spot = spot_for(feed, venue, instrument, spot)
        self.funding_interval = float(funding_interval)
        self.expiry_ns = expiry_ns(instrument.expiry) if instrument.expiry is not None else None
        super().__init__(feed, venue, str(instrument), **kw)
        self._reset()

    def _build(self, **figure_options: Any) -> Built:
        return basis_figure(self.venue, self.symbol, *self.spot, dated=self.expiry_ns is not None,
                            quote=quote_of(self.symbol), funding_hours=self.funding_interval / 3600,
                            **figure_options)

    def _reset(self) -> None:
        self._tops = FrameTap(self.feed.top_of_book, [(self.venue, self.symbol), self.spot], self.rollover)
        has_funding = self.expiry_ns is None and "funding" in self.feed.frames
        self._funding = (FrameTap(self.feed.frames["funding"], [(self.venue, self.symbol)], self.rollover)
                         if has_funding else None)
        self._mids = (math.nan, math.nan)
        self._last_ts = 0
        self._last_ms = 0.0
        self._last_funding: tuple[float, ...] | None = None

    def basis_columns(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray] | None:
        """Top-of-book rows of the two markets as basis rows: each row's mids carried forward, rows before both
        markets have a mid left out; ``ts`` is exchange time in ms, never going back."""
        mine = (rows["venue"] == self.venue) & (rows["symbol"] == self.symbol)
        mids = rows["mid"].astype(np.float64)
        derivative = forward_fill(np.where(mine, mids, np.nan), self._mids[0])
        spot = forward_fill(np.where(mine, np.nan, mids), self._mids[1])
        self._mids = (float(derivative[-1]), float(spot[-1]))
        ts = np.maximum.accumulate(np.maximum(event_times(rows), self._last_ts))
        self._last_ts = int(ts[-1])
        keep = np.isfinite(derivative) & np.isfinite(spot)
        if not keep.any():
            return None
        derivative, spot, ts = derivative[keep], spot[keep], ts[keep]
        basis = derivative - spot
        premium = basis / spot
        if self.expiry_ns is not None:
            left_s = (self.expiry_ns - ts) / 1e9
            annual = np.where(left_s > 0, annual_rate(premium, np.maximum(left_s, 1e-9)), np.nan)
        else:
            annual = annual_rate(premium, self.funding_interval)
        return {"ts": _ms(ts), "derivative": derivative, "spot": spot, "basis": basis, "premium_bp": premium * 1e4,
                "annual": annual}

    async def refresh(self) -> None:
        rows = self._tops.read()
        cols = None if rows is None else self.basis_columns(rows)
        if cols is not None:
            market_clock(self.feed, self.venue, self.symbol, float(cols["ts"][-1]))
            self.sources["basis"].stream(with_gaps(cols, self._last_ms, GAP_AFTER * 1e3), rollover=self.rollover)
            self._last_ms = float(cols["ts"][-1])
        funding = self._funding.read() if self._funding is not None else None
        if funding is not None:
            cols = funding_columns(funding, self.funding_interval)
            keep = thin([cols["rate"], cols["next_funding"]], self._last_funding)
            cols = {name: values[keep] for name, values in cols.items()}
            self._last_funding = (float(cols["rate"][-1]), float(cols["next_funding"][-1]))
            self.sources["funding"].stream(cols, rollover=self.rollover)
        self.refreshes += 1

    def follow(self, status: str | None = None) -> None:
        if status is None:
            status = market_status(self.feed, self.venue, self.symbol)
            if not status:
                spot = market_status(self.feed, *self.spot)
                status = f"{self.spot[0]}: {spot}" if spot and self.feed.running else spot
        super().follow(status)


class FundingView(View):
    """The funding rate of every given perpetual (default: all the feed subscribes to) over time, one line each;
    the title says when the next funding is due. Rows that change nothing are left out (the last of each refresh
    is kept, so lines reach the newest time)."""

    kind = "funding"

    def __init__(self, feed: Feed, markets: Iterable[str | Market] | None = None, *, asset: str | None = None,
                 funding_interval: float = FUNDING_INTERVAL_S, **kw: Any) -> None:
        frame = _frame_or_error(feed, "funding", "a funding plot")
        perps = perp_markets(feed, asset)
        chosen = perps if markets is None else [_market(m) for m in markets]
        unknown = [m for m in chosen if m not in perps]
        if unknown or not chosen:
            raise ValueError(f"funding is shown for subscribed perpetuals; {unknown or 'none chosen'} not among "
                             f"{', '.join(f'{v}:{s}' for v, s in perps) or 'none'}")
        self.markets = list(dict.fromkeys(chosen))
        self.funding_interval = float(funding_interval)
        self._frame = frame
        kw.setdefault("window", 600.0)
        super().__init__(feed, "multi", "funding", **kw)
        self._title = self.layout.title
        self._reset()

    def _build(self, **figure_options: Any) -> Built:
        return funding_figure(self.markets, **figure_options)

    def _reset(self) -> None:
        self._tap = FrameTap(self._frame, self.markets, self.rollover * len(self.markets))
        self._last: dict[Market, tuple[float, ...]] = {}
        self.next_funding: dict[Market, float] = {}

    async def refresh(self) -> None:
        rows = self._tap.read()
        if rows is not None:
            cols = funding_columns(rows, self.funding_interval)
            for market in self.markets:
                mask = (rows["venue"] == market[0]) & (rows["symbol"] == market[1])
                if not mask.any():
                    continue
                mine = {name: values[mask] for name, values in cols.items()}
                keep = thin([mine["rate"], mine["next_funding"]], self._last.get(market))
                mine = {name: values[keep] for name, values in mine.items()}
                self._last[market] = (float(mine["rate"][-1]), float(mine["next_funding"][-1]))
                if mine["next_funding"][-1] == mine["next_funding"][-1]:
                    self.next_funding[market] = float(mine["next_funding"][-1])
                self.sources[f"{market[0]}:{market[1]}"].stream(mine, rollover=self.rollover)
            market_clock(self.feed, self.venue, self.symbol, float(cols["ts"].max()))
            self._set_title()
        self.refreshes += 1

    def _set_title(self) -> None:
        text = "funding rate (% per funding interval)"
        if self.next_funding:
            soonest = min(self.next_funding.values())
            when = dt.datetime.fromtimestamp(soonest / 1e3, dt.UTC)
            text += f", next funding {when:%Y-%m-%d %H:%M} UTC"
        if self._title.text != text:
            self._title.text = text

    def follow(self, status: str | None = None) -> None:
        if status is None:
            states = ((venue, market_status(self.feed, venue, symbol)) for venue, symbol in self.markets)
            status = next((f"{venue}: {state}" if self.feed.running else state for venue, state in states if state),
                          "")
        super().follow(status)


class LiquidationsView(View):
    """Forced orders of one perpetual (or future) over its mid: marker area by size against a slowly adapting
    scale, colour by the liquidation order's side."""

    kind = "liquidations"

    def __init__(self, feed: Feed, venue: str, symbol: str, **kw: Any) -> None:
        self._frame = _frame_or_error(feed, "liquidations", "a liquidations plot")
        kw.setdefault("window", 300.0)
        super().__init__(feed, venue, symbol, **kw)
        self._reset()

    def _build(self, **figure_options: Any) -> Built:
        return liquidations_figure(self.venue, self.symbol, quote=quote_of(self.symbol), base=base_of(self.symbol),
                                   **figure_options)

    def _reset(self) -> None:
        market = [(self.venue, self.symbol)]
        self._tape = FrameTap(self._frame, market, self.rollover)
        self._tops = FrameTap(self.feed.top_of_book, market, self.rollover)
        self._size_scale = 0.0
        self._last_ms = 0.0

    async def refresh(self) -> None:
        tops = self._tops.read()
        if tops is not None:
            ts = _ms(event_times(tops))
            market_clock(self.feed, self.venue, self.symbol, float(ts[-1]))
            cols = with_gaps({"ts": ts, "mid": tops["mid"].astype(np.float64)}, self._last_ms, GAP_AFTER * 1e3)
            self.sources["price"].stream(cols, rollover=self.rollover)
            self._last_ms = float(ts[-1])
        rows = self._tape.read()
        if rows is not None:
            ts = _ms(event_times(rows))
            market_clock(self.feed, self.venue, self.symbol, float(ts[-1]))
            sizes = rows["size"].astype(np.float64)
            prices = rows["price"].astype(np.float64)
            self._size_scale = max(self._size_scale * 0.999, float(sizes.max()))
            radius = 6.0 + 24.0 * np.sqrt(np.clip(sizes / (self._size_scale or 1.0), 0.0, 1.0))
            self.sources["liquidations"].stream({
                "ts": ts, "price": prices, "size": sizes, "notional": prices * sizes,
                "buy": (rows["side"] == "buy").astype(np.int8), "radius": radius.astype(np.float32),
            }, rollover=self.rollover)
        self.refreshes += 1


def derivatives_views(feed: Feed, targets: Iterable[str], *, rollover: int = 5_000, window: float = 60.0,
                      basis_limit: int = 2) -> list[View]:
    """The derivatives views a dashboard adds for ``targets`` (``venue:SYMBOL``): the funding of every
    perpetual, the basis of the first ``basis_limit`` perpetuals or futures that have a spot market to compare
    with, the first perpetual's liquidations, and the smile of the nearest expiry and the ATM term structure of the
    first underlying with options."""
    from .derivatives_options import SmileView, TermStructureView, option_expiries

    markets = [_market(t) for t in targets if not t.startswith("eth:")]
    kinds = {m: parse_instrument(m[1]) for m in markets}
    views: list[View] = []
    perps = [m for m in markets if kinds[m].kind is Kind.PERP]
    if perps and "funding" in feed.frames:
        views.append(FundingView(feed, perps, rollover=rollover))
    dated = [m for m in markets if kinds[m].kind is Kind.FUTURE]
    for venue, symbol in [*perps, *dated]:
        if sum(isinstance(v, BasisView) for v in views) >= basis_limit:
            break
        try:
            views.append(BasisView(feed, venue, symbol, rollover=rollover, window=window))
        except ValueError:  # no spot market of that asset to compare with
            continue
    if perps and "liquidations" in feed.frames:
        views.append(LiquidationsView(feed, *perps[0], rollover=rollover))
    options = [m for m in markets if kinds[m].kind is Kind.OPTION]
    if options and "options" in feed.frames:
        venue, base = options[0][0], kinds[options[0]].base
        expiries = option_expiries(feed, venue, base)
        views.append(SmileView(feed, venue, base, expiries[0]))
        if len(expiries) > 1:
            views.append(TermStructureView(feed, venue, base))
    return views


def market_derivatives_views(feed: Feed, venue: str, symbol: str, *, rollover: int = 5_000,
                             window: float = 60.0) -> list[View]:
    """The derivatives views of one picked market (none for spot): a perpetual's basis, the funding of every
    perpetual and its liquidations; a future's basis; an option's smile (its expiry) and its underlying's term
    structure. A basis without a spot market of the asset to compare with is left out."""
    from .derivatives_options import SmileView, TermStructureView

    instrument = parse_instrument(symbol)
    views: list[View] = []
    if instrument.kind in (Kind.PERP, Kind.FUTURE):
        with contextlib.suppress(ValueError):  # no spot market of the asset to compare with
            views.append(BasisView(feed, venue, symbol, rollover=rollover, window=window))
    if instrument.kind is Kind.PERP and "funding" in feed.frames:
        views.append(FundingView(feed, rollover=rollover))
    if instrument.kind is Kind.PERP and "liquidations" in feed.frames:
        views.append(LiquidationsView(feed, venue, symbol, rollover=rollover))
    if instrument.kind is Kind.OPTION and "options" in feed.frames:
        views.append(SmileView(feed, venue, instrument.base, instrument.expiry))  # type: ignore[arg-type]
        views.append(TermStructureView(feed, venue, instrument.base))
    return views
