"""Market venue adapters, one module each, imported on first use (the registry is :mod:`livefeed.registry`)."""

from __future__ import annotations

from ..source import AdapterOptions, FrameSpec, SourceOptions, VenueEndpoints
from .base import CHANNELS, MarketAdapter, SyncStats, VenueAdapter, Verdict

__all__ = [
    "CHANNELS", "AdapterOptions", "SourceOptions", "FrameSpec", "SyncStats", "MarketAdapter", "VenueAdapter",
    "VenueEndpoints", "Verdict",
]
