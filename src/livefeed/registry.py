"""Which sources livefeed knows, and ``venue:target`` subscriptions parsed against them.

It sits above both the market venues (``livefeed.venues``) and the chain source (``livefeed.chain``), so neither
names the other. Sources are registered as ``module:Class`` strings and imported on first use, so a feed of one
venue loads only that venue's code.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import LivefeedError, UnknownVenueError

if TYPE_CHECKING:
    from .source import Source

__all__ = ["VENUES", "MARKET_VENUES", "Subscription", "adapter_class", "parse_subscription"]

VENUES: dict[str, str] = {
    "binance": "livefeed.venues.binance:BinanceAdapter",
    "coinbase": "livefeed.venues.coinbase:CoinbaseAdapter",
    "kraken": "livefeed.venues.kraken:KrakenAdapter",
    "bybit": "livefeed.venues.bybit:BybitAdapter",
    "okx": "livefeed.venues.okx:OkxAdapter",
    "eth": "livefeed.chain.ethereum:EthereumAdapter",
}
"""Source name -> ``module:class`` of its adapter."""

MARKET_VENUES = ("binance", "coinbase", "kraken", "bybit", "okx")
"""The sources with order books (``livefeed.venues.base.MarketAdapter``)."""


def adapter_class(venue: str) -> type[Source]:
    """The adapter class of ``venue``, imported now; a missing optional dependency is one clear error."""
    module_name, _, class_name = VENUES[venue].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LivefeedError(f"venue {venue!r} cannot be loaded: {exc}") from exc
    return getattr(module, class_name)  # type: ignore[no-any-return]


@dataclass(slots=True, frozen=True)
class Subscription:
    venue: str
    symbol: str

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
    return Subscription(venue, adapter_class(venue).normalize_target(symbol))
