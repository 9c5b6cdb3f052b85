"""Real OKX frames (cryptofeed capture, 2022-05-13: BTC-USDT spot, a BTC-USD future and a UNI swap) replayed
through the adapter's own frame handler, in order: every book message must apply with its checksum matching, and
no book may ever be crossed.

The capture predates ``seqId``/``prevSeqId``, so it exercises the checksum-only path of the book rule. Lines are
cryptofeed's raw format: ``<address> <- <time>: <payload>`` for what the client sent, ``<time>: <payload>`` for
what it received.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from livefeed.model import BookDelta, BookSnapshot, Event, Ticker, Trade
from livefeed.venues.okx import OkxAdapter

from ..conftest import recorded
from .recorded_replay import replay_frames

INSTRUMENTS = ["BTC-USD-220527", "UNI-USD-SWAP", "BTC-USDT"]


def received(path: Path) -> list[tuple[int, str]]:
    frames = []
    for line in path.read_text().splitlines():
        if line.startswith("wss://"):  # connects and the subscribe requests the client sent
            continue
        stamp, sep, payload = line.partition(": ")
        assert sep, line[:80]
        frames.append((int(float(stamp) * 1e9), payload))
    return frames


@pytest.fixture(scope="module")
def frames() -> list[tuple[int, str]]:
    return received(recorded("cryptofeed-OKX.ws.1.0"))


Top = tuple[float, float]
"""A book's best bid and ask prices."""


def replay(frames: list[tuple[int, str]], watch: Callable[[OkxAdapter, Event], None] | None = None,
           ) -> tuple[OkxAdapter, list[Event], list[str]]:
    """The adapter after every frame, every event it emitted and the moments a book was crossed."""
    # Built directly (not through Feed) because two of the captured instruments are derivatives whose instIds
    # are not BASE-QUOTE; the adapter maps instIds one to one, so it follows them as it follows spot.
    return replay_frames(lambda emit: OkxAdapter(INSTRUMENTS, ["trades", "book", "ticker"], emit), frames,
                         "ws://127.0.0.1:9/ws/v5/public", watch)


def test_every_recorded_book_message_applies_with_its_checksum(frames: list[tuple[int, str]]) -> None:
    adapter, events, crossed = replay(frames)
    assert crossed == []
    for symbol in INSTRUMENTS:
        stats = adapter.sync[symbol]
        assert stats.synced, symbol
        assert (stats.gaps, stats.resyncs, stats.checksum_failures, stats.stale) == (0, 0, 0, 0), stats
        assert stats.snapshots == 1 and stats.deltas > 80
    verified = sum(checker.checksums_verified for checker in adapter.rules.values())  # type: ignore[attr-defined]
    books = sum(1 for e in events if isinstance(e, BookSnapshot | BookDelta))
    assert verified == books == 290  # 3 snapshots + 287 updates, each carrying a checksum


def test_recorded_tickers_quote_tops_the_rebuilt_book_showed(frames: list[tuple[int, str]]) -> None:
    """OKX's ticker refreshed its best bid/ask only now and then (three quotes in the 25 BTC-USDT tickers of these
    12 s) while the book moved every 100 ms, so a ticker cannot be matched with the book's top when it arrives.
    What must hold: each ticker's bid and ask were the top of the rebuilt book at some moment before it arrived; a
    wrong level in the rebuilt book would show tops the venue never quoted."""
    tops: set[Top] = set()
    quotes: list[tuple[Top, bool]] = []  # each BTC-USDT ticker's quote, and whether the book had shown it as its top

    def watch(adapter: OkxAdapter, event: Event) -> None:
        if event.symbol != "BTC-USDT":
            return
        if isinstance(event, BookSnapshot | BookDelta):
            book = adapter.books[event.symbol]
            tops.add((book.best_bid[0], book.best_ask[0]))  # type: ignore[index]
        elif isinstance(event, Ticker):
            assert event.bid_price < event.ask_price
            quotes.append(((event.bid_price, event.ask_price), (event.bid_price, event.ask_price) in tops))

    _, events, _ = replay(frames, watch)
    trades = [e for e in events if isinstance(e, Trade)]
    assert len(trades) > 50 and {t.side.value for t in trades} <= {"buy", "sell"}
    seen = {quote for quote, shown in quotes if shown}
    unseen = {quote for quote, shown in quotes if not shown}
    assert (len(quotes), sum(shown for _, shown in quotes), len(seen)) == (25, 23, 3)
    # The other two (the first, before any book message, and one soon after) quote the top from before the
    # subscription's snapshot, which already shows 30243.4 / 30243.5.
    assert unseen == {(30228.6, 30228.7)}


def test_a_corrupted_recorded_update_is_caught(frames: list[tuple[int, str]]) -> None:
    """The replay can fail: one size changed in one real update makes that message's checksum miss."""
    index = next(i for i, (_, p) in enumerate(frames) if '"action":"update"' in p and '"BTC-USDT"' in p)
    receipt, payload = frames[index]
    start = payload.index('"bids":[["') + len('"bids":[["')
    size_at = payload.index('","', start) + 3
    tampered = payload[:size_at] + "9" + payload[size_at:]
    adapter, _, _ = replay([*frames[:index], (receipt, tampered), *frames[index + 1 :]])
    assert adapter.sync["BTC-USDT"].checksum_failures == 1
    assert not adapter.sync["BTC-USDT"].synced  # no socket to resubscribe on here, so it stays unsynced
