"""Derivatives events and the rolling frames they fill: funding, open interest, liquidations, options.

Every derivatives adapter (Binance USD-M, Bybit linear, OKX swaps, Deribit) emits these besides trades, book and
tickers, and declares :data:`FRAMES` as its ``frames``, so ``feed.funding``, ``feed.open_interest``,
``feed.liquidations`` and ``feed.options`` read like the built-in frames and ``feed.export`` writes them.
Times are ns since the epoch (UTC); a value the venue does not send is ``None`` (``NaN``/``NaT`` in the frame).
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Side
from .source import FrameSpec

__all__ = ["Funding", "OpenInterest", "Liquidation", "OptionTicker", "FRAMES", "FUNDING_FRAMES"]


@dataclass(slots=True, frozen=True)
class Funding:
    """A perpetual's mark and index price and its funding: ``funding_rate`` is the rate of the current interval
    (a fraction, 0.0001 = 1 bp) paid at ``next_funding_ts`` by longs to shorts when positive."""

    venue: str
    symbol: str
    mark_price: float
    index_price: float | None
    funding_rate: float | None
    next_funding_ts: int | None
    exchange_ts: int | None
    receipt_ts: int


@dataclass(slots=True, frozen=True)
class OpenInterest:
    """Open interest of a perpetual or future: ``open_interest`` in the venue's contract units as sent (base asset
    for linear USDT contracts), ``value`` in the quote currency where the venue gives it."""

    venue: str
    symbol: str
    open_interest: float
    value: float | None
    exchange_ts: int | None
    receipt_ts: int


@dataclass(slots=True, frozen=True)
class Liquidation:
    """A forced order: ``side`` is the side of the liquidation order itself (``sell`` closes a long)."""

    venue: str
    symbol: str
    side: Side
    price: float
    size: float
    exchange_ts: int | None
    receipt_ts: int


@dataclass(slots=True, frozen=True)
class OptionTicker:
    """One option's quote and risk, as the venue computes them. IVs are fractions (0.55 = 55%)."""

    venue: str
    symbol: str
    underlying_price: float | None
    index_price: float | None
    mark_price: float | None
    bid_price: float | None
    ask_price: float | None
    bid_size: float | None
    ask_size: float | None
    mark_iv: float | None
    bid_iv: float | None
    ask_iv: float | None
    delta: float | None
    gamma: float | None
    vega: float | None
    theta: float | None
    open_interest: float | None
    exchange_ts: int | None
    receipt_ts: int


def _opt(value: float | None) -> float:
    return float("nan") if value is None else value


_KEY = {"ts": "time", "receipt_ts": "time", "venue": "category", "symbol": "category"}

FUNDING_FRAMES: dict[str, FrameSpec] = {
    "funding": FrameSpec(
        {**_KEY, "mark_price": "float", "index_price": "float", "funding_rate": "float", "next_funding": "time"},
        Funding,
        lambda f: (f.exchange_ts, f.receipt_ts, f.venue, f.symbol, f.mark_price, _opt(f.index_price),
                   _opt(f.funding_rate), f.next_funding_ts),
    ),
    "open_interest": FrameSpec(
        {**_KEY, "open_interest": "float", "value": "float"},
        OpenInterest,
        lambda o: (o.exchange_ts, o.receipt_ts, o.venue, o.symbol, o.open_interest, _opt(o.value)),
    ),
    "liquidations": FrameSpec(
        {**_KEY, "side": "category", "price": "float", "size": "float"},
        Liquidation,
        lambda q: (q.exchange_ts, q.receipt_ts, q.venue, q.symbol, q.side.value, q.price, q.size),
    ),
}
"""The frames of perpetual and futures adapters."""

FRAMES: dict[str, FrameSpec] = {
    **FUNDING_FRAMES,
    "options": FrameSpec(
        {**_KEY, "underlying_price": "float", "index_price": "float", "mark_price": "float", "bid_price": "float",
         "ask_price": "float", "bid_size": "float", "ask_size": "float", "mark_iv": "float", "bid_iv": "float",
         "ask_iv": "float", "delta": "float", "gamma": "float", "vega": "float", "theta": "float",
         "open_interest": "float"},
        OptionTicker,
        lambda o: (o.exchange_ts, o.receipt_ts, o.venue, o.symbol, *(_opt(v) for v in (
            o.underlying_price, o.index_price, o.mark_price, o.bid_price, o.ask_price, o.bid_size, o.ask_size,
            o.mark_iv, o.bid_iv, o.ask_iv, o.delta, o.gamma, o.vega, o.theta, o.open_interest))),
    ),
}
"""Every derivatives frame (Deribit declares all four; options-less venues :data:`FUNDING_FRAMES`)."""
