"""Venue adapters, one module each, registered by name and imported on first use."""

from __future__ import annotations

import importlib

from ..errors import LivefeedError
from .base import CHANNELS, AdapterOptions, FrameSpec, SyncStats, VenueAdapter, VenueEndpoints

__all__ = [
    "VENUES", "CHANNELS", "AdapterOptions", "FrameSpec", "SyncStats", "VenueAdapter", "VenueEndpoints",
    "adapter_class",
]

VENUES: dict[str, str] = {
    "binance": "livefeed.venues.binance:BinanceAdapter",
    "coinbase": "livefeed.venues.coinbase:CoinbaseAdapter",
    "kraken": "livefeed.venues.kraken:KrakenAdapter",
    "bybit": "livefeed.venues.bybit:BybitAdapter",
    "okx": "livefeed.venues.okx:OkxAdapter",
    "eth": "livefeed.chain.ethereum:EthereumAdapter",
}
"""Venue name -> ``module:class`` of its adapter. Imported lazily so a feed loads only what it uses."""


def adapter_class(venue: str) -> type[VenueAdapter]:
    module_name, _, class_name = VENUES[venue].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LivefeedError(f"venue {venue!r} cannot be loaded: {exc}") from exc
    return getattr(module, class_name)  # type: ignore[no-any-return]
