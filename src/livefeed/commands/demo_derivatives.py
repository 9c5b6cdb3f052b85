"""The derivatives part of ``livefeed demo``: which perpetuals and options it follows, and their terminal lines
(basis and funding per perpetual or future, the smile and ATM term structure of the options)."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..derivatives import Funding, OptionTicker
from ..naming import Kind, parse_instrument
from ..registry import MARKETS

if TYPE_CHECKING:
    from ..feed import Feed

__all__ = ["perp_subscriptions", "deribit_sim_symbols", "option_chain", "derivatives_lines", "OPTION_STRIKES"]

OPTION_STRIKES = 5
"""Strikes per expiry the demo follows with ``--options``: the listed ones in the middle of the listing."""


def perp_subscriptions(venues: Sequence[str]) -> dict[str, list[str]]:
    """Per derivatives source, the BTC perpetual of each of ``venues`` that has perpetuals (USDT-margined)."""
    out: dict[str, list[str]] = {}
    for venue in venues:
        source = MARKETS.get((venue, Kind.PERP))
        if source is not None:
            out.setdefault(source, []).append("BTC-USDT-PERP")
    return out


def deribit_sim_symbols() -> list[str]:
    """What the demo's Deribit simulator lists: the BTC perpetual, the next two quarterlies and their options at
    strikes around the simulated BTC price."""
    from ..sim.deribit import quarterly_expiries

    days = [d.strftime("%Y%m%d") for d in quarterly_expiries(dt.datetime.now(dt.UTC).date(), 2)]
    strikes = range(50_000, 72_500, 2_500)
    return ["BTC-USD-PERP", *(f"BTC-USD-{d}" for d in days),
            *(f"BTC-USD-{d}-{k}-{r}" for d in days for k in strikes for r in "CP")]


async def option_chain(endpoints: Any) -> list[str]:
    """The demo's Deribit subscriptions, from the venue's listing (``livefeed.instruments``): the BTC perpetual, the
    nearest future at least a week out and, for the two nearest expiries at least a week out, the calls and puts
    of the :data:`OPTION_STRIKES` strikes in the middle of each expiry's listing (listings centre on the money)."""
    import pandas as pd

    from ..discovery import fetch_instruments

    listed = await fetch_instruments("deribit", underlying="BTC", endpoints=endpoints)
    listed = listed[listed["quote"] == "USD"]
    soon = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=7)
    futures = listed[(listed["kind"] == "future") & (listed["expiry"] > soon)]
    options = listed[(listed["kind"] == "option") & (listed["expiry"] > soon)]
    chosen = ["BTC-USD-PERP", *futures["symbol"].head(1)]
    for _expiry, chain in list(options.groupby("expiry", sort=True))[:2]:
        strikes = sorted(chain["strike"].unique())
        middle = len(strikes) // 2
        keep = strikes[max(0, middle - OPTION_STRIKES // 2): middle + OPTION_STRIKES // 2 + 1]
        chosen += chain[chain["strike"].isin(keep)]["symbol"].tolist()
    return [f"deribit:{symbol}" for symbol in chosen]


def _signed(value: float, decimals: int = 2) -> str:
    return "-" if not math.isfinite(value) else f"{value:+,.{decimals}f}"


def _basis_line(feed: Feed, venue: str, symbol: str, latest: dict[tuple[str, str], Any]) -> str | None:
    from ..viz.derivatives import FUNDING_INTERVAL_S, YEAR_S, expiry_ns, spot_for

    instrument = parse_instrument(symbol)
    try:
        spot = spot_for(feed, venue, instrument)
    except ValueError:
        return None
    books = feed.books
    mine, theirs = books.get((venue, symbol)), books.get(spot)
    mid, spot_mid = (b.mid if b is not None else None for b in (mine, theirs))
    head = f"basis {venue} {symbol} vs {spot[0]} {spot[1]}:"
    if mid is None or spot_mid is None:
        return f"{head} waiting for both books"
    premium = (mid - spot_mid) / spot_mid
    if instrument.expiry is not None:
        left = (expiry_ns(instrument.expiry) - time.time_ns()) / 1e9
        annual = premium * YEAR_S / left * 100 if left > 0 else math.nan
        return f"{head} {_signed(mid - spot_mid)} ({_signed(premium * 1e4)} bp, {_signed(annual)}%/yr to expiry)"
    line = f"{head} {_signed(mid - spot_mid)} ({_signed(premium * 1e4)} bp)"
    funding = latest.get((venue, symbol))
    if isinstance(funding, Funding) and funding.funding_rate is not None:
        yearly = funding.funding_rate * YEAR_S / FUNDING_INTERVAL_S * 100
        line += f"  funding {funding.funding_rate * 100:.4f}%/8h ({_signed(yearly)}%/yr)"
        if funding.next_funding_ts:
            line += f", next {dt.datetime.fromtimestamp(funding.next_funding_ts / 1e9, dt.UTC):%H:%M} UTC"
    return line


def _option_lines(options: list[OptionTicker]) -> list[str]:
    from ..viz.derivatives_options import OptionQuote, atm_iv, forward_of, smile_columns

    by_expiry: dict[tuple[str, str, dt.date], list[OptionQuote]] = {}
    for event in options:
        instrument = parse_instrument(event.symbol)
        if instrument.expiry is None or instrument.strike is None or instrument.right is None:
            continue
        values = (event.underlying_price, event.mark_iv, event.bid_iv, event.ask_iv, event.delta)
        quote = OptionQuote(event.symbol, instrument.strike, instrument.right, instrument.expiry,
                            *(math.nan if v is None else v for v in values), ts=event.exchange_ts or event.receipt_ts)
        by_expiry.setdefault((event.venue, instrument.base, instrument.expiry), []).append(quote)
    lines, term = [], []
    for index, ((venue, base, day), quotes) in enumerate(sorted(by_expiry.items())):
        forward = forward_of(quotes)
        smile = smile_columns(quotes, forward)
        atm = atm_iv(smile["strike"], smile["mark_iv"], forward)
        term.append(f"{day:%Y-%m-%d} {atm:.1f}%")
        if index == 0:
            points = " | ".join(f"{k:,.0f} {iv:.1f}%" for k, iv in zip(smile["strike"], smile["mark_iv"], strict=True))
            lines.append(f"smile {venue} {base} {day:%Y-%m-%d} (forward {forward:,.2f}): {points}")
    if term:
        lines.append(f"ATM IV term structure: {' | '.join(term)}")
    return lines


def derivatives_lines(feed: Feed, latest: dict[tuple[str, str], Any]) -> list[str]:
    """The terminal lines of the feed's derivatives: one basis (and funding) line per perpetual or future that has
    a spot market of its asset, then the smile of the nearest option expiry and the ATM IV of each expiry."""
    lines = []
    for sub in feed.subscriptions:
        if sub.venue == "eth":
            continue
        if parse_instrument(sub.symbol).kind in (Kind.PERP, Kind.FUTURE):
            line = _basis_line(feed, sub.venue, sub.symbol, latest)
            if line:
                lines.append(line)
    options = [event for event in latest.values() if isinstance(event, OptionTicker)]
    return lines + (_option_lines(options) if options else [])
