from __future__ import annotations

import pytest

from livefeed.book import OrderBook
from livefeed.consolidated import consolidate


def book(venue: str, symbol: str, bid: float, ask: float) -> OrderBook:
    b = OrderBook(venue, symbol)
    b.apply_snapshot([(bid, 1.0), (bid - 1, 2.0)], [(ask, 3.0), (ask + 1, 4.0)])
    return b


BOOKS = [
    book("coinbase", "BTC-USD", 100.0, 101.0),
    book("kraken", "BTC-USD", 100.5, 101.5),
    book("binance", "BTC-USDT", 102.0, 103.0),
    book("okx", "ETH-USDT", 10.0, 11.0),
]


def test_best_of_each_side_with_its_venue() -> None:
    quote = consolidate("BTC-USD", BOOKS)
    assert (quote.bid, quote.bid_venue, quote.ask, quote.ask_venue) == (100.5, "kraken", 101.0, "coinbase")
    assert quote.spread == pytest.approx(0.5) and not quote.crossed
    assert {v.venue for v in quote.venues} == {"coinbase", "kraken"}  # USDT kept apart by default


def test_quote_map_merges_quotes_explicitly() -> None:
    quote = consolidate("BTC-USD", BOOKS, quote_map={"usdt": "usd"})
    assert (quote.bid, quote.bid_venue) == (102.0, "binance")
    assert (quote.ask, quote.ask_venue) == (101.0, "coinbase")
    assert quote.crossed and quote.spread == pytest.approx(-1.0)  # buy on coinbase, sell on binance


def test_one_sided_and_empty() -> None:
    empty = OrderBook("kraken", "SOL-USD")
    one_sided = OrderBook("coinbase", "SOL-USD")
    one_sided.apply_snapshot([(5.0, 1.0)], [])
    quote = consolidate("SOL-USD", [empty, one_sided])
    assert quote.bid == 5.0 and quote.ask is None and quote.spread is None and len(quote.venues) == 2


def test_kinds_never_mix_spot_perps_futures_and_options_stay_apart() -> None:
    books = [*BOOKS,
             book("binance", "BTC-USDT-PERP", 104.0, 105.0),
             book("okx", "BTC-USDT-PERP", 103.5, 104.5),
             book("binance", "BTC-USDT-20261225", 110.0, 111.0),
             book("deribit", "BTC-USD-20261225", 109.0, 110.5),
             book("deribit", "BTC-USD-20261225-80000-C", 0.1, 0.2)]
    spot = consolidate("BTC-USDT", books, quote_map={"USD": "USDT"})
    assert {v.symbol for v in spot.venues} == {"BTC-USD", "BTC-USDT"}
    perp = consolidate("BTC-USDT-PERP", books)
    assert {v.venue for v in perp.venues} == {"binance", "okx"} and (perp.bid, perp.ask) == (104.0, 104.5)
    future = consolidate("BTC-USD-20261225", books, quote_map={"USDT": "USD"})
    assert {v.symbol for v in future.venues} == {"BTC-USDT-20261225", "BTC-USD-20261225"}
    assert [v.symbol for v in consolidate("BTC-USD-20261225-80000-C", books).venues] == ["BTC-USD-20261225-80000-C"]
