"""livefeed: live market data in a notebook, with exact order books and bounded rolling frames."""

from __future__ import annotations

from .book import OrderBook
from .connection import ConnectionOptions
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
from .reader import from_redis

__all__ = [
    "Feed",
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
