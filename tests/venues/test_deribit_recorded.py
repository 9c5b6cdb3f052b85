"""Real Deribit frames (cryptofeed capture, 2021-07-22: books and tickers of ten BTC and ETH options, ``.raw``
channels) replayed through the adapter's own frame handler, in order: every book change must follow its
predecessor's ``change_id``, no book may be crossed, and every ticker must become an option quote.

Lines are cryptofeed's raw format: ``<address> <- <time>: <payload>`` for what the client sent (and the connect
line), ``<time>: <payload>`` for what it received.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from livefeed.derivatives import OptionTicker
from livefeed.model import BookDelta, BookSnapshot, Event, Ticker
from livefeed.venues.deribit import DeribitAdapter, canonical_symbol

from ..conftest import recorded
from .recorded_replay import replay_frames

NAMES = ["BTC-24SEP21-8000-P", "BTC-30JUL21-24000-P", "ETH-30JUL21-2800-C", "BTC-31DEC21-34000-P",
         "BTC-24SEP21-34000-P", "BTC-24JUN22-15000-C", "BTC-31DEC21-300000-C", "ETH-27AUG21-4000-P",
         "BTC-25MAR22-30000-C", "ETH-23JUL21-2300-C"]
"""The instruments the session subscribed, as Deribit names them."""
SYMBOLS = [canonical_symbol(name) for name in NAMES]


def received(path: Path) -> list[tuple[int, str]]:
    frames = []
    for line in path.read_text().splitlines():
        if line.startswith("wss://") or not line:  # the connect and what the client sent
            continue
        stamp, sep, payload = line.partition(": ")
        assert sep, line[:80]
        frames.append((int(float(stamp) * 1e9), payload))
    return frames


@pytest.fixture(scope="module")
def frames() -> list[tuple[int, str]]:
    return received(recorded("cryptofeed-DERIBIT.ws.1.0"))


def replay(frames: list[tuple[int, str]], watch: Callable[[DeribitAdapter, Event], None] | None = None,
           ) -> tuple[DeribitAdapter, list[object], list[str]]:
    """The adapter after every frame, every event it emitted and the moments a book was crossed."""
    return replay_frames(lambda emit: DeribitAdapter(SYMBOLS, ["trades", "book", "ticker"], emit), frames,
                         "ws://127.0.0.1:9/ws/api/v2", watch)


def test_every_recorded_book_change_follows_the_chain(frames: list[tuple[int, str]]) -> None:
    adapter, events, crossed = replay(frames)
    assert crossed == []
    for symbol in SYMBOLS:
        stats = adapter.sync[symbol]
        assert stats.synced, symbol
        assert (stats.gaps, stats.resyncs, stats.stale) == (0, 0, 0), stats
        assert stats.snapshots == 1
    assert sum(adapter.sync[s].deltas for s in SYMBOLS) == 36
    books = [e for e in events if isinstance(e, BookSnapshot | BookDelta)]
    assert len(books) == 46  # 10 snapshots + 36 changes, every one applied


def test_every_recorded_ticker_is_an_option_quote_with_fractional_ivs(frames: list[tuple[int, str]]) -> None:
    _, events, _ = replay(frames)
    quotes = [e for e in events if isinstance(e, OptionTicker)]
    assert len(quotes) == 89 and {q.symbol for q in quotes} == set(SYMBOLS)
    assert all(q.mark_iv is not None and 0.3 < q.mark_iv < 5 for q in quotes)  # fractions, not percents
    assert all(q.delta is not None and -1 <= q.delta <= 1 for q in quotes)
    last = next(q for q in reversed(quotes) if q.symbol == "BTC-USD-20211231-34000-P")
    assert (last.mark_iv, last.bid_iv, last.ask_iv, last.delta) == (0.8002, 0.7967, 0.8102, -0.42245)
    assert (last.underlying_price, last.bid_price, last.ask_price) == (32749.6, 0.2325, 0.236)
    tops = [e for e in events if isinstance(e, Ticker)]
    assert all(t.bid_price < t.ask_price for t in tops)


def test_recorded_tickers_quote_tops_the_rebuilt_book_showed(frames: list[tuple[int, str]]) -> None:
    """Deribit's ticker and book are separate channels, so a ticker rarely carries the same exchange time as a book
    message. What must hold: every ticker's best bid and ask were the top of the rebuilt book at some moment of the
    session; a wrong level in the rebuilt book would show tops the venue never quoted."""
    tops: dict[str, set[tuple[float, float]]] = {}
    quotes: list[tuple[str, tuple[float, float], bool]] = []  # each ticker, and whether its top was shown already

    def watch(adapter: DeribitAdapter, event: object) -> None:
        if isinstance(event, BookSnapshot | BookDelta):
            book = adapter.books[event.symbol]
            if book.best_bid and book.best_ask:
                tops.setdefault(event.symbol, set()).add((book.best_bid[0], book.best_ask[0]))
        elif isinstance(event, Ticker):
            quote = (event.bid_price, event.ask_price)
            quotes.append((event.symbol, quote, quote in tops.get(event.symbol, set())))

    replay(frames, watch)  # type: ignore[arg-type]
    assert len(quotes) == 76  # tickers with both sides quoted (the other 13 have an empty side)
    assert all(quote in tops[symbol] for symbol, quote, _ in quotes)
    # 9 came before the book message that shows their top (the first tickers arrive before the snapshots)
    assert sum(shown for _, _, shown in quotes) == 67


def test_a_broken_recorded_chain_is_caught(frames: list[tuple[int, str]]) -> None:
    """The replay can fail: one change lost from the real session is a gap in its book."""
    index = next(i for i, (_, p) in enumerate(frames) if '"type":"change"' in p)
    symbol = canonical_symbol(frames[index][1].split('"instrument_name":"')[1].split('"')[0])
    adapter, _, _ = replay([*frames[:index], *frames[index + 1 :]])
    changes_after = sum(1 for _, p in frames[index + 1 :] if '"type":"change"' in p
                        and canonical_symbol(p.split('"instrument_name":"')[1].split('"')[0]) == symbol)
    assert changes_after > 0
    assert adapter.sync[symbol].gaps == 1
    assert not adapter.sync[symbol].synced  # no socket to resubscribe on here, so it stays unsynced
