"""Coverage: each fault a simulator can inject shows up in ``feed.coverage()`` as the state it puts the stream in,
with a reason that names it and a start and end that bracket it (wall times read around the injection), and in
the exported ``coverage`` beside the frames. The interval arithmetic itself is checked on literal changes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from livefeed import ConnectionOptions, Feed
from livefeed.coverage import CoverageChange, intervals, valid_rows
from livefeed.sim import SIMULATORS, BinanceSim

from .conftest import FAST, synced, until


def now() -> pd.Timestamp:
    return pd.Timestamp(time.time_ns(), unit="ns", tz="UTC")


def only(frame: pd.DataFrame, stream: str, state: str, reason: str = "") -> pd.Series:
    """The one interval of ``stream`` in ``state`` whose reason contains ``reason``."""
    rows = frame[(frame["stream"] == stream) & (frame["state"] == state)
                 & frame["reason"].str.contains(reason, regex=False)]
    assert len(rows) == 1, f"expected one {stream} {state} ({reason}) interval in\n{frame.to_string()}"
    return rows.iloc[0]


def assert_brackets(row: pd.Series, started: pd.Timestamp, noticed: pd.Timestamp, recovered: pd.Timestamp) -> None:
    """The interval began between the injection and the moment the feed showed it, and ended before recovery
    was seen (not before it began)."""
    assert started <= row["start"] <= noticed, (started, row["start"], noticed)
    assert pd.notna(row["end"]) and row["start"] <= row["end"] <= recovered, (row["start"], row["end"], recovered)


def state_now(feed: Feed, stream: str) -> str:
    cov = feed.coverage()
    return str(cov[(cov["stream"] == stream) & cov["end"].isna()]["state"].iloc[0])


@pytest.fixture
async def binance() -> AsyncIterator[tuple[BinanceSim, Feed]]:
    async with (BinanceSim(symbols=("BTC-USDT",), seed=8, interval=0.01) as sim,
                Feed(["binance:BTC-USDT"], channels=["trades", "book"], endpoints={"binance": sim},
                     connection=FAST) as feed):
        await until(feed, lambda: synced(feed), what="synced")
        yield sim, feed


async def test_a_fresh_feed_goes_from_disconnected_to_resyncing_to_synced(binance: tuple[BinanceSim, Feed]) -> None:
    _, feed = binance
    cov = feed.coverage()
    book = cov[cov["stream"] == "book"]
    assert book["state"].astype(str).tolist() == ["disconnected", "resyncing", "synced"]
    assert book["reason"].tolist() == ["connecting", "connected: awaiting a snapshot", "snapshot applied"]
    assert (book["end"].iloc[:-1].to_numpy() == book["start"].iloc[1:].to_numpy()).all()  # one after another
    assert pd.isna(book["end"].iloc[-1])
    trades = cov[cov["stream"] == "trades"]
    assert trades["state"].astype(str).tolist() == ["disconnected", "synced"]
    assert str(cov["venue"].dtype) == "category" and str(cov["start"].dtype) == "datetime64[ns, UTC]"


async def test_a_sequence_gap_is_a_resyncing_interval(binance: tuple[BinanceSim, Feed]) -> None:
    sim, feed = binance
    started = now()
    sim.skip_updates(1)
    await until(feed, lambda: feed.book_stats()["gaps"].sum() >= 1, what="the gap")
    noticed = now()
    await until(feed, lambda: synced(feed) and state_now(feed, "book") == "synced", what="synced again")
    row = only(feed.coverage(), "book", "resyncing", "gap: book at ")
    assert_brackets(row, started, noticed, now())
    assert state_now(feed, "trades") == "synced"  # the trade stream was not touched


async def test_a_dropped_connection_is_disconnected_then_resyncing(binance: tuple[BinanceSim, Feed],
                                                                   tmp_path: Path) -> None:
    sim, feed = binance
    started = now()
    sim.drop_connections()
    await until(feed, lambda: int(feed.stats()["reconnects"].sum()) >= 1, what="the reconnect")
    noticed = now()
    await until(feed, lambda: synced(feed) and state_now(feed, "book") == "synced", what="synced again")
    cov = feed.coverage()
    for stream in ("book", "trades"):
        assert_brackets(only(cov, stream, "disconnected", "disconnected: connection lost"), started, noticed, now())
    again = only(cov[cov["start"] >= started], "book", "resyncing", "connected: awaiting a snapshot")
    assert again["start"] == only(cov, "book", "disconnected", "connection lost")["end"]
    written = feed.export(tmp_path)
    exported = pd.read_parquet(written["coverage"])
    columns = ["venue", "symbol", "stream", "state", "start", "end", "reason"]
    assert exported[columns].astype(str).values.tolist() == cov[columns].astype(str).values.tolist()


async def test_a_stalled_connection_is_disconnected_until_it_reconnects(binance: tuple[BinanceSim, Feed]) -> None:
    sim, feed = binance
    conn = feed.connections[0]
    started = now()
    sim.stall(True)
    async with asyncio.timeout(10):  # nothing flows during a stall: follow the connection's own state
        while conn.stats.stale_timeouts < 1:
            await conn.wait_state_change()
    noticed = now()
    sim.stall(False)
    await until(feed, lambda: synced(feed) and state_now(feed, "book") == "synced", what="synced again")
    row = only(feed.coverage(), "book", "disconnected", "disconnected: ")
    assert_brackets(row, started, noticed, now())
    assert row["start"] - started >= pd.Timedelta(seconds=FAST.stale_after) * 0.9  # noticed after the silence


async def test_refused_reconnects_stay_one_disconnected_interval(binance: tuple[BinanceSim, Feed]) -> None:
    sim, feed = binance
    sim.refuse_connections(600)
    started = now()
    sim.drop_connections()
    async with asyncio.timeout(20):
        while sim.fault_counts["refuse_connections"] < 2:
            await feed.connections[0].wait_state_change()
    noticed = now()
    sim.refuse_connections(0)
    await until(feed, lambda: synced(feed) and state_now(feed, "book") == "synced", what="synced again")
    row = only(feed.coverage(), "book", "disconnected", "connection lost")
    assert_brackets(row, started, noticed, now())
    assert row["end"] >= noticed  # it lasted through every refused attempt


@pytest.mark.parametrize("venue", ["kraken", "okx"])
async def test_a_failed_checksum_is_a_resyncing_interval(venue: str) -> None:
    async with (SIMULATORS[venue](symbols=["BTC-USDT"], seed=4, interval=0.01) as sim,
                Feed([f"{venue}:BTC-USDT"], channels=["book"], endpoints={venue: sim}, connection=FAST) as feed):
        await until(feed, lambda: synced(feed), what="synced")
        started = now()
        sim.corrupt_checksum(1)
        await until(feed, lambda: feed.book_stats()["checksum_failures"].sum() >= 1, what="the bad checksum")
        noticed = now()
        await until(feed, lambda: synced(feed) and state_now(feed, "book") == "synced", what="synced again")
        assert_brackets(only(feed.coverage(), "book", "resyncing", "checksum failed at message"), started,
                        noticed, now())
        assert set(feed.coverage()["stream"].astype(str)) == {"book"}  # no trade stream subscribed


async def test_a_silent_book_is_stale_from_its_last_update() -> None:
    options = ConnectionOptions(stale_after=60.0, book_stale_after=0.5, backoff_initial=0.05, backoff_cap=0.2,
                                ping_interval=None)
    async with (BinanceSim(symbols=["BTC-USDT"], seed=6, interval=0.01) as sim,
                Feed(["binance:BTC-USDT"], channels=["book"], endpoints={"binance": sim}, connection=options) as feed):
        await until(feed, lambda: synced(feed), what="synced")
        before = now()
        sim.pause()
        paused = now()
        async with asyncio.timeout(20):  # the market is paused: no event wakes us, so look every 20 ms
            while feed.book_stats()["stale_resyncs"].sum() < 1:
                await asyncio.sleep(0.02)
        noticed = now()
        sim.resume()
        await until(feed, lambda: state_now(feed, "book") == "synced", what="synced again")
        row = only(feed.coverage(), "book", "stale", "no book update for 0.5s")
        # it starts at the book's last update (about when the market paused), not when the watchdog saw it
        assert before - pd.Timedelta(seconds=0.5) <= row["start"] <= noticed - pd.Timedelta(seconds=0.5)
        assert row["start"] <= paused + pd.Timedelta(seconds=0.4)  # updates in flight at the pause, at most
        assert row["end"] <= now()


def test_intervals_follow_each_other_per_stream_and_the_last_is_open() -> None:
    changes = [
        CoverageChange("binance", "BTC-USDT", "book", "disconnected", "connecting", 100),
        CoverageChange("binance", "BTC-USDT", "trades", "disconnected", "connecting", 100),
        CoverageChange("binance", "BTC-USDT", "book", "synced", "snapshot applied", 200),
        CoverageChange("binance", "BTC-USDT", "trades", "synced", "connected", 150),
        CoverageChange("binance", "BTC-USDT", "book", "resyncing", "gap", 300),
        CoverageChange("binance", "BTC-USDT", "book", "synced", "snapshot applied", 400),
    ]
    frame = intervals(changes)
    book = frame[frame["stream"] == "book"]
    assert book["start"].astype("int64").tolist() == [100, 200, 300, 400]
    assert book["end"].iloc[:3].astype("int64").tolist() == [200, 300, 400] and pd.isna(book["end"].iloc[3])
    trades = frame[frame["stream"] == "trades"]
    assert trades["end"].iloc[0].value == 150 and pd.isna(trades["end"].iloc[1])


def test_valid_rows_keep_only_rows_received_inside_synced_intervals() -> None:
    changes = [
        CoverageChange("binance", "BTC-USDT", "book", "synced", "snapshot applied", 200),
        CoverageChange("binance", "BTC-USDT", "book", "resyncing", "gap", 300),
        CoverageChange("binance", "BTC-USDT", "book", "synced", "snapshot applied", 400),
        CoverageChange("kraken", "BTC-USD", "book", "synced", "snapshot applied", 100),
        CoverageChange("kraken", "BTC-USD", "book", "disconnected", "disconnected", 250),
    ]
    received = [150, 200, 299, 300, 399, 400, 10**12, 120, 249, 250]
    venues = ["binance"] * 7 + ["kraken"] * 3
    symbols = ["BTC-USDT"] * 7 + ["BTC-USD"] * 3
    frame = pd.DataFrame({"receipt_ts": pd.to_datetime(received, unit="ns", utc=True),
                          "venue": pd.Categorical(venues), "symbol": pd.Categorical(symbols)})
    kept = valid_rows(frame, intervals(changes), "book")
    assert kept["receipt_ts"].astype("int64").tolist() == [200, 299, 400, 10**12, 120, 249]
    assert valid_rows(frame, intervals(changes), "trades").empty  # no trade coverage: nothing is known valid
    with pytest.raises(ValueError, match="stream must be one of"):
        valid_rows(frame, intervals(changes), "tickers")


async def test_feed_valid_drops_rows_outside_synced_intervals(binance: tuple[BinanceSim, Feed]) -> None:
    sim, feed = binance
    sim.drop_connections()
    await until(feed, lambda: synced(feed) and state_now(feed, "book") == "synced", what="synced again")
    cov = feed.coverage()
    top = feed.top_of_book.to_pandas()
    kept = feed.valid("top_of_book")
    assert 0 < len(kept) <= len(top)
    for _, gap in cov[(cov["stream"] == "book") & (cov["state"] != "synced")].iterrows():
        end = gap["end"] if pd.notna(gap["end"]) else now()
        assert not ((kept["receipt_ts"] >= gap["start"]) & (kept["receipt_ts"] < end)).any()
    assert len(feed.valid("trades")) == len(feed.trades)  # every trade came in while its stream was synced
    with pytest.raises(ValueError, match="which stream"):
        feed.valid("tickers")


def _symbols_of(venue: str) -> list[str]:
    return ["BTC-USD"] if venue in ("kraken", "coinbase") else ["BTC-USDT"]


@pytest.mark.parametrize("venue", ["binance", "kraken", "okx", "coinbase"])
async def test_missing_trade_ids_are_counted_recorded_and_handed_on(venue: str) -> None:
    (symbol,) = _symbols_of(venue)
    sim_class: Any = SIMULATORS[venue]
    async with (sim_class(symbols=[symbol], seed=9, interval=0.01) as sim,
                Feed([f"{venue}:{symbol}"], channels=["trades"], endpoints={venue: sim}, connection=FAST) as feed):
        adapter: Any = feed.sources[0]
        holes: list[tuple[str, int, int]] = []
        adapter.trades_missing = lambda s, first, last: holes.append((s, first, last))
        await until(feed, lambda: feed.trades.total >= 5, what="trades")
        assert int(feed.book_stats()["trade_gaps"].sum()) == 0
        started = now()
        sim.skip_trade_ids(4)
        await until(feed, lambda: bool(holes), what="the hole")
        noticed = now()
        trades = feed.trades.to_pandas()
        stats = feed.book_stats().iloc[0]
        connection = feed.stats().iloc[0]
    ((where, first, last),) = holes
    assert (where, last - first + 1) == (symbol, 4)
    ids = set(trades["trade_id"].astype(str).astype(int))
    assert {first - 1, last + 1} <= ids and not ids & set(range(first, last + 1))
    assert (stats["trade_gaps"], stats["missing_trades"]) == (1, 4)
    assert (connection["trade_gaps"], connection["missing_trades"]) == (1, 4)
    row = only(feed.coverage(), "trades", "gap", f"trade ids {first}-{last} missing (4)")
    numbers = trades["trade_id"].astype(str).astype(int)
    before = trades[numbers == first - 1]["receipt_ts"].iloc[0]
    after = trades[numbers == last + 1]["receipt_ts"].iloc[0]
    # from just after the trade before the hole to the trade after it, which came after the injection
    assert row["start"] == min(before + pd.Timedelta(1, "ns"), after) and row["end"] == after
    assert started <= after <= noticed


def test_unnumbered_or_repeated_trades_break_no_chain() -> None:
    from livefeed.model import Side, Trade
    from livefeed.registry import adapter_class

    emitted: list[object] = []
    adapter: Any = adapter_class("okx")(["BTC-USDT"], ["trades"], emitted.append)
    holes: list[tuple[str, int, int]] = []
    adapter.trades_missing = lambda s, first, last: holes.append((s, first, last))

    def trade(number: int | None, at: int) -> Trade:
        return Trade("okx", "BTC-USDT", 1.0, 1.0, Side.BUY, str(number), at, at, number)

    for number, at in [(10, 1), (11, 2), (9, 3), (11, 4), (None, 5), (20, 6), (21, 7), (25, 8)]:
        adapter.emit(trade(number, at))
    assert holes == [("BTC-USDT", 22, 24)]  # an older id, a repeat and an aggregate (no id) are no hole
    assert [type(e).__name__ for e in emitted].count("Trade") == 8  # every trade still reaches the feed


async def test_a_venue_spreading_markets_over_connections_covers_each_market(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bybit opens one connection per symbol here and names no ``connection_symbols``: each market's streams still
    go from connecting to synced, and a drop shows as disconnected on every stream of every market."""
    from livefeed.venues import bybit

    monkeypatch.setattr(bybit, "MAX_ARGS_CHARS", 1)  # every symbol's topics on a connection of their own
    symbols = ["BTC-USDT", "ETH-USDT"]
    async with (SIMULATORS["bybit"](symbols=symbols, seed=3, interval=0.01) as sim,
                Feed([f"bybit:{s}" for s in symbols], channels=["trades", "book"], endpoints={"bybit": sim},
                     connection=FAST) as feed):
        await until(feed, lambda: synced(feed), what="synced")
        assert len(feed.connections) == 2
        assert sorted(open_states(feed)) == sorted((s, stream, "synced") for s in symbols for stream in STREAMS)
        started = now()
        sim.drop_connections()
        await until(feed, lambda: int(feed.stats()["reconnects"].sum()) >= 2, what="both reconnect")
        await until(feed, lambda: synced(feed) and {state for *_, state in open_states(feed)} == {"synced"},
                    what="synced again")
        cov = feed.coverage()
        dropped = cov[(cov["state"] == "disconnected") & (cov["start"] >= started)]
        assert sorted(zip(dropped["symbol"].astype(str), dropped["stream"].astype(str), strict=True)) == sorted(
            (s, stream) for s in symbols for stream in STREAMS)


STREAMS = ("book", "trades")


def open_states(feed: Feed) -> list[tuple[str, str, str]]:
    cov = feed.coverage()
    rows = cov[cov["end"].isna()]
    return list(zip(rows["symbol"].astype(str), rows["stream"].astype(str), rows["state"].astype(str), strict=True))
