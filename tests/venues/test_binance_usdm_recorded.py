"""Real Binance USD-M frames (cryptofeed's 2021 capture: 4 perpetuals, ~30 s) and their REST snapshots, served by
``CaptureReplay`` to a ``Feed`` through the real adapter path (``/stream`` socket, ``/fapi/v1/depth`` over HTTP):
every diff after each snapshot applies with no gap, and every ``bookTicker`` that shares an update id with a book
state agrees with the book on both prices and sizes.

The capture subscribed by URL and also took ``kline_1m``, which livefeed does not follow: those frames are left out
of the replay (the adapter would count them malformed). The capture holds no ``exchangeInfo``, so the feed does
not validate its symbols. It predates Binance's routed endpoints (one connection to ``/stream``), so the adapter
runs un-routed.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import orjson

from livefeed import BookDelta, BookSnapshot, Feed
from livefeed.replay import CaptureReplay
from livefeed.sinks.raw_capture import RawRecord

from ..conftest import recorded, until

CONNECTION = "binance-usdm-0"
"""The name the un-routed adapter gives its first connection, which the replay's socket stands in for."""


def _ns(stamp: str) -> int:
    seconds, _, fraction = stamp.partition(".")
    return int(seconds) * 1_000_000_000 + int((fraction + "0" * 9)[:9])


def capture_records(ws: Path, http: Path) -> list[RawRecord]:
    """The cryptofeed capture as raw-capture records in receive order: frames of ``binance-usdm-0`` (no klines) and
    each REST snapshot at the moment it arrived, under the path and query the adapter asks for."""
    records = []
    for line in ws.read_text().splitlines():
        if line.startswith("wss://") or not line.strip():
            continue
        stamp, _, payload = line.partition(": ")
        if '@kline_1m"' not in payload[:60]:
            records.append(RawRecord(_ns(stamp), CONNECTION, payload))
    for line in http.read_text().splitlines():
        if not line.strip():
            continue
        url, _, rest = line.partition(" -> ")
        stamp, _, body = rest.partition(": ")
        target = url[url.index("/fapi/"):]
        records.append(RawRecord(_ns(stamp), f"binance:rest 200 {target}", body.encode()))
    return sorted(records, key=lambda r: r.receipt_ns)


def canonical(venue_symbol: str) -> str:
    return f"{venue_symbol.removesuffix('USDT')}-USDT-PERP"


async def test_recorded_usdm_session_applies_every_diff_and_agrees_with_every_matching_book_ticker() -> None:
    records = capture_records(recorded("cryptofeed-BINANCE_FUTURES.ws.1.0"),
                              recorded("cryptofeed-BINANCE_FUTURES.http.0.0"))
    snapshot_ids = {canonical(r.source.split("symbol=")[1].split("&")[0]): orjson.loads(r.frame)["lastUpdateId"]
                    for r in records if r.is_rest}
    diffs: dict[str, list[int]] = defaultdict(list)
    tickers: list[dict] = []
    aggtrades = 0
    for r in records:
        if r.is_rest:
            continue
        data = orjson.loads(r.frame)["data"]
        if data["e"] == "depthUpdate":
            diffs[canonical(data["s"])].append(data["u"])
        elif data["e"] == "bookTicker":
            tickers.append(data)
        else:
            aggtrades += 1
    symbols = sorted(snapshot_ids)
    assert len(symbols) == 4

    states: dict[tuple[str, int], tuple[float, float, float, float]] = {}
    crossed: list[str] = []

    async with CaptureReplay(records) as replay:
        feed = Feed([f"binance:{s}" for s in symbols], channels=["trades", "book", "ticker"],
                    endpoints={"binance-usdm": replay}, validate=False,
                    venue_options={"binance-usdm": {"open_interest_every": 0, "routed": False}})

        def record(event: object) -> None:
            if isinstance(event, BookDelta | BookSnapshot):
                book = feed.books[("binance", event.symbol)]
                (bid, bid_size), (ask, ask_size) = book.best_bid, book.best_ask  # type: ignore[misc]
                states[(event.symbol, event.sequence)] = (bid, bid_size, ask, ask_size)  # type: ignore[index]
                if book.crossed:
                    crossed.append(f"{event.symbol} at {event.sequence}")

        feed.add_callback(record)
        async with feed:
            last = {s: diffs[s][-1] for s in symbols}
            await until(feed, lambda: all(feed.books[("binance", s)].sequence == last[s] for s in symbols),
                        timeout=60, what="the last recorded diff of every symbol")
            await until(feed, lambda: feed.trades.total == aggtrades and feed.tickers.total == len(tickers),
                        timeout=30, what="every aggTrade and bookTicker")
            stats = feed.book_stats().set_index("symbol")
            malformed = int(feed.stats()["malformed"].sum())

    assert crossed == [] and malformed == 0
    applied = 0
    for s in symbols:
        row = stats.loc[s]
        assert (row["gaps"], row["resyncs"], row["snapshots"]) == (0, 0, 1), s
        expected = sum(1 for u in diffs[s] if u >= snapshot_ids[s])  # u == lastUpdateId applies (U <= L <= u)
        assert row["deltas"] == expected, s
        applied += expected
    matched = [t for t in tickers if (canonical(t["s"]), t["u"]) in states]
    assert len(matched) >= 20, "too few bookTickers share an update id with a book state to prove anything"
    disagree = [(t["s"], t["u"]) for t in matched if states[(canonical(t["s"]), t["u"])]
                != (float(t["b"]), float(t["B"]), float(t["a"]), float(t["A"]))]
    assert disagree == []
    print(f"binance-usdm recorded: {applied} diffs applied after {len(symbols)} snapshots, 0 gaps; "
          f"{len(matched)} of {len(tickers)} bookTickers share an update id with a book state, all agree")
