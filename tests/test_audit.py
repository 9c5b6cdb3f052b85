"""Live audit: each book checked against the venue's own evidence, counted, exported, and resynced on a mismatch."""

from __future__ import annotations

import asyncio

import pytest

from livefeed import Feed
from livefeed.audit import BookAudit, audit_every_loop
from livefeed.book import OrderBook
from livefeed.errors import ConfigError
from livefeed.metrics import FeedCollector
from livefeed.sim import SIMULATORS, BinanceSim

from .conftest import FAST, until

TOP = (100.0, 1.0, 101.0, 2.0)


def book_at(sequence: int, top: tuple[float, float, float, float] = TOP) -> OrderBook:
    book = OrderBook("binance", "BTC-USDT")
    book.apply_snapshot([(top[0], top[1]), (99.0, 5.0)], [(top[2], top[3]), (102.0, 5.0)], sequence)
    return book


# -- the matching rule, pure -------------------------------------------------------------------------------------
def test_a_ticker_at_the_books_id_is_compared_at_once() -> None:
    audit = BookAudit("binance", ["BTC-USDT"], ["book_ticker"])
    assert audit.reference("BTC-USDT", "book_ticker", 7, TOP, book_at(7), synced=True)
    assert not audit.reference("BTC-USDT", "book_ticker", 7, (100.0, 1.5, 101.0, 2.0), book_at(7), synced=True)
    counts = audit.counts[("BTC-USDT", "book_ticker")]
    assert (counts.agree, counts.disagree, counts.resyncs) == (1, 1, 1)
    assert counts.last_disagreement == "id 7: venue (100.0, 1.5, 101.0, 2.0), local (100.0, 1.0, 101.0, 2.0)"


def test_a_ticker_ahead_of_the_book_waits_for_the_diff_that_ends_at_its_id() -> None:
    audit = BookAudit("binance", ["BTC-USDT"], ["book_ticker"])
    assert audit.reference("BTC-USDT", "book_ticker", 9, TOP, book_at(7), synced=True)
    assert audit.reference("BTC-USDT", "book_ticker", 12, TOP, book_at(7), synced=True)
    assert audit.pending == {"BTC-USDT": {9: ("book_ticker", TOP), 12: ("book_ticker", TOP)}}
    assert audit.settle("BTC-USDT", book_at(9))  # 9 compared, 12 still ahead
    assert audit.settle("BTC-USDT", book_at(14))  # 12 fell inside the batch 10..14: that state was never the book's
    counts = audit.counts[("BTC-USDT", "book_ticker")]
    assert (counts.agree, counts.unverifiable, audit.pending) == (1, 1, {})


def test_tickers_behind_the_book_or_while_it_resyncs_are_unverifiable() -> None:
    audit = BookAudit("binance", ["BTC-USDT"], ["book_ticker"], max_pending=2)
    audit.reference("BTC-USDT", "book_ticker", 5, TOP, book_at(7), synced=True)
    audit.reference("BTC-USDT", "book_ticker", 9, TOP, book_at(7), synced=False)
    for update_id in (10, 11, 12):  # the oldest pending one gives way
        audit.reference("BTC-USDT", "book_ticker", update_id, TOP, book_at(7), synced=True)
    audit.forget("BTC-USDT")
    counts = audit.counts[("BTC-USDT", "book_ticker")]
    assert (counts.agree, counts.disagree, counts.unverifiable, audit.pending) == (0, 0, 5, {})


def test_audit_every_is_off_by_default_and_at_least_ten_seconds() -> None:
    assert Feed(["binance:BTC-USDT"]).audit_every is None
    assert Feed(["binance:BTC-USDT"], audit_every=30).audit_every == 30.0
    with pytest.raises(ConfigError, match="audit_every"):
        Feed(["binance:BTC-USDT"], audit_every=1)


# -- against the simulators ----------------------------------------------------------------------------------------
def audit_row(feed: Feed, venue: str, kind: str) -> dict[str, object]:
    frame = feed.audit()
    rows = frame[(frame["venue"] == venue) & (frame["kind"] == kind)]
    assert len(rows) == 1, frame
    return rows.iloc[0].to_dict()  # type: ignore[no-any-return]


def settled_rest_checks(feed: Feed) -> int:
    frame = feed.audit()
    rows = frame[frame["kind"] == "rest_top"]
    return int(rows["agree"].sum() + rows["disagree"].sum() + rows["unverifiable"].sum())


