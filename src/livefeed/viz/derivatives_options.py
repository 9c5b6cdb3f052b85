"""Options views: the implied-volatility smile of one expiry and the ATM term structure across expiries.

Both keep the newest quote of each option (:class:`OptionBoard`, fed from ``feed.options`` by a
:class:`FrameTap`) and redraw from it only when a quote changed. The smile takes at each strike the
out-of-the-money option (puts below the forward, calls above; the other where only one is quoted), the usual
way to read one smile from both; the forward is the underlying price the venue quotes with the newest option of
that expiry. ATM IV is the smile's mark IV interpolated linearly in strike at the forward (the nearest strike's
when the forward lies outside the quoted strikes).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..discovery import _day as parse_day
from ..errors import UnknownSymbolError
from ..naming import Kind, parse_instrument
from .derivatives import EXPIRY_HOUR_UTC, expiry_ns
from .derivatives_figures import SMILE_COLUMNS, TERM_COLUMNS, smile_figure, term_structure_figure
from .figures import Built
from .sampling import FrameTap
from .views import View

if TYPE_CHECKING:
    from ..feed import Feed

__all__ = ["OptionQuote", "OptionBoard", "SmileView", "TermStructureView", "smile_columns", "atm_iv",
           "option_expiries"]

_FIELDS = ("underlying_price", "mark_iv", "bid_iv", "ask_iv", "delta")


@dataclass(slots=True, frozen=True)
class OptionQuote:
    """The newest quote of one option (IVs as fractions, as in ``feed.options``)."""

    symbol: str
    strike: float
    right: str
    expiry: dt.date
    underlying: float
    mark_iv: float
    bid_iv: float
    ask_iv: float
    delta: float
    ts: int


def option_expiries(feed: Feed, venue: str, underlying: str) -> list[dt.date]:
    """The expiries of ``underlying``'s options the feed subscribes to on ``venue``, soonest first."""
    return sorted({i.expiry for i in _options(feed, venue, underlying.upper()).values() if i.expiry is not None})


def _options(feed: Feed, venue: str, base: str) -> dict[str, Any]:
    found = {}
    for sub in feed.subscriptions:
        if sub.venue != venue:
            continue
        try:
            instrument = parse_instrument(sub.symbol)
        except UnknownSymbolError:
            continue
        if instrument.kind is Kind.OPTION and instrument.base == base:
            found[sub.symbol] = instrument
    return found


class OptionBoard:
    """The newest quote of each of ``symbols`` on ``venue``, from the feed's ``options`` frame."""

    def __init__(self, feed: Feed, venue: str, instruments: dict[str, Any], backlog: int) -> None:
        if "options" not in feed.frames:
            raise ValueError("the feed has no 'options' frame: subscribe to options, e.g. "
                             "livefeed.instruments('deribit', kind='option', ...).subscription")
        self.instruments = instruments
        self._tap = FrameTap(feed.frames["options"], [(venue, s) for s in instruments], backlog)
        self.quotes: dict[str, OptionQuote] = {}

    def update(self) -> bool:
        """Read the new rows; whether any option's quote changed."""
        rows = self._tap.read()
        if rows is None:
            return False
        symbols = rows["symbol"]
        changed = False
        last: dict[str, int] = {}
        for index, symbol in enumerate(symbols.tolist()):
            last[symbol] = index
        for symbol, index in last.items():
            instrument = self.instruments[symbol]
            values = [float(rows[name][index]) for name in _FIELDS]
            quote = OptionQuote(symbol, float(instrument.strike), instrument.right, instrument.expiry, *values,
                                ts=int(rows["ts"][index]))
            old = self.quotes.get(symbol)
            if old is None or _values(old) != _values(quote):
                changed = True
            self.quotes[symbol] = quote
        return changed

    def of_expiry(self, day: dt.date) -> list[OptionQuote]:
        return [q for q in self.quotes.values() if q.expiry == day]


def _values(quote: OptionQuote) -> str:
    # repr: NaN compares equal to itself here, so an unchanged missing IV is "unchanged"
    return repr((quote.underlying, quote.mark_iv, quote.bid_iv, quote.ask_iv, quote.delta))


def forward_of(quotes: list[OptionQuote]) -> float:
    """The underlying price quoted with the newest of ``quotes`` (NaN when none has one)."""
    quoted = [q for q in quotes if math.isfinite(q.underlying)]
    return max(quoted, key=lambda q: q.ts).underlying if quoted else math.nan


