"""Real Coinbase Advanced Trade frames (cryptofeed v3 capture, 2026) fed in order through the adapter's frame
handler: no sequence gap, no crossed book, and the ticker's best bid/ask agreeing with the rebuilt book.

A replay server adds nothing here: Coinbase has no REST step in its book sync, so the frame handler is the whole
parse + sync path. The ticker and level2 channels are produced separately by Coinbase and interleave on the wire,
so a ticker is matched against the book's top when it arrived and after each of the ``WINDOW`` level2 updates of
the same product before and after it; a match needs all four numbers (both prices and both sizes) equal. On this
capture 147 of 154 tickers match so (114 at the exact moment of arrival) and 153 of 154 on prices alone.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from livefeed.model import BookDelta, BookSnapshot, Event, Side, Ticker, Trade
from livefeed.venues.coinbase import CoinbaseAdapter

from ..conftest import recorded

NAME = "cryptofeed-COINBASE-advanced-trade.jsonl.zst"
SYMBOLS = ["BTC-USD", "ETH-USD"]
WINDOW = 3


def records(path: Path) -> Iterator[dict]:
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        if shutil.which("zstd") is None:
            pytest.skip("neither the zstandard module nor the zstd tool is installed")
        raw = subprocess.run(["zstd", "-dc", str(path)], check=True, capture_output=True).stdout
    else:
        raw = zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes())
    for line in raw.splitlines():
        if line.strip():
            yield orjson.loads(line)


class Stats:
    def observe_lag(self, exchange_ns: int, receipt_ns: int) -> None:
        pass


class Conn:
    stats = Stats()
    connected = True

    async def send(self, text: str) -> None:
        raise AssertionError(f"the replay should never need to resubscribe, but sent {text}")


@pytest.fixture(scope="module")
def replay() -> dict:
    path = recorded(NAME)
    events: list[Event] = []
    adapter = CoinbaseAdapter(SYMBOLS, ["book", "trades", "ticker"], events.append)
    tops: dict[str, list[tuple[object, object]]] = {s: [] for s in SYMBOLS}
    tickers: list[tuple[Ticker, int]] = []
    trades: list[tuple[Trade, tuple[object, object]]] = []
    crossed, frames, l2_frames, sent = 0, 0, 0, []
    for record in records(path):
        if record["t"] == "send":
            sent.append(orjson.loads(record["data"]))
        if record["t"] != "recv":
            continue
        frames += 1
        l2_frames += '"channel":"l2_data"' in record["data"]
        start = len(events)
        adapter.on_frame(record["data"], int(record["ts"] * 1e9), Conn())  # type: ignore[arg-type]
        for event in events[start:]:
            book = adapter.books[event.symbol]
            if isinstance(event, BookSnapshot | BookDelta):
                crossed += book.crossed
                tops[event.symbol].append((book.best_bid, book.best_ask))
            elif isinstance(event, Ticker) and adapter.sync[event.symbol].synced:
                tickers.append((event, len(tops[event.symbol])))
            elif isinstance(event, Trade) and adapter.sync[event.symbol].synced:
                trades.append((event, (book.best_bid, book.best_ask)))
    return {"adapter": adapter, "tops": tops, "tickers": tickers, "trades": trades, "crossed": crossed,
            "frames": frames, "l2_frames": l2_frames, "sent": sent}


def test_every_frame_is_in_sequence_and_every_update_applies(replay: dict) -> None:
    adapter: CoinbaseAdapter = replay["adapter"]
    assert replay["frames"] == 1030 and adapter.tracker.expected == 1030 and adapter.tracker.gaps == 0
    rows = [adapter.sync[s] for s in SYMBOLS]
    assert all(r.synced and r.gaps == 0 and r.resyncs == 0 and r.stale == 0 and r.snapshots == 1 for r in rows)
    assert sum(r.snapshots + r.deltas for r in rows) == replay["l2_frames"]
    assert replay["crossed"] == 0


def test_the_recorder_subscribed_one_channel_per_message(replay: dict) -> None:
    assert {m["channel"] for m in replay["sent"]} == {"market_trades", "candles", "ticker", "level2", "heartbeats"}
    assert all(m["type"] == "subscribe" for m in replay["sent"])


def test_full_depth_snapshot_is_rebuilt(replay: dict) -> None:
    book = replay["adapter"].books["BTC-USD"]
    assert len(book) > 40_000  # 46,000 levels in the snapshot, a few come and go after it


def test_tickers_agree_with_the_book(replay: dict) -> None:
    tickers: list[tuple[Ticker, int]] = replay["tickers"]
    assert len(tickers) > 100
    exact = prices = 0
    for ticker, index in tickers:
        nearby = replay["tops"][ticker.symbol][max(0, index - 1 - WINDOW) : index + WINDOW]
        want = ((ticker.bid_price, ticker.bid_size), (ticker.ask_price, ticker.ask_size))
        exact += want in nearby
        prices += any((bid[0], ask[0]) == (ticker.bid_price, ticker.ask_price) for bid, ask in nearby)  # type: ignore[index]
    assert exact / len(tickers) >= 0.95, (exact, len(tickers))
    assert prices / len(tickers) >= 0.99, (prices, len(tickers))


def test_taker_side_matches_where_the_trade_printed(replay: dict) -> None:
    at_ask = [t.side for t, (bid, ask) in replay["trades"] if t.price >= ask[0]]  # type: ignore[index]
    at_bid = [t.side for t, (bid, ask) in replay["trades"] if t.price <= bid[0]]  # type: ignore[index]
    assert len(at_ask) >= 10 and len(at_bid) >= 10
    assert at_ask.count(Side.BUY) / len(at_ask) >= 0.9  # lifting the offer is a taker buy
    assert at_bid.count(Side.SELL) / len(at_bid) >= 0.9
