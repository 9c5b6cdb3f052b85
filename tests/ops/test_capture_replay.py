"""Capture a simulated Binance session raw, replay it through :class:`CaptureReplay`, and get the same books and
trades bit-for-bit from the same adapter."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from livefeed import BookDelta, BookSnapshot, Feed
from livefeed.model import Event
from livefeed.replay import CaptureReplay
from livefeed.sim import BinanceSim
from livefeed.sinks.raw_capture import RawCapture, read_capture

from ..conftest import TOLERANT, until

SYMBOLS = ("BTC-USDT", "ETH-USDT")
BookState = tuple[str, str, int | None, tuple[tuple[float, float], ...], tuple[tuple[float, float], ...]]


def record_books(feed: Feed) -> list[BookState]:
    """Every book state the feed went through: after each snapshot or delta, the full book."""
    states: list[BookState] = []

    def on_event(event: Event) -> None:
        if isinstance(event, BookSnapshot | BookDelta):
            book = feed.books[(event.venue, event.symbol)]
            states.append((type(event).__name__, event.symbol, event.sequence, tuple(book.bids()),
                           tuple(book.asks())))

    feed.add_callback(on_event)
    return states


def rows(frame: pd.DataFrame) -> pd.DataFrame:
    # receipt_ts is when *this* process read the frame; the capture keeps the original receipt times.
    return frame.drop(columns=["receipt_ts"]).reset_index(drop=True)


async def test_replay_rebuilds_every_book_state_and_trade(tmp_path: Path) -> None:
    subs = [f"binance:{s}" for s in SYMBOLS]
    capture = RawCapture(tmp_path / "cap")
    async with BinanceSim(symbols=SYMBOLS, seed=11, interval=0.005, levels=100) as sim:
        async with Feed(subs, endpoints={"binance": sim}, connection=TOLERANT, raw_capture=capture) as live:
            live_books = record_books(live)
            await until(live, lambda: len(live.trades) >= 300 and len(live_books) >= 400, what="a busy session")
        live_trades = rows(live.trades.to_pandas())
        live_tops = rows(live.top_of_book.to_pandas())
    assert capture.dropped == 0 and capture.written == capture.frames
    records = list(read_capture(tmp_path / "cap"))
    assert len(records) == capture.frames
    assert any(r.is_rest and "/api/v3/depth" in r.source for r in records)

    replay = CaptureReplay(tmp_path / "cap")
    async with replay, Feed(subs, endpoints={"binance": replay}, connection=TOLERANT) as again:
        replay_books = record_books(again)
        await until(again, lambda: len(replay_books) >= len(live_books) and len(again.trades) >= len(live_trades),
                    what="the replay to catch up")
        assert replay.frames_sent == replay.total_frames
        assert int(again.book_stats()["gaps"].sum()) == int(live.book_stats()["gaps"].sum())

    # Per book: the order across books depends on when each REST snapshot returned, which no replay controls.
    for symbol in SYMBOLS:
        live_states = [s for s in live_books if s[1] == symbol]
        assert len(live_states) > 100
        assert [s for s in replay_books if s[1] == symbol][: len(live_states)] == live_states
    pd.testing.assert_frame_equal(rows(again.trades.to_pandas()), live_trades)
    for symbol in SYMBOLS:
        replay_tops = rows(again.top_of_book.to_pandas())
        live_sym = live_tops[live_tops["symbol"] == symbol].reset_index(drop=True)
        pd.testing.assert_frame_equal(replay_tops[replay_tops["symbol"] == symbol].reset_index(drop=True), live_sym)


async def test_capture_rotates_files_and_reads_them_back_in_order(tmp_path: Path) -> None:
    capture = RawCapture(tmp_path, rotate_bytes=1)  # every write starts a new file
    await capture.start()
    capture.tap("binance-0", '{"a":1}', 1)
    await capture.flush()
    capture.tap("binance-0", b"\x00\xffbinary", 2)
    capture.tap("binance:rest 200 /api/v3/depth?symbol=BTCUSDT", b'{"lastUpdateId":5}', 3)
    await capture.stop()
    assert len(capture.files) == 2
    records = list(read_capture(tmp_path))
    assert [(r.receipt_ns, r.source, r.frame) for r in records] == [
        (1, "binance-0", '{"a":1}'),
        (2, "binance-0", b"\x00\xffbinary"),
        (3, "binance:rest 200 /api/v3/depth?symbol=BTCUSDT", b'{"lastUpdateId":5}'),
    ]
    assert [r.is_rest for r in records] == [False, False, True]


async def test_capture_bounds_its_buffer_and_counts_drops(tmp_path: Path) -> None:
    capture = RawCapture(tmp_path, max_buffered=2)
    for i in range(5):
        capture.tap("c", "x", i)
    assert (capture.frames, capture.queue_depth, capture.dropped) == (5, 2, 3)


def test_replay_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="speed must be positive"):
        CaptureReplay([], speed=0)
    with pytest.raises(ValueError, match="no WebSocket frames"):
        CaptureReplay([])
    with pytest.raises(FileNotFoundError):
        CaptureReplay(tmp_path / "missing")
