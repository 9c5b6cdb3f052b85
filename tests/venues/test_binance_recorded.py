"""Eleven minutes recorded from Binance, converted to a raw capture and replayed by ``CaptureReplay`` through the real
adapter: every diff applies with no gap, and the rebuilt book agrees with every bookTicker matched by update id."""

from __future__ import annotations

import gzip

import orjson

from livefeed import BookDelta, Feed
from livefeed.replay import CaptureReplay
from livefeed.sim.binance_recording import recording_to_capture

from ..conftest import recorded, until


def expected_from(path: object) -> tuple[int, list[tuple[int, int]], list[dict], int]:
    snapshot_id, diffs, tickers, trades = 0, [], [], 0
    with gzip.open(path, "rt") as lines:  # type: ignore[call-overload]
        for line in lines:
            message = orjson.loads(line.split(" ", 1)[1])
            if "lastUpdateId" in message:
                snapshot_id = message["lastUpdateId"]
                continue
            data, stream = message["data"], message["stream"]
            if stream.endswith("@depth@100ms"):
                diffs.append((data["U"], data["u"]))
            elif stream.endswith("@bookTicker"):
                tickers.append(data)
            else:
                trades += 1
    return snapshot_id, diffs, tickers, trades


async def test_recorded_session_rebuilds_the_book_exactly() -> None:
    path = recorded("binance-spot-btcusdt-20240808.jsonl.gz")
    snapshot_id, diffs, tickers, trade_count = expected_from(path)
    applied_after_snapshot = [d for d in diffs if d[1] > snapshot_id]
    last_u = diffs[-1][1]

    top_after: dict[int, tuple[float, float]] = {}
    async with CaptureReplay(recording_to_capture(path)) as replay:
        feed = Feed(["binance:BTC-USDT"], channels=["trades", "book", "ticker"], endpoints={"binance": replay})

        def record(event: object) -> None:
            if isinstance(event, BookDelta):
                book = feed.books[("binance", "BTC-USDT")]
                top_after[event.sequence] = (book.best_bid[0], book.best_ask[0])  # type: ignore[index]
                assert not book.crossed, f"crossed book after update {event.sequence}"

        feed.add_callback(record)
        async with feed:
            book = feed.books[("binance", "BTC-USDT")]
            await until(feed, lambda: book.sequence == last_u, timeout=60, what="the last recorded update")
            await until(feed, lambda: feed.trades.total == trade_count, timeout=30, what="every trade")
            sync = feed.book_stats().iloc[0]

    assert sync["gaps"] == 0 and sync["resyncs"] == 0 and sync["snapshots"] == 1
    assert sync["deltas"] == len(applied_after_snapshot)
    matched = [t for t in tickers if t["u"] in top_after]
    assert len(matched) > 100, "too few bookTickers share an update id with a diff to prove anything"
    mismatches = [
        (t["u"], t["b"], t["a"], top_after[t["u"]])
        for t in matched
        if (float(t["b"]), float(t["a"])) != top_after[t["u"]]
    ]
    assert mismatches == []
    print(f"{len(matched)} bookTickers matched by update id, {sync['deltas']} diffs applied")