def scraped_checks(feed: Feed) -> dict[tuple[str, ...], float]:
    collector = FeedCollector(feed)
    try:
        family = next(f for f in collector.collect() if f.name == "livefeed_audit_checks")
        return {tuple(s.labels[k] for k in ("venue", "kind", "result")): s.value for s in family.samples}
    finally:
        feed.remove_callback(collector.observe)


async def test_binance_book_tickers_agree_with_the_book_and_a_wrong_book_is_caught_and_resynced() -> None:
    """Rule: every bookTicker that names a state of the book agrees with it; a book made wrong on purpose (a
    phantom best bid) disagrees at the next match, is resynced (counted) and agrees again afterwards."""
    async with BinanceSim(["BTC-USDT"], seed=31, interval=0.02) as sim:
        feed = Feed(["binance:BTC-USDT"], channels=["book", "ticker"], endpoints={"binance": sim}, connection=FAST)
        async with feed:
            await until(feed, lambda: audit_row(feed, "binance", "book_ticker")["agree"] >= 20, what="matches")
            assert audit_row(feed, "binance", "book_ticker")["disagree"] == 0
            resyncs = int(feed.book_stats().loc[0, "resyncs"])
            book = feed.sources[0].books["BTC-USDT"]  # type: ignore[attr-defined]
            ask = book.best_ask[0]
            book.apply_delta([(ask + 1000.0, 1.0)], [], book.sequence)  # the loop is ours: no diff interleaves
            await until(feed, lambda: audit_row(feed, "binance", "book_ticker")["disagree"] == 1, what="a mismatch")
            row = audit_row(feed, "binance", "book_ticker")
            assert row["resyncs"] == 1 and str(ask + 1000.0) in str(row["last_disagreement"])
            agreed = int(row["agree"])
            await until(feed, lambda: audit_row(feed, "binance", "book_ticker")["agree"] >= agreed + 10,
                        what="agreement after the resync")
            assert audit_row(feed, "binance", "book_ticker")["disagree"] == 1
            assert int(feed.book_stats().loc[0, "resyncs"]) == resyncs + 1
            assert book.best_bid[0] < book.best_ask[0]  # the phantom is gone
            checks = scraped_checks(feed)
    assert checks[("binance", "book_ticker", "disagree")] == 1
    assert checks[("binance", "book_ticker", "agree")] >= agreed + 10


async def test_binance_rest_top_is_matched_by_its_last_update_id() -> None:
    async with BinanceSim(["BTC-USDT"], seed=32, interval=0.02) as sim:
        feed = Feed(["binance:BTC-USDT"], channels=["book"], endpoints={"binance": sim}, connection=FAST)
        async with feed:
            await until(feed, lambda: bool(feed.book_stats()["synced"].all()), what="a synced book")
            # what Feed(audit_every=...) runs, at a pace the feed's 10 s minimum would not allow in a test
            checking = asyncio.create_task(audit_every_loop(feed.sources, 0.05))
            try:
                await until(feed, lambda: settled_rest_checks(feed) >= 3, what="three REST checks settled")
            finally:
                checking.cancel()
            row = audit_row(feed, "binance", "rest_top")
            requests = sim.rest_requests["/api/v3/depth"]
    assert row["agree"] >= 1 and row["disagree"] == 0
    assert requests >= 4  # the snapshot that synced the book, then the checks (limit=5: weight 5 each)


@pytest.mark.parametrize("venue", ["kraken", "okx"])
async def test_checksum_passes_and_failures_are_counted_per_book(venue: str) -> None:
    symbol = {"kraken": "BTC-USD", "okx": "BTC-USDT"}[venue]
    async with SIMULATORS[venue]([symbol], seed=33, interval=0.02) as sim:
        feed = Feed([f"{venue}:{symbol}"], channels=["book"], endpoints={venue: sim}, connection=FAST)
        async with feed:
            await until(feed, lambda: audit_row(feed, venue, "checksum")["agree"] >= 20, what="checksum passes")
            assert audit_row(feed, venue, "checksum")["disagree"] == 0
            sim.corrupt_checksum(1)
            await until(feed, lambda: audit_row(feed, venue, "checksum")["disagree"] == 1, what="a failure")
            passed = int(audit_row(feed, venue, "checksum")["agree"])
            await until(feed, lambda: audit_row(feed, venue, "checksum")["agree"] >= passed + 10, what="passes again")
            checks = scraped_checks(feed)
    assert checks[(venue, "checksum", "disagree")] == 1