def smile_columns(quotes: list[OptionQuote], forward: float) -> dict[str, list[Any]]:
    """One row per strike (ascending) from the out-of-the-money option there; IVs in %."""
    by_strike: dict[float, dict[str, OptionQuote]] = {}
    for quote in quotes:
        by_strike.setdefault(quote.strike, {})[quote.right] = quote
    out: dict[str, list[Any]] = {name: [] for name in SMILE_COLUMNS}
    for strike in sorted(by_strike):
        pair = by_strike[strike]
        otm = "P" if forward == forward and strike < forward else "C"
        chosen = pair.get(otm) or next(iter(pair.values()))
        row = {"strike": strike, "mark_iv": chosen.mark_iv * 100, "bid_iv": chosen.bid_iv * 100,
               "ask_iv": chosen.ask_iv * 100, "option": chosen.symbol, "delta": chosen.delta,
               "call_iv": pair["C"].mark_iv * 100 if "C" in pair else math.nan,
               "put_iv": pair["P"].mark_iv * 100 if "P" in pair else math.nan,
               "moneyness": strike / forward if forward == forward and forward else math.nan}
        for name in SMILE_COLUMNS:
            out[name].append(row[name])
    return out


def atm_iv(strikes: list[float], ivs: list[float], forward: float) -> float:
    """The IV at ``forward``, linear in strike between the quoted strikes (the end value beyond them)."""
    points = sorted((k, v) for k, v in zip(strikes, ivs, strict=True) if math.isfinite(v))
    if not points or not math.isfinite(forward):
        return math.nan
    return float(np.interp(forward, [k for k, _ in points], [v for _, v in points]))


class SmileView(View):
    """Implied vol by strike of one expiry's subscribed options (mark, bid and ask IV), redrawn when a quote
    changed; the forward marked."""

    kind = "smile"

    def __init__(self, feed: Feed, venue: str, underlying: str, expiry: dt.date | str, **kw: Any) -> None:
        base = underlying.strip().upper()
        day = parse_day(expiry)
        every = _options(feed, venue, base)
        chosen = {s: i for s, i in every.items() if i.expiry == day}
        if not chosen:
            listed = ", ".join(str(d) for d in option_expiries(feed, venue, base)) or "none"
            raise ValueError(f"the feed subscribes to no {venue} {base} option expiring {day}; its {base} option "
                             f"expiries there: {listed}")
        self.underlying, self.expiry = base, day
        self.board = OptionBoard(feed, venue, chosen, 50 * len(chosen))
        self._shown: str | None = None
        super().__init__(feed, venue, f"{base}-{day:%Y%m%d}", **kw)

    def _build(self, **figure_options: Any) -> Built:
        figure_options.pop("window", None)
        return smile_figure(self.venue, self.symbol, **figure_options)

    async def refresh(self) -> None:
        if self.board.update():
            quotes = self.board.of_expiry(self.expiry)
            forward = forward_of(quotes)
            columns = smile_columns(quotes, forward)
            shown = repr(columns)
            if shown != self._shown:
                self._shown = shown
                self.sources["smile"].data = columns
            meta = self.sources["meta"]
            if repr(meta.data["forward"][0]) != repr(forward):
                meta.patch({"forward": [(0, forward)], "ts": [(0, max(q.ts for q in quotes) / 1e6)]})
        self.refreshes += 1


class TermStructureView(View):
    """ATM implied vol of every subscribed expiry of ``underlying``, by days to expiry."""

    kind = "term_structure"

    def __init__(self, feed: Feed, venue: str, underlying: str, **kw: Any) -> None:
        base = underlying.strip().upper()
        every = _options(feed, venue, base)
        if not every:
            raise ValueError(f"the feed subscribes to no {venue} {base} options")
        self.underlying = base
        self.board = OptionBoard(feed, venue, every, 50 * len(every))
        self._shown: str | None = None
        super().__init__(feed, venue, base, **kw)

    def _build(self, **figure_options: Any) -> Built:
        figure_options.pop("window", None)
        return term_structure_figure(self.venue, self.symbol, **figure_options)

    def term_columns(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {name: [] for name in TERM_COLUMNS}
        for day in sorted({q.expiry for q in self.board.quotes.values()}):
            quotes = self.board.of_expiry(day)
            forward = forward_of(quotes)
            smile = smile_columns(quotes, forward)
            now = max(q.ts for q in quotes)
            expires = expiry_ns(day)
            row = {"expiry": expires / 1e6, "days": (expires - now) / 86_400e9,
                   "atm_iv": atm_iv(smile["strike"], smile["mark_iv"], forward), "forward": forward,
                   "label": f"{day:%Y-%m-%d} {EXPIRY_HOUR_UTC:02d}:00 UTC", "options": len(quotes)}
            for name in TERM_COLUMNS:
                out[name].append(row[name])
        return out

    async def refresh(self) -> None:
        if self.board.update():
            columns = self.term_columns()
            shown = repr(columns)
            if shown != self._shown:
                self._shown = shown
                self.sources["term"].data = columns
        self.refreshes += 1
