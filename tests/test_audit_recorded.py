"""The live audit on real data: eleven minutes recorded from Binance, replayed through the real adapter, where
every bookTicker that names a state of the book agrees with it (prices and sizes), and none forces a resync."""

from __future__ import annotations

from livefeed import Feed
from livefeed.replay import CaptureReplay
from livefeed.sim.binance_recording import recording_to_capture

from .conftest import recorded, until
from .venues.test_binance_recorded import expected_from


async def test_every_matchable_recorded_book_ticker_agrees_with_the_live_book() -> None:
    path = recorded("binance-spot-btcusdt-20240808.jsonl.gz")
    _snapshot_id, diffs, tickers, _trades = expected_from(path)
    async with CaptureReplay(recording_to_capture(path)) as replay:
        feed = Feed(["binance:BTC-USDT"], channels=["trades", "book", "ticker"], endpoints={"binance": replay})
        async with feed:
            book = feed.books[("binance", "BTC-USDT")]
            await until(feed, lambda: book.sequence == diffs[-1][1], timeout=60, what="the last recorded update")
            await until(feed, lambda: feed.tickers.total == len(tickers), timeout=30, what="every bookTicker")
            audit = feed.audit().set_index("kind").loc["book_ticker"]
            resyncs = int(feed.book_stats().loc[0, "resyncs"])
    print(f"{audit['agree']} agree, {audit['unverifiable']} unverifiable of {len(tickers)} bookTickers")
    assert audit["agree"] > 100, "too few matches to prove anything"
    assert (audit["disagree"], audit["resyncs"], resyncs) == (0, 0, 0)
    assert audit["agree"] + audit["unverifiable"] <= len(tickers)  # a ticker still pending at the end is neither
