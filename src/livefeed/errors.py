"""Every error livefeed raises on purpose, in one hierarchy, each saying what to do."""

from __future__ import annotations

__all__ = [
    "LivefeedError",
    "ConfigError",
    "UnknownVenueError",
    "UnknownSymbolError",
    "UnknownChannelError",
    "FeedNotRunningError",
    "StartTimeoutError",
    "StopTimeoutError",
    "CaptureFormatError",
    "UnsafePartitionError",
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


class StartTimeoutError(LivefeedError, TimeoutError):
    """``feed.start(timeout=...)`` ran out of time; everything it had begun was closed again."""


class StopTimeoutError(LivefeedError, TimeoutError):
    """``feed.stop()`` could not finish: the feed's loop is blocked (e.g. a callback that never returns)."""


class CaptureFormatError(LivefeedError, ValueError):
    """A raw capture file is not what ``RawCapture`` writes: not zstd, not JSON lines, or a line over the limit."""


class UnsafePartitionError(LivefeedError, ValueError):
    """An export partition value (venue, symbol) is not a plain name and could write outside the target."""


class MissingExtraError(LivefeedError, ImportError):
    """A feature whose optional dependency is not installed; the message names the extra to install."""

    @classmethod
    def of(cls, feature: str, package: str, extra: str) -> MissingExtraError:
        return cls(f"{feature} needs the {package!r} package, which is not installed: "
                   f"pip install 'livefeed[{extra}]' (or 'livefeed[all]')")
