"""How market events become rows of the built-in frames (trades, top_of_book, tickers).

Shared by the live :class:`~livefeed.feed.Feed` and the Redis reader (:mod:`livefeed.reader`), so a frame rebuilt
from Redis has exactly the rows the feed that published it had.
"""

from __future__ import annotations

from .book import OrderBook
from .frames import RollingFrame
from .model import BookDelta, BookSnapshot, Ticker, Trade

__all__ = ["TRADE_COLUMNS", "TOP_OF_BOOK_COLUMNS", "TICKER_COLUMNS", "trade_row", "ticker_row", "TopOfBookRecorder"]

TRADE_COLUMNS = {
    "ts": "time", "receipt_ts": "time", "venue": "category", "symbol": "category",
    "price": "float", "size": "float", "side": "category", "trade_id": "object",
}
TOP_OF_BOOK_COLUMNS = {
    "ts": "time", "receipt_ts": "time", "venue": "category", "symbol": "category",
    "bid_price": "float", "bid_size": "float", "ask_price": "float", "ask_size": "float",
    "spread": "float", "mid": "float", "sequence": "int",
}
TICKER_COLUMNS = {
    "ts": "time", "receipt_ts": "time", "venue": "category", "symbol": "category",
    "bid_price": "float", "bid_size": "float", "ask_price": "float", "ask_size": "float", "sequence": "int",
}


def trade_row(t: Trade) -> tuple[object, ...]:
    return (t.exchange_ts, t.receipt_ts, t.venue, t.symbol, t.price, t.size, t.side.value, t.trade_id)


def ticker_row(k: Ticker) -> tuple[object, ...]:
    return (k.exchange_ts, k.receipt_ts, k.venue, k.symbol, k.bid_price, k.bid_size, k.ask_price, k.ask_size,
            k.sequence if k.sequence is not None else -1)


class TopOfBookRecorder:
    """Appends a ``top_of_book`` row each time a book's best bid or ask (price or size) changes."""

    def __init__(self, frame: RollingFrame) -> None:
        self.frame = frame
        self._last: dict[tuple[str, str], tuple[float, float, float, float]] = {}

    def clear(self) -> None:
        self._last.clear()

    def record(self, event: BookDelta | BookSnapshot, book: OrderBook) -> None:
        bid, ask = book.best_bid, book.best_ask
        if bid is None or ask is None:
            return
        key = (event.venue, event.symbol)
        top = (bid[0], bid[1], ask[0], ask[1])
        if self._last.get(key) == top:
            return
        self._last[key] = top
        self.frame.append((
            event.exchange_ts, event.receipt_ts, event.venue, event.symbol, bid[0], bid[1], ask[0], ask[1],
            ask[0] - bid[0], (ask[0] + bid[0]) / 2, event.sequence if event.sequence is not None else -1,
        ))
