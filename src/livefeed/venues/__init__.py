"""Venue adapters, one module each, registered by name."""

from __future__ import annotations

from .base import CHANNELS, AdapterOptions, SyncStats, VenueAdapter, VenueEndpoints
from .binance import BinanceAdapter

__all__ = ["VENUES", "CHANNELS", "AdapterOptions", "SyncStats", "VenueAdapter", "VenueEndpoints", "BinanceAdapter"]

VENUES: dict[str, type[VenueAdapter]] = {
    "binance": BinanceAdapter,
}
