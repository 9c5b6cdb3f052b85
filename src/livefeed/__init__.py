"""livefeed: live market data in a notebook, with exact order books and bounded rolling frames.

``import livefeed`` stays light: names whose modules pull in heavy optional dependencies (``from_redis`` needs
redis) are resolved on first attribute access, and pandas/pyarrow, exporters, sinks, viz and chain load inside
the functions that use them (``instruments`` imports pandas when called).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .book import OrderBook
from .connection import ConnectionOptions
from .discovery import instruments  # the instrument names themselves live in livefeed.naming
from .errors import (
    ConfigError,
    FeedNotRunningError,
    LivefeedError,
    UnknownChannelError,
    UnknownSymbolError,
    UnknownVenueError,
)
from .feed import Feed
from .frames import RollingFrame
from .live import running, stop_all
from .model import BookDelta, BookSnapshot, Side, Ticker, Trade

if TYPE_CHECKING:
    from .reader import from_redis

__all__ = [
    "Feed",
    "instruments",
    "from_redis",
    "running",
    "stop_all",
    "OrderBook",
    "RollingFrame",
    "ConnectionOptions",
    "Trade",
    "BookSnapshot",
    "BookDelta",
    "Ticker",
    "Side",
    "LivefeedError",
    "ConfigError",
    "UnknownVenueError",
    "UnknownSymbolError",
    "UnknownChannelError",
    "FeedNotRunningError",
]

__version__ = "0.1.0"


_LAZY = {"from_redis": "livefeed.reader"}
"""Public names imported from their module on first access, so ``import livefeed`` does not load redis."""


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'livefeed' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
