"""Which sources livefeed knows, and ``venue:target`` subscriptions parsed against them.

It sits above both the market venues (``livefeed.venues``) and the chain source (``livefeed.chain``), so neither
names the other. Sources are registered as ``module:Class`` strings and imported on first use, so a feed of one
venue loads only that venue's code.

A *venue* is what the user writes (``binance``); a *source* is the adapter that serves one kind of market there
(``binance`` for spot, ``binance-usdm`` for USD-M perpetuals and futures): :data:`MARKETS` routes each
``(venue, kind)`` to its source, so ``binance:BTC-USDT`` and ``binance:BTC-USDT-PERP`` reach different adapters
(and ``endpoints`` / ``venue_options`` are given per source).
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import LivefeedError, UnknownSymbolError, UnknownVenueError
from .naming import Kind, parse_instrument

if TYPE_CHECKING:
    from .source import Source

__all__ = ["SOURCES", "MARKETS", "VENUES", "MARKET_VENUES", "Subscription", "adapter_class", "parse_subscription",
           "source_of"]

SOURCES: dict[str, str] = {
    "binance": "livefeed.venues.binance:BinanceAdapter",
    "coinbase": "livefeed.venues.coinbase:CoinbaseAdapter",
    "kraken": "livefeed.venues.kraken:KrakenAdapter",
    "bybit": "livefeed.venues.bybit:BybitAdapter",
    "okx": "livefeed.venues.okx:OkxAdapter",
    "bybit-linear": "livefeed.venues.bybit_linear:BybitLinearAdapter",
    "okx-swap": "livefeed.venues.okx_swap:OkxSwapAdapter",
    "binance-usdm": "livefeed.venues.binance_usdm:BinanceUsdmAdapter",
    "deribit": "livefeed.venues.deribit:DeribitAdapter",
    "eth": "livefeed.chain.ethereum:EthereumAdapter",
}
"""Source name -> ``module:class`` of its adapter."""

MARKETS: dict[tuple[str, Kind], str] = {
    ("binance", Kind.SPOT): "binance",
    ("coinbase", Kind.SPOT): "coinbase",
    ("kraken", Kind.SPOT): "kraken",
    ("bybit", Kind.SPOT): "bybit",
    ("okx", Kind.SPOT): "okx",
    ("bybit", Kind.PERP): "bybit-linear",
    ("okx", Kind.PERP): "okx-swap",
    ("binance", Kind.PERP): "binance-usdm",
    ("binance", Kind.FUTURE): "binance-usdm",
    ("deribit", Kind.PERP): "deribit",
    ("deribit", Kind.FUTURE): "deribit",
    ("deribit", Kind.OPTION): "deribit",
}
"""``(venue, instrument kind)`` -> the source that serves it."""

CHAIN_VENUES = ("eth",)
"""Venues whose targets are not market instruments (each source parses its own)."""

VENUES: tuple[str, ...] = (*dict.fromkeys(venue for venue, _ in MARKETS), *CHAIN_VENUES)
"""The venue names a subscription may start with."""

MARKET_VENUES = ("binance", "coinbase", "kraken", "bybit", "okx")
"""The venues with spot order books (the demo's five)."""


def adapter_class(source: str) -> type[Source]:
    """The adapter class of ``source``, imported now; a missing optional dependency is one clear error."""
    module_name, _, class_name = SOURCES[source].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LivefeedError(f"source {source!r} cannot be loaded: {exc}") from exc
    return getattr(module, class_name)  # type: ignore[no-any-return]


@dataclass(slots=True, frozen=True)
class Subscription:
    venue: str
    symbol: str
    source: str = ""
    """The adapter that serves it (see :data:`MARKETS`); the venue itself when empty."""

    def __str__(self) -> str:
        return f"{self.venue}:{self.symbol}"


def parse_subscription(text: str) -> Subscription:
    """``"binance:BTC-USDT"`` -> ``Subscription("binance", "BTC-USDT")``, with a clear error for anything else."""
    if not isinstance(text, str) or ":" not in text:
        raise UnknownVenueError(f"subscription {text!r} must look like 'venue:BASE-QUOTE', e.g. 'binance:BTC-USDT'")
    venue, _, symbol = text.partition(":")
    venue = venue.strip().lower()
    if venue not in VENUES:
        matches = difflib.get_close_matches(venue, VENUES, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""
        raise UnknownVenueError(f"unknown venue {venue!r} in {text!r}; livefeed knows {sorted(VENUES)}.{hint}")
    if venue in CHAIN_VENUES:
        return Subscription(venue, adapter_class(venue).normalize_target(symbol), venue)
    instrument = parse_instrument(symbol)
    source = MARKETS.get((venue, instrument.kind))
    if source is None:
        kinds = [str(kind) for v, kind in MARKETS if v == venue]
        raise UnknownSymbolError(f"{venue} has no {instrument.kind} markets in livefeed ({text!r}); "
                                 f"it has {', '.join(kinds)}")
    return Subscription(venue, adapter_class(source).normalize_target(str(instrument)), source)


def source_of(subscription: Subscription) -> str:
    return subscription.source or subscription.venue
