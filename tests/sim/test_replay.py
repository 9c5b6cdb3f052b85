"""BinanceReplay serves a real 2024-08-08 BTCUSDT capture as the recorder saw it, snapshot hold-back included."""

from __future__ import annotations

import asyncio
import time

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from livefeed.sim.replay import BinanceReplay, load_recording

from ..conftest import recorded

pytestmark = pytest.mark.asyncio

ALL = "btcusdt@depth@100ms/btcusdt@trade/btcusdt@bookTicker"
# Clients below that stop reading early use max_queue=None: a websockets client whose queue is full stops reading
# the socket, and its close handshake then waits out close_timeout (10 s) behind the unread frames.


@pytest.fixture(scope="module")
def recording():
    return load_recording(recorded("binance-spot-btcusdt-20240808.jsonl.gz"))


async def test_recording_shape(recording):
    streams = {f.stream for f in recording.frames}
    assert streams == {"btcusdt@depth@100ms", "btcusdt@trade", "btcusdt@bookTicker"}
    assert recording.symbol == "BTCUSDT" and recording.snapshot_index == 7
    assert orjson.loads(recording.snapshot)["lastUpdateId"] == 50093239218


async def test_frames_after_the_snapshot_wait_for_the_client_to_fetch_it(recording, local_book):
    book = local_book()
    async with (
        BinanceReplay(recording) as replay,
        connect(f"{replay.ws_url}/stream?streams={ALL}", max_queue=None) as ws,
    ):
        early = [orjson.loads(await ws.recv()) for _ in range(recording.snapshot_index)]
        assert [f["stream"] for f in early] == [f.stream for f in recording.frames[:7]]
        with pytest.raises(TimeoutError):  # held back: the recorder fetched its snapshot at this point
            await asyncio.wait_for(ws.recv(), 0.2)
        assert replay.frames_sent == 7
        for frame in early:
            if frame["stream"].endswith("@depth@100ms"):
                book.on_diff(frame["data"])
        async with httpx.AsyncClient() as http:
            r = await http.get(f"{replay.rest_url}/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5000})
        assert r.content == recording.snapshot
        book.on_snapshot(r.json())
        # The buffered (U=..208, u=..224) batch straddles lastUpdateId+1 = ..219: the real-data case of the rule.
        assert book.last_id == 50093239224
        nxt = orjson.loads(await ws.recv())
        assert nxt["stream"] == recording.frames[7].stream


async def test_whole_depth_stream_applies_cleanly_and_matches_real_book_tickers(recording, local_book):
    tickers = {}
    for f in recording.frames:
        if f.stream.endswith("@bookTicker"):
            data = orjson.loads(f.data)
            tickers[data["u"]] = (data["b"], data["B"], data["a"], data["A"])
    book, checked = local_book(), 0
    async with BinanceReplay(recording) as replay, connect(f"{replay.ws_url}/stream?streams=btcusdt@depth@100ms") as ws:
        async with httpx.AsyncClient() as http:
            r = await http.get(f"{replay.rest_url}/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5000})
        book.on_snapshot(r.json())
        expected = sum(1 for f in recording.frames if f.stream == "btcusdt@depth@100ms")
        for _ in range(expected):
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            book.on_diff(frame["data"])
            if book.last_id in tickers:
                # Same id, same top of book: the replayed diffs rebuild the exchange's real book.
                bid, bid_qty, ask, ask_qty = book.best()
                assert (bid, bid_qty, ask, ask_qty) == tickers[book.last_id]
                checked += 1
        await asyncio.wait_for(replay.done.wait(), 5)
        assert replay.frames_sent == expected
    assert checked > 100
    assert book.applied > 3000


async def test_raw_path_unwraps_payloads_and_exchange_info_lists_btcusdt(recording):
    trades = [f for f in recording.frames if f.stream == "btcusdt@trade"]
    async with (
        BinanceReplay(recording, hold_for_snapshot=False) as replay,
        connect(f"{replay.ws_url}/ws/btcusdt@trade", max_queue=None) as ws,
    ):
        first = await ws.recv()
        assert first.encode() == trades[0].data and orjson.loads(first)["e"] == "trade"
        async with httpx.AsyncClient() as http:
            info = (await http.get(f"{replay.rest_url}/api/v3/exchangeInfo")).json()
            bad = await http.get(f"{replay.rest_url}/api/v3/depth", params={"symbol": "ETHUSDT"})
            short = (await http.get(f"{replay.rest_url}/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5})).json()
        assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT"]
        assert (bad.status_code, bad.json()["code"]) == (400, -1121)
        assert len(short["bids"]) == 5 and short["lastUpdateId"] == replay.snapshot_last_update_id


async def test_live_subscribe_starts_the_replay_and_speed_keeps_recorded_spacing(recording):
    depth = [f for f in recording.frames if f.stream == "btcusdt@depth@100ms"]
    span = (recording.frames[-1].received_ns - recording.frames[0].received_ns) / 1e9
    speed = span / 0.3  # the whole capture in ~0.3 s
    async with (
        BinanceReplay(recording, speed=speed, hold_for_snapshot=False) as replay,
        connect(f"{replay.ws_url}/stream") as ws,
    ):
        started = time.monotonic()
        await ws.send(orjson.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 1}).decode())
        assert orjson.loads(await ws.recv()) == {"result": None, "id": 1}
        for _ in depth:
            await asyncio.wait_for(ws.recv(), 5)
        await asyncio.wait_for(replay.done.wait(), 5)
        assert time.monotonic() - started >= 0.25  # paced, not flooded (a lower bound, so never flaky)


async def test_the_recording_is_always_named_there_is_no_default_file():
    with pytest.raises(TypeError, match="path"):
        BinanceReplay()  # type: ignore[call-arg]
