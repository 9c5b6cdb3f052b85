"""A real 2024-08-08 BTCUSDT recording, converted to raw-capture records and served by ``CaptureReplay`` as the
recorder saw it, snapshot hold-back included."""

from __future__ import annotations

import asyncio
import gzip
import time
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from livefeed.replay import CaptureReplay
from livefeed.sim.binance_recording import CONNECTION, recording_to_capture
from livefeed.sinks.raw_capture import RawRecord

from ..conftest import recorded

STREAMS = "/stream?streams=btcusdt@depth@100ms/btcusdt@trade/btcusdt@bookTicker"
# Clients below that stop reading early use max_queue=None: a websockets client whose queue is full stops reading
# the socket, and its close handshake then waits out close_timeout (10 s) behind the unread frames.


@pytest.fixture(scope="module")
def records() -> list[RawRecord]:
    return recording_to_capture(recorded("binance-spot-btcusdt-20240808.jsonl.gz"))


def frames_of(records: list[RawRecord]) -> list[dict]:
    return [orjson.loads(r.frame) for r in records if not r.is_rest]


def snapshot_of(records: list[RawRecord]) -> bytes:
    (body,) = [r.frame for r in records if r.source.startswith("binance:rest 200 /api/v3/depth")]
    assert isinstance(body, bytes)
    return body


async def test_every_recorded_line_becomes_one_record_in_order(records):
    path = recorded("binance-spot-btcusdt-20240808.jsonl.gz")
    lines = [line.split(b" ", 1) for line in gzip.decompress(path.read_bytes()).splitlines() if line.strip()]
    assert records[0].source == "binance:rest 200 /api/v3/exchangeInfo"
    assert [(r.receipt_ns, r.frame if r.is_rest else r.frame.encode()) for r in records[1:]] == [
        (int(stamp), raw) for stamp, raw in lines
    ]
    assert {r.source for r in records[1:] if not r.is_rest} == {CONNECTION}
    assert [i for i, r in enumerate(records) if r.is_rest] == [0, 8]  # the snapshot was fetched after 7 frames
    assert {f["stream"] for f in frames_of(records)} == {"btcusdt@depth@100ms", "btcusdt@trade", "btcusdt@bookTicker"}
    assert orjson.loads(snapshot_of(records))["lastUpdateId"] == 50093239218


async def test_frames_after_the_snapshot_wait_for_the_client_to_fetch_it(records, local_book):
    book, frames = local_book(), frames_of(records)
    async with CaptureReplay(records) as replay, connect(f"{replay.ws_url}{STREAMS}", max_queue=None) as ws:
        early = [orjson.loads(await ws.recv()) for _ in range(7)]
        assert early == frames[:7]
        with pytest.raises(TimeoutError):  # held back: the recorder fetched its snapshot at this point
            await asyncio.wait_for(ws.recv(), 0.2)
        assert replay.frames_sent == 7
        for frame in early:
            if frame["stream"].endswith("@depth@100ms"):
                book.on_diff(frame["data"])
        async with httpx.AsyncClient() as http:
            r = await http.get(f"{replay.rest_url}/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5000})
        assert r.content == snapshot_of(records)
        book.on_snapshot(r.json())
        # The buffered (U=..208, u=..224) batch straddles lastUpdateId+1 = ..219: the real-data case of the rule.
        assert book.last_id == 50093239224
        assert orjson.loads(await ws.recv()) == frames[7]


async def test_whole_depth_stream_applies_cleanly_and_matches_real_book_tickers(records, local_book):
    frames = frames_of(records)
    tickers = {f["data"]["u"]: tuple(f["data"][k] for k in "bBaA") for f in frames if f["stream"].endswith("@bookTicker")}
    book, checked, depth = local_book(), 0, 0
    async with CaptureReplay(records) as replay, connect(f"{replay.ws_url}{STREAMS}", max_queue=None) as ws:
        async with httpx.AsyncClient() as http:
            r = await http.get(f"{replay.rest_url}/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5000})
        book.on_snapshot(r.json())
        for _ in range(len(frames)):
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            if not frame["stream"].endswith("@depth@100ms"):
                continue
            depth += 1
            book.on_diff(frame["data"])
            if book.last_id in tickers:
                # Same id, same top of book: the replayed diffs rebuild the exchange's real book.
                assert book.best() == tickers[book.last_id]
                checked += 1
        await asyncio.wait_for(replay.done.wait(), 5)
        assert replay.frames_sent == len(frames)
    assert depth == sum(1 for f in frames if f["stream"] == "btcusdt@depth@100ms")
    assert checked > 100
    assert book.applied > 3000


async def test_exchange_info_lists_the_recorded_symbol_and_other_paths_are_not_served(records):
    async with CaptureReplay(records, hold=False) as replay, httpx.AsyncClient() as http:
        info = (await http.get(f"{replay.rest_url}/api/v3/exchangeInfo")).json()
        missing = await http.get(f"{replay.rest_url}/api/v3/ticker/price", params={"symbol": "BTCUSDT"})
    (symbol,) = info["symbols"]
    assert (symbol["symbol"], symbol["status"], symbol["baseAsset"], symbol["quoteAsset"]) == (
        "BTCUSDT", "TRADING", "BTC", "USDT")
    assert info["serverTime"] == records[0].receipt_ns // 1_000_000
    assert missing.status_code == 404


async def test_speed_keeps_recorded_spacing(records):
    span = (records[-1].receipt_ns - records[1].receipt_ns) / 1e9
    async with CaptureReplay(records, speed=span / 0.3, hold=False) as replay:  # the whole recording in ~0.3 s
        started = time.monotonic()
        async with connect(replay.ws_url + "/stream", max_queue=None) as ws:
            for _ in range(replay.total_frames):
                await asyncio.wait_for(ws.recv(), 5)
            await asyncio.wait_for(replay.done.wait(), 5)
        assert time.monotonic() - started >= 0.25  # paced, not flooded (a lower bound, so never flaky)


def test_a_file_that_is_not_a_recording_is_refused_naming_the_line(tmp_path: Path):
    frame = b'1 {"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT"}}'
    snapshot = b'2 {"lastUpdateId":1,"bids":[],"asks":[]}'
    cases = {
        "no-snapshot": (frame, "no /api/v3/depth snapshot"),
        "junk": (frame + b"\n2 {\"result\":null,\"id\":1}", "line 2 is neither"),
        "no-stamp": (b'x {"lastUpdateId":1}\n' + frame, "line 1 does not start with a receive time"),
        "no-frames": (snapshot, "no combined-stream frame"),
        "unknown-symbol": (frame.replace(b"BTCUSDT", b"XYZUSDT") + b"\n" + snapshot, "'XYZUSDT' has no simulator spec"),
    }
    for name, (body, message) in cases.items():
        path = tmp_path / f"{name}.jsonl.gz"
        path.write_bytes(gzip.compress(body))
        with pytest.raises(ValueError, match=message):
            recording_to_capture(path)
