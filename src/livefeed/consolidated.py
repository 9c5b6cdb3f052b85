"""A cross-venue view of one market: the best bid and ask across venues, and who holds each.

Quote currencies are kept apart: ``BTC-USD`` on Coinbase and ``BTC-USDT`` on Binance are different markets
unless the user maps one quote onto the other explicitly (``quote_map={"USDT": "USD"}``), because a stablecoin
is not the dollar and silently merging them would hide a basis.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from .book import OrderBook
from .errors import UnknownSymbolError
from .naming import parse_instrument

__all__ = ["ConsolidatedQuote", "VenueQuote", "consolidate"]


@dataclass(slots=True, frozen=True)
class VenueQuote:
    venue: str
    symbol: str
    bid: float | None
    bid_size: float | None
    ask: float | None
    ask_size: float | None


@dataclass(slots=True, frozen=True)
class ConsolidatedQuote:
    """Best bid / ask across venues. ``spread`` < 0 means the market is crossed across venues (an arbitrage
    before fees); ``venues`` lists every contributing venue's own top of book."""

    symbol: str
    bid: float | None
    bid_size: float | None
    bid_venue: str | None
    ask: float | None
    ask_size: float | None
    ask_venue: str | None
    venues: tuple[VenueQuote, ...]

    @property
    def spread(self) -> float | None:
        return None if self.bid is None or self.ask is None else self.ask - self.bid

    @property
    def mid(self) -> float | None:
        return None if self.bid is None or self.ask is None else (self.ask + self.bid) / 2

    @property
    def crossed(self) -> bool:
        return self.spread is not None and self.spread < 0


def consolidate(
    symbol: str, books: Iterable[OrderBook], quote_map: Mapping[str, str] | None = None
) -> ConsolidatedQuote:
    """Combine the tops of ``books`` whose market is ``symbol`` after mapping quotes through ``quote_map``.

    Kinds never mix: ``BTC-USDT`` consolidates spot books only, ``BTC-USDT-PERP`` perpetuals only, and a dated
    future or an option only the same expiry (and strike and right)."""
    wanted = parse_instrument(symbol)
    quote_map = {k.upper(): v.upper() for k, v in (quote_map or {}).items()}
    quotes = []
    for book in books:
        try:
            market = parse_instrument(book.symbol)
        except UnknownSymbolError:  # not a market instrument
            continue
        if replace(market, quote=quote_map.get(market.quote, market.quote)) != wanted:
            continue
        bid, ask = book.best_bid, book.best_ask
        quotes.append(VenueQuote(
            book.venue, book.symbol,
            bid[0] if bid else None, bid[1] if bid else None,
            ask[0] if ask else None, ask[1] if ask else None,
        ))
    bids = [q for q in quotes if q.bid is not None]
    asks = [q for q in quotes if q.ask is not None]
    best_bid = max(bids, key=lambda q: q.bid) if bids else None  # type: ignore[arg-type, return-value]
    best_ask = min(asks, key=lambda q: q.ask) if asks else None  # type: ignore[arg-type, return-value]
    return ConsolidatedQuote(
        symbol=str(wanted),
        bid=best_bid.bid if best_bid else None,
        bid_size=best_bid.bid_size if best_bid else None,
        bid_venue=best_bid.venue if best_bid else None,
        ask=best_ask.ask if best_ask else None,
        ask_size=best_ask.ask_size if best_ask else None,
        ask_venue=best_ask.venue if best_ask else None,
        venues=tuple(quotes),
    )
