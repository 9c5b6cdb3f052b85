"""Bad input fails at the call with a message that says what to do."""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest
import zstandard

from livefeed import ConnectionOptions, Feed, UnknownChannelError, UnknownSymbolError, UnknownVenueError
from livefeed.errors import CaptureFormatError, ConfigError
from livefeed.export import export_frames, is_plain_name
from livefeed.feed import TRADE_COLUMNS
from livefeed.frames import MAX_CAPACITY, RollingFrame
from livefeed.replay import CaptureReplay
from livefeed.sim import BinanceSim
from livefeed.sinks.raw_capture import MAX_LINE
from livefeed.venues.rest import RestError


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
    # the reason in parentheses is the HTTP client's, whatever it says for a refused connection
    with pytest.raises(RestError, match=r"^binance: could not list symbols from http://127\.0\.0\.1:9/api/… \(.+\); "
                       r"check the network or point endpoints=\{'binance': \.\.\.\} at a simulator$"):
        async with feed:
            pass
    assert not feed.running


# -- configuration mistakes fail at Feed(...), saying what is allowed -------------------------------------------
def test_venue_option_typo_fails_at_the_call_with_a_hint() -> None:
    with pytest.raises(ConfigError, match=r"venue_options\['kraken'\] has unknown setting 'dept'.*'depth'"):
        Feed(["kraken:BTC-USD"], venue_options={"kraken": {"dept": 25}})


def test_venue_option_bad_value_fails_at_the_call() -> None:
    with pytest.raises(ConfigError, match=r"venue_options\['kraken'\].*depth must be one of"):
        Feed(["kraken:BTC-USD"], venue_options={"kraken": {"depth": 7}})


def test_venue_without_settings_says_so() -> None:
    with pytest.raises(ConfigError, match=r"unknown setting 'depth'; it takes none"):
        Feed(["eth:newHeads"], venue_options={"eth": {"depth": 10}})


def test_settings_of_the_base_adapter_are_known_too() -> None:
    with pytest.raises(ConfigError, match=r"unknown setting 'max_bdy'; it takes \[.*'max_body'.*\]\. Did you mean 'max_body'"):
        Feed(["coinbase:BTC-USD"], venue_options={"coinbase": {"max_bdy": 10}})


@pytest.mark.parametrize(("venue", "options"), [("kraken", {"depth": 25}), ("okx", {"ping_after": 10}),
                                                ("binance", {"streams_per_connection": 3, "max_body": 2**20})])
def test_valid_venue_options_are_accepted(venue: str, options: dict[str, object]) -> None:
    symbol = "BTC-USD" if venue == "kraken" else "BTC-USDT"
    Feed([f"{venue}:{symbol}"], venue_options={venue: options})


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


# -- hostile files: exports stay inside their directory, captures are bounded --------------------------------------
TRAVERSAL = "x/../../../../elsewhere/TRAVERSED"


def test_export_skips_and_counts_rows_whose_partition_is_not_a_plain_name(tmp_path: Path) -> None:
    frame = RollingFrame(TRADE_COLUMNS, 100)
    ns = 1_764_000_000_000_000_000
    for venue, symbol in [("binance", "BTC-USDT"), ("binance", TRAVERSAL), ("../..", "ETH-USDT"), ("binance", "..")]:
        frame.append((ns, ns, venue, symbol, 100.0, 1.0, "buy", "1", "live"))
    target = tmp_path / "deep" / "er" / "export"
    written = export_frames({"trades": frame}, target)
    assert written.skipped == {"trades": 3}
    outside = [p for p in tmp_path.rglob("*") if p.is_file() and target not in p.parents]
    assert outside == []
    assert not any("TRAVERSED" in str(p) for p in tmp_path.rglob("*"))
    df = pd.read_parquet(written["trades"])
    assert df["symbol"].astype(str).tolist() == ["BTC-USDT"]


@pytest.mark.parametrize("name", ["BTC-USDT", "ETH-USD", "USD₮0", "1INCH-USDT", "binance", "WETH", "a.b", "x+y"])
def test_plain_names_are_kept(name: str) -> None:
    assert is_plain_name(name)


@pytest.mark.parametrize("name", [TRAVERSAL, "..", ".", ".hidden", "a/b", "a\\b", "", "x" * 200, "a b", "a\x00b",
                                  "../x", "x..", None, 5])
def test_names_that_could_leave_a_directory_are_refused(name: object) -> None:
    assert not is_plain_name(name)


def _bomb(path: Path, mib: int) -> Path:
    compressor = zstandard.ZstdCompressor(level=3).compressobj(size=mib * 2**20)
    path.write_bytes(b"".join([*(compressor.compress(b"a" * 2**20) for _ in range(mib)), compressor.flush()]))
    return path


def test_a_zstd_bomb_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    bomb = _bomb(tmp_path / "bomb.jsonl.zst", 512)
    assert bomb.stat().st_size < 64 * 2**10  # a few KB on disk, 512 MiB unpacked, no newline
    tracemalloc.start()
    try:
        with pytest.raises(CaptureFormatError, match="a line longer than 134,217,728 bytes"):
            CaptureReplay(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MAX_LINE + 64 * 2**20, f"peak {peak / 2**20:.0f} MiB"


@pytest.mark.parametrize(("line", "reason"), [
    (b"not json", "JSONDecodeError"),
    (b'{"x": 1}', "KeyError"),
    (b'{"t": 1, "c": "../../etc/passwd", "d": "{}"}', "is not a plain name"),
    (b'{"t": 1, "c": "binance:rest 999 /x", "d": "{}"}', "is not '<venue>:rest <status> <path>'"),
    (b'{"t": 1, "c": "binance:rest 200 x", "d": "{}"}', "does not start with '/'"),
    (b'{"t": "soon", "c": "binance-0", "d": "{}"}', "wrong type"),
])
def test_replay_refuses_records_that_are_not_a_capture(tmp_path: Path, line: bytes, reason: str) -> None:
    path = tmp_path / "bad.jsonl.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(b'{"t":1,"c":"binance-0","d":"{}"}\n' + line + b"\n"))
    with pytest.raises(CaptureFormatError, match=rf"not a livefeed capture \(record 2: .*{re.escape(reason)}"):
        CaptureReplay(path)
