"""Every error livefeed raises on purpose, in one hierarchy, each saying what to do."""

from __future__ import annotations

__all__ = [
    "LivefeedError",
    "ConfigError",
    "UnknownVenueError",
    "UnknownSymbolError",
    "UnknownChannelError",
    "FeedNotRunningError",
]


class LivefeedError(Exception):
    """Base class of livefeed's own errors."""


class ConfigError(LivefeedError, ValueError):
    """A subscription, channel or endpoint given to ``Feed`` is not valid."""


class UnknownVenueError(ConfigError):
    pass


class UnknownSymbolError(ConfigError):
    pass


class UnknownChannelError(ConfigError):
    pass


class FeedNotRunningError(LivefeedError, RuntimeError):
    pass
