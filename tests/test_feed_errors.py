"""Bad input fails at the call with a message that says what to do."""

from __future__ import annotations

import pytest

from livefeed import Feed, UnknownChannelError, UnknownSymbolError, UnknownVenueError
from livefeed.sim import BinanceSim


def test_unknown_venue_suggests_close_match() -> None:
    with pytest.raises(UnknownVenueError, match=r"unknown venue 'binanse'.*Did you mean 'binance'"):
        Feed(["binanse:BTC-USDT"])


def test_subscription_without_venue() -> None:
    with pytest.raises(UnknownVenueError, match="venue:BASE-QUOTE"):
        Feed(["BTC-USDT"])


def test_bad_symbol_form() -> None:
    with pytest.raises(UnknownSymbolError, match="BASE-QUOTE"):
        Feed(["binance:BTCUSDT!"])


def test_symbol_spellings_are_normalised() -> None:
    feed = Feed(["binance:btc/usdt", "binance:BTC-USDT"])
    assert [str(s) for s in feed.subscriptions] == ["binance:BTC-USDT"]


def test_bad_channel_suggests_close_match() -> None:
    with pytest.raises(UnknownChannelError, match=r"unknown channel 'trade'.*Did you mean 'trades'"):
        Feed(["binance:BTC-USDT"], channels=["trade"])


def test_endpoints_for_unknown_venue() -> None:
    with pytest.raises(UnknownVenueError, match="krakn"):
        Feed(["binance:BTC-USDT"], endpoints={"krakn": "ws://127.0.0.1:1"})


def test_bad_endpoint_value() -> None:
    with pytest.raises(ValueError, match="cannot use"):
        Feed(["binance:BTC-USDT"], endpoints={"binance": 42})


async def test_unknown_symbol_is_reported_with_close_matches_on_start() -> None:
    async with BinanceSim(symbols=("BTC-USDT", "ETH-USDT"), seed=1) as sim:
        feed = Feed(["binance:BTC-USDX", "binance:ETH-USDT"], endpoints={"binance": sim})
        with pytest.raises(UnknownSymbolError, match=r"'BTC-USDX' \(did you mean BTC-USDT"):
            async with feed:
                pass
        assert not feed.running


async def test_unreachable_venue_fails_clearly() -> None:
    feed = Feed(["binance:BTC-USDT"], endpoints={"binance": "http://127.0.0.1:9"})
    with pytest.raises(Exception, match="could not list symbols"):
        async with feed:
            pass
