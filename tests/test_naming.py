"""The instrument naming scheme (livefeed.naming) and the registry's routing of ``venue:instrument`` to a source."""

from __future__ import annotations

import datetime as dt

import pytest

from livefeed import Feed
from livefeed.errors import UnknownSymbolError, UnknownVenueError
from livefeed.naming import Instrument, Kind, kind_of, parse_instrument
from livefeed.registry import MARKETS, parse_subscription


@pytest.mark.parametrize(("text", "canonical", "kind"), [
    ("btc-usdt", "BTC-USDT", Kind.SPOT),
    ("BTC/USDT", "BTC-USDT", Kind.SPOT),
    ("btc_usdt-perp", "BTC-USDT-PERP", Kind.PERP),
    ("BTC-USDT-20261225", "BTC-USDT-20261225", Kind.FUTURE),
    ("btc-usd-20261225-80000-c", "BTC-USD-20261225-80000-C", Kind.OPTION),
    ("ETH-USD-20270326-1500.5-P", "ETH-USD-20270326-1500.5-P", Kind.OPTION),
])
def test_every_kind_parses_to_one_canonical_name(text: str, canonical: str, kind: Kind) -> None:
    instrument = parse_instrument(text)
    assert (str(instrument), instrument.kind, kind_of(canonical)) == (canonical, kind, kind)
    assert parse_instrument(canonical) == instrument  # canonical names are fixed points


def test_an_option_keeps_its_parts() -> None:
    assert parse_instrument("BTC-USD-20261225-80000-C") == Instrument(
        "BTC", "USD", Kind.OPTION, dt.date(2026, 12, 25), 80000.0, "C")
    assert parse_instrument("BTC-USD-20261225-80000-C").pair == "BTC-USD"


@pytest.mark.parametrize(("text", "says"), [
    ("BTC", "does not start with BASE-QUOTE"),
    ("BTC-USDT-PERPETUAL", "where PERP or an expiry date YYYYMMDD belongs"),
    ("BTC-USDT-20261345", "not a calendar date"),
    ("BTC-USD-20261225-abc-C", "strike 'ABC' that is not a number"),
    ("BTC-USD-20261225-0-C", "not a positive price"),
    ("BTC-USD-20261225-80000-X", "an option ends in C (call) or P (put)"),
    ("BTC-USD-20261225-80000", "has 4 parts"),
    ("BTC-USDT-PERP-1-2-3", "has 6 parts"),
])
def test_a_malformed_instrument_says_what_is_wrong_and_shows_the_forms(text: str, says: str) -> None:
    with pytest.raises(UnknownSymbolError, match="write it as 'BTC-USDT' \\(spot\\)") as error:
        parse_instrument(text)
    assert says in str(error.value)


def test_a_venue_without_that_kind_of_market_is_refused_with_what_it_has() -> None:
    kraken_kinds = sorted(str(kind) for venue, kind in MARKETS if venue == "kraken")
    with pytest.raises(UnknownSymbolError, match=f"kraken has no perp markets .*it has {', '.join(kraken_kinds)}"):
        parse_subscription("kraken:BTC-USD-PERP")
    with pytest.raises(UnknownSymbolError, match="coinbase has no option markets"):
        Feed(["coinbase:BTC-USD-20261225-80000-C"])


def test_spot_subscriptions_route_to_the_venue_of_the_same_name() -> None:
    sub = parse_subscription("Binance:btc/usdt")
    assert (sub.venue, sub.symbol, sub.source) == ("binance", "BTC-USDT", "binance")
    assert str(sub) == "binance:BTC-USDT"


def test_endpoints_for_an_unknown_source_list_the_known_ones() -> None:
    with pytest.raises(UnknownVenueError, match=r"endpoints given for unknown venue\(s\) \['binanse'\]; "
                                                 r"livefeed's sources are \['binance',"):
        Feed(["binance:BTC-USDT"], endpoints={"binanse": "ws://127.0.0.1:1"})
