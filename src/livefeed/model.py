"""Normalised market events.

Every adapter turns venue frames into these types, so consumers (books, frames, sinks, plots) never see a
venue's wire format. Times are integer nanoseconds since the Unix epoch (UTC); ``exchange_ts`` is the venue's
own event time (``None`` when the venue does not send one), ``receipt_ts`` is when livefeed read the frame.
Prices and sizes are float64 for analysis.

Events are plain slotted dataclasses, not frozen ones: a frozen dataclass's ``__init__`` sets every field through
``object.__setattr__`` and costs ~8x as much to build, once per message on the hot path. Treat them as immutable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["Side", "Level", "Trade", "BookSnapshot", "BookDelta", "Ticker", "Event"]

Level = tuple[float, float]
"""One price level: ``(price, size)``. In a delta, size ``0.0`` removes the level."""


class Side(StrEnum):
    """The aggressor (taker) side of a trade."""

    BUY = "buy"
    SELL = "sell"


@dataclass(slots=True)
class Trade:
    venue: str
    symbol: str
    price: float
    size: float
    side: Side
    trade_id: str
    exchange_ts: int | None
    receipt_ts: int
    sequence: int | None = None


@dataclass(slots=True)
class BookSnapshot:
    """A full replacement of the book's state; bids best (highest) first, asks best (lowest) first."""

    venue: str
    symbol: str
    bids: list[Level]
    asks: list[Level]
    exchange_ts: int | None
    receipt_ts: int
    sequence: int | None = None


@dataclass(slots=True)
class BookDelta:
    """Absolute new sizes for the levels that changed; size 0 removes a level.

    ``first_sequence`` .. ``sequence`` is the range of venue update ids the delta covers (equal when the venue
    numbers each message).
    """

    venue: str
    symbol: str
    bids: list[Level]
    asks: list[Level]
    exchange_ts: int | None
    receipt_ts: int
    sequence: int | None = None
    first_sequence: int | None = None


@dataclass(slots=True)
class Ticker:
    """Best bid and ask as the venue publishes them (e.g. Binance ``bookTicker``)."""

    venue: str
    symbol: str
    bid_price: float
    bid_size: float
    ask_price: float
    ask_size: float
    exchange_ts: int | None
    receipt_ts: int
    sequence: int | None = None
    extra: dict[str, float] = field(default_factory=dict)


Event = Trade | BookSnapshot | BookDelta | Ticker
