"""Binance's REST depth snapshot failing in every way the venue (or the network) can: the adapter logs each,
fetches again with backoff (after ``Retry-After`` when rate limited) and ends with an exact book."""

from __future__ import annotations

import logging

import orjson
import pytest

from livefeed import Feed
from livefeed.sim import BinanceSim

from ..conftest import FAST, assert_books_exact, until

DEPTH = "/api/v3/depth"


@pytest.fixture
async def sim() -> BinanceSim:
    async with BinanceSim(["BTC-USDT"], seed=11, interval=0.02) as server:
        yield server


def book_feed(sim: BinanceSim) -> Feed:
    return Feed(["binance:BTC-USDT"], channels=["book"], endpoints={"binance": sim}, connection=FAST)


async def test_every_kind_of_snapshot_failure_is_retried_until_the_book_is_exact(
    sim: BinanceSim, caplog: pytest.LogCaptureFixture
) -> None:
    sim.fail_rest(DEPTH, "reset", 500, "garbage", (418, {"Retry-After": "0"}), (429, {"Retry-After": "soon"}))
    feed = book_feed(sim)
    with caplog.at_level(logging.INFO, logger="livefeed.venues"):
        async with feed:
            await until(feed, lambda: feed.book_stats()["synced"].all(), what="the book synced")
            await assert_books_exact(feed, sim, "binance", ["BTC-USDT"])
    assert [status for path, _, status in sim.rest_log if path == DEPTH][:6] == [0, 500, 200, 418, 429, 200]
    assert sim.fault_counts["rest_failures"] == 5
    said = caplog.text
    assert "snapshot request failed" in said  # the reset
    assert "snapshot HTTP 500" in said
    assert "snapshot body is not JSON" in said  # HTTP 200 with a web page
    assert "rate limited (418)" in said and "rate limited (429), retrying in 1s" in said  # "soon": the default
    stats = feed.book_stats().iloc[0]
    assert (stats["snapshots"], stats["gaps"]) == (1, 0)


async def test_a_rate_limited_snapshot_waits_retry_after_before_asking_again(sim: BinanceSim) -> None:
    """Rule: after 429 the next request comes no sooner than the venue's ``Retry-After`` (Binance bans clients that
    keep asking: 418)."""
    sim.fail_rest(DEPTH, (429, {"Retry-After": "1"}))
    feed = book_feed(sim)
    async with feed:
        await until(feed, lambda: feed.book_stats()["synced"].all(), what="the book synced")
    (_, limited_at, first), (_, again_at, second) = [entry for entry in sim.rest_log if entry[0] == DEPTH][:2]
    assert (first, second) == (429, 200)
    assert again_at - limited_at >= 1.0


async def test_a_snapshot_older_than_the_buffered_diffs_is_fetched_again(
    sim: BinanceSim, caplog: pytest.LogCaptureFixture
) -> None:
    """Rule: a snapshot whose lastUpdateId + 1 is below the first buffered diff's U leaves ids uncovered: it is
    not installed, and a newer one is fetched."""
    old = orjson.dumps(sim.markets["BTC-USDT"].snapshot(5000))
    await sim.step(20)  # the market moves on: the diffs the client will buffer start after ``old``
    sim.fail_rest(DEPTH, old)
    feed = book_feed(sim)
    with caplog.at_level(logging.INFO, logger="livefeed.venues"):
        async with feed:
            await until(feed, lambda: feed.book_stats()["synced"].all(), what="the book synced")
            await assert_books_exact(feed, sim, "binance", ["BTC-USDT"])
    stats = feed.book_stats().iloc[0]
    assert sim.rest_requests[DEPTH] >= 2 and (stats["snapshots"], stats["gaps"]) == (1, 0)  # refused, not a gap
    assert "does not join the stream (stale); fetching again" in caplog.text
