"""Real Kraken frames (cryptofeed's 2021 WebSocket v1 captures) through the adapter's v1 parsers.

Only v1 data exists and these two captures hold trade and ticker channels only (no book frames, so no checksum
can be replayed from them): every data frame must parse to sane events for a subscribed pair, in time order with
the recorder's clock.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from livefeed.model import Side, Ticker, Trade
from livefeed.venues.kraken import canonical_symbol, parse_ticker_v1, parse_trade_v1

from ..conftest import recorded

_NS = 1_000_000_000


def frames(path: Path) -> tuple[list[str], list[tuple[int, object]]]:
    """``(pairs subscribed, [(receipt ns, decoded frame)])`` from cryptofeed's ``<time>: <payload>`` lines."""
    pairs: list[str] = []
    received = []
    for line in path.read_text().splitlines():
        if line.startswith("wss://"):
            _, _, sent = line.partition(": ")
            if sent:
                pairs += orjson.loads(sent)["pair"]
            continue
        if not line.strip():
            continue
        stamp, _, payload = line.partition(": ")
        seconds, _, fraction = stamp.partition(".")
        received.append((int(seconds) * _NS + int((fraction + "0" * 9)[:9]), orjson.loads(payload)))
    return pairs, received


def replay(name: str, channel: str) -> tuple[list[Trade | Ticker], dict[str, int]]:
    pairs, received = frames(recorded(name))
    symbols = {canonical_symbol(p) for p in pairs}
    events: list[Trade | Ticker] = []
    control: dict[str, int] = {}
    for receipt_ns, frame in received:
        if isinstance(frame, dict):
            control[frame["event"]] = control.get(frame["event"], 0) + 1
            continue
        assert isinstance(frame, list) and frame[-2] == channel, frame
        if channel == "trade":
            batch: list[Trade | Ticker] = list(parse_trade_v1(frame, receipt_ns))
        else:
            batch = [parse_ticker_v1(frame, receipt_ns)]
        assert batch and all(e.symbol in symbols for e in batch)
        events += batch
    return events, control


def test_no_book_frames_in_these_captures() -> None:
    for name in ("cryptofeed-KRAKEN.ws.48.0", "cryptofeed-KRAKEN.ws.49.0"):
        _, received = frames(recorded(name))
        names = {f[-2] for _, f in received if isinstance(f, list)}
        assert not any(str(n).startswith("book") for n in names), names


def test_recorded_trades_parse_sanely() -> None:
    events, control = replay("cryptofeed-KRAKEN.ws.48.0", "trade")
    assert control == {"systemStatus": 1, "subscriptionStatus": 10, "heartbeat": 30}
    assert len(events) == 10  # from 8 frames: some carry several trades
    for trade in events:
        assert isinstance(trade, Trade)
        assert trade.price > 0 and trade.size > 0 and trade.side in (Side.BUY, Side.SELL)
        assert trade.exchange_ts is not None
        assert 0 <= trade.receipt_ts - trade.exchange_ts < 60 * _NS  # traded shortly before it was received
    assert {t.side for t in events} == {Side.BUY, Side.SELL}


def test_recorded_tickers_parse_sanely() -> None:
    events, control = replay("cryptofeed-KRAKEN.ws.49.0", "ticker")
    assert control == {"systemStatus": 1, "subscriptionStatus": 10, "heartbeat": 31}
    assert len(events) == 18
    for ticker in events:
        assert isinstance(ticker, Ticker)
        assert 0 < ticker.bid_price < ticker.ask_price, ticker  # never crossed
        assert ticker.bid_size > 0 and ticker.ask_size > 0
        assert ticker.extra["low"] <= ticker.extra["last"] <= ticker.extra["high"]


@pytest.mark.parametrize("name", ["cryptofeed-KRAKEN.ws.48.0", "cryptofeed-KRAKEN.ws.49.0"])
def test_receipt_times_never_go_backwards(name: str) -> None:
    _, received = frames(recorded(name))
    times = [t for t, _ in received]
    assert times == sorted(times)
