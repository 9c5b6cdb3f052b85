"""Bad input fails at the call with a message that says what to do."""

from __future__ import annotations

import tracemalloc

import pytest

from livefeed import ConnectionOptions, Feed, UnknownChannelError, UnknownSymbolError, UnknownVenueError
from livefeed.errors import ConfigError
from livefeed.frames import MAX_CAPACITY, RollingFrame
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


# -- configuration mistakes fail at Feed(...), saying what is allowed -------------------------------------------
def test_venue_option_typo_fails_at_the_call_with_a_hint() -> None:
    with pytest.raises(ConfigError, match=r"venue_options\['kraken'\] has unknown setting 'dept'.*'depth'"):
        Feed(["kraken:BTC-USD"], venue_options={"kraken": {"dept": 25}})


def test_venue_option_bad_value_fails_at_the_call() -> None:
    with pytest.raises(ConfigError, match=r"venue_options\['kraken'\].*depth must be one of"):
        Feed(["kraken:BTC-USD"], venue_options={"kraken": {"depth": 7}})


def test_venue_without_settings_says_so() -> None:
    with pytest.raises(ConfigError, match=r"unknown setting 'depth'; it takes none"):
        Feed(["coinbase:BTC-USD"], venue_options={"coinbase": {"depth": 10}})


def test_valid_venue_options_are_kept() -> None:
    Feed(["kraken:BTC-USD"], venue_options={"kraken": {"depth": 25}})


def test_connection_accepts_a_dict_of_its_fields() -> None:
    feed = Feed(["binance:BTC-USDT"], connection={"stale_after": 5.0, "backoff_cap": 2.0})
    assert isinstance(feed.connection_options, ConnectionOptions)
    assert (feed.connection_options.stale_after, feed.connection_options.backoff_cap) == (5.0, 2.0)


def test_connection_dict_typo_has_a_hint() -> None:
    with pytest.raises(ConfigError, match=r"connection option 'stale_aftr'.*Did you mean 'stale_after'"):
        Feed(["binance:BTC-USDT"], connection={"stale_aftr": 5})


def test_connection_of_another_type_is_refused() -> None:
    with pytest.raises(ConfigError, match="ConnectionOptions or a dict of its fields, got int"):
        Feed(["binance:BTC-USDT"], connection=42)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [0, -5, 1.5, True, None])
def test_event_queue_size_must_be_a_positive_count(size: object) -> None:
    with pytest.raises(ConfigError, match="event_queue_size must be a whole number of events, at least 1"):
        Feed(["binance:BTC-USDT"], event_queue_size=size)  # type: ignore[arg-type]


@pytest.mark.parametrize("capacity", [0, -1, 10**9, MAX_CAPACITY + 1, 2.5, "100"])
def test_capacity_is_bounded(capacity: object) -> None:
    with pytest.raises(ConfigError, match=r"capacity must be a whole number of rows from 1 to 10,000,000"):
        Feed(["binance:BTC-USDT"], capacity=capacity)  # type: ignore[arg-type]


def test_a_large_capacity_costs_memory_only_once_used() -> None:
    tracemalloc.start()
    try:
        feed = Feed(["binance:BTC-USDT"], capacity=MAX_CAPACITY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"Feed(capacity={MAX_CAPACITY:,}) allocated {peak / 2**20:.0f} MiB up front"
    assert feed.trades.capacity == MAX_CAPACITY


@pytest.mark.parametrize("capacity", [5_000, 9_000, 20_000])
def test_frames_grow_then_roll_like_a_fixed_ring(capacity: int) -> None:
    frame = RollingFrame({"n": "int", "v": "category"}, capacity)
    reference: list[int] = []
    cursor = 0
    for n in range(25_000):
        frame.append((n, "a" if n % 2 else "b"))
        reference.append(n)
        if n % 1_913 == 0:  # read while growing and after wrapping, at odd points
            total = len(reference)
            new, next_cursor = frame.read_since(cursor)
            assert list(new["n"]) == reference[max(cursor, total - capacity):total]
            cursor = next_cursor
    df = frame.to_pandas()
    assert list(df["n"]) == reference[-capacity:]
    assert list(df["v"].astype(str)) == ["a" if n % 2 else "b" for n in reference[-capacity:]]
