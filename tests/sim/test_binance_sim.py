"""BinanceSim speaks Binance spot: URLs, payloads, replies, limits, id numbering, and faults on demand."""

from __future__ import annotations

import asyncio
import itertools
import json

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from livefeed.sim import BinanceSim

pytestmark = pytest.mark.asyncio

STREAMS = "btcusdt@depth@100ms/btcusdt@trade/btcusdt@bookTicker"
T0 = 1_723_161_255_000


@pytest.fixture
async def sim():
    async with BinanceSim(("BTC-USDT",), seed=7, autostep=False, start_time_ms=T0) as s:
        yield s


async def recv_json(ws, timeout: float = 5.0) -> dict:
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def depth_until(ws, last_id: int, local_book=None) -> list[dict]:
    """Read combined frames until the diff with ``u == last_id``; feed diffs to ``local_book`` if given."""
    diffs = []
    while True:
        frame = await recv_json(ws)
        if frame["stream"].endswith("@depth@100ms"):
            diffs.append(frame["data"])
            if local_book is not None:
                local_book.on_diff(frame["data"])
            if frame["data"]["u"] == last_id:
                return diffs


# -- REST ------------------------------------------------------------------------------------------------------------
async def test_rest_depth_exchange_info_and_errors(sim):
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        r = await http.get("/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5000})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        body = r.json()
        assert list(body) == ["lastUpdateId", "bids", "asks"] and body["lastUpdateId"] == sim.last_update_id("BTC-USDT")
        assert body == sim.market("BTC-USDT").snapshot(5000)
        r = await http.get("/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5})
        assert len(r.json()["bids"]) == len(r.json()["asks"]) == 5

        r = await http.get("/api/v3/depth", params={"symbol": "NOPEUSDT"})
        assert (r.status_code, r.json()) == (400, {"code": -1121, "msg": "Invalid symbol."})
        r = await http.get("/api/v3/depth")
        assert r.status_code == 400 and r.json()["code"] == -1102
        r = await http.get("/api/v3/depth", params={"symbol": "BTCUSDT", "limit": "many"})
        assert r.status_code == 400 and r.json()["code"] == -1100

        info = (await http.get("/api/v3/exchangeInfo")).json()
        assert info["timezone"] == "UTC" and isinstance(info["serverTime"], int)
        (btc,) = info["symbols"]
        assert (btc["symbol"], btc["status"], btc["baseAsset"], btc["quoteAsset"]) == (
            "BTCUSDT",
            "TRADING",
            "BTC",
            "USDT",
        )
        filters = {f["filterType"]: f for f in btc["filters"]}
        assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
        assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
        r = await http.get("/api/v3/exchangeInfo", params={"symbol": "NOPEUSDT"})
        assert r.json() == {"code": -1121, "msg": "Invalid symbol."}
    assert sim.rest_requests["/api/v3/depth"] == 5


async def test_default_symbols_and_any_usdt_pair():
    async with BinanceSim(seed=1, autostep=False) as default, BinanceSim(("DOGE-USDT",), autostep=False) as doge:
        assert list(default.markets) == ["BTC-USDT", "ETH-USDT"]
        assert 55_000 < default.market("BTC-USDT").best_bid_ask()[0] < 65_000
        assert doge.last_update_id("DOGE-USDT") == doge.last_update_id("DOGEUSDT")
        async with httpx.AsyncClient() as http:
            r = await http.get(f"{doge.rest_url}/api/v3/depth?symbol=DOGEUSDT&limit=10")
            assert r.status_code == 200 and len(r.json()["asks"]) == 10
        assert default.ws_url == f"ws://127.0.0.1:{default.port}"
        assert default.rest_url == f"http://127.0.0.1:{default.port}"


# -- streams ---------------------------------------------------------------------------------------------------------
async def test_combined_stream_payloads_and_contiguous_ids(sim):
    async with connect(f"{sim.ws_url}/stream?streams={STREAMS}") as ws:
        await sim.wait_for_connections(1)
        start_id = sim.last_update_id("BTC-USDT")
        await sim.step(40)
        frames, last_u = [], start_id
        while last_u != sim.last_update_id("BTC-USDT"):
            frame = await recv_json(ws)
            frames.append(frame)
            if frame["stream"] == "btcusdt@depth@100ms":
                last_u = frame["data"]["u"]
    kinds = {f["stream"] for f in frames}
    assert kinds == {"btcusdt@depth@100ms", "btcusdt@trade", "btcusdt@bookTicker"}
    diffs = [f["data"] for f in frames if f["stream"] == "btcusdt@depth@100ms"]
    assert len(diffs) == 40 and diffs[0]["U"] == start_id + 1
    for prev, cur in itertools.pairwise(diffs):
        assert cur["U"] == prev["u"] + 1
    d = diffs[0]
    assert list(d) == ["e", "E", "s", "U", "u", "b", "a"] and (d["e"], d["s"], d["E"]) == (
        "depthUpdate",
        "BTCUSDT",
        T0 + 100,
    )
    trade = next(f["data"] for f in frames if f["stream"] == "btcusdt@trade")
    assert list(trade) == ["e", "E", "s", "t", "p", "q", "T", "m", "M"] and trade["M"] is True
    ticker = next(f["data"] for f in frames if f["stream"] == "btcusdt@bookTicker")
    assert list(ticker) == ["u", "s", "b", "B", "a", "A"]
    # Every bookTicker arrives before the diff batch that contains its id, as on the real feed.
    batch_end = start_id
    for f in frames:
        if f["stream"] == "btcusdt@bookTicker":
            assert f["data"]["u"] > batch_end
        elif f["stream"] == "btcusdt@depth@100ms":
            batch_end = f["data"]["u"]


async def test_snapshot_plus_diffs_by_binance_rules_equals_true_book(sim, local_book):
    book = local_book()
    async with connect(f"{sim.ws_url}/stream?streams={STREAMS}") as ws, httpx.AsyncClient() as http:
        await sim.wait_for_connections(1)
        await sim.step(5)  # buffered before the snapshot, all to be dropped
        await depth_until(ws, sim.last_update_id("BTC-USDT"), book)
        await sim.step(3)  # in flight while the snapshot is fetched
        r = await http.get(f"{sim.rest_url}/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5000})
        await depth_until(ws, sim.last_update_id("BTC-USDT"), book)
        book.on_snapshot(r.json())
        await sim.step(50)
        await depth_until(ws, sim.last_update_id("BTC-USDT"), book)
    assert book.last_id == sim.last_update_id("BTC-USDT")
    assert book.applied == 50
    assert book.as_floats() == sim.true_book("BTC-USDT")


async def test_trades_match_the_diffs_they_caused(sim):
    async with connect(f"{sim.ws_url}/stream?streams={STREAMS}") as ws:
        await sim.wait_for_connections(1)
        await sim.step(60)
        trades, diffs = [], []
        while not diffs or diffs[-1]["u"] != sim.last_update_id("BTC-USDT"):
            frame = await recv_json(ws)
            if frame["stream"].endswith("@trade"):
                trades.append(frame["data"])
            elif frame["stream"].endswith("@depth@100ms"):
                diffs.append(frame["data"])
    assert trades
    assert [t["t"] for t in trades] == list(range(trades[0]["t"], trades[0]["t"] + len(trades)))
    for t in trades:
        # The level the taker hit is in the next diff batch, on the maker's side (m=true -> bids).
        batch = next(d for d in diffs if d["E"] >= t["E"])
        assert t["p"] in {p for p, _ in (batch["b"] if t["m"] else batch["a"])}


async def test_raw_stream_and_1000ms_depth_and_partial_depth(sim):
    async with connect(f"{sim.ws_url}/ws/btcusdt@depth") as raw, connect(f"{sim.ws_url}/ws/btcusdt@depth5") as p5:
        await sim.wait_for_connections(2)
        start = sim.last_update_id("BTC-USDT")
        await sim.step(20)  # 1000 ms at interval 0.1: two aggregated diffs
        first, second = await recv_json(raw), await recv_json(raw)
        assert first["e"] == "depthUpdate" and "stream" not in first
        assert first["U"] == start + 1 and second["U"] == first["u"] + 1
        assert second["u"] == sim.last_update_id("BTC-USDT")
        partial = [await recv_json(p5), await recv_json(p5)]  # also every 1000 ms
        assert list(partial[0]) == ["lastUpdateId", "bids", "asks"] and len(partial[0]["bids"]) == 5
        assert partial[1] == {
            "lastUpdateId": second["u"],
            **{k: v[:5] for k, v in sim.market("BTC-USDT").snapshot(5).items() if k != "lastUpdateId"},
        }


async def test_same_seed_same_frames():
    async def capture() -> list[str]:
        sim = BinanceSim(("BTC-USDT", "ETH-USDT"), seed=42, autostep=False, start_time_ms=T0)
        async with sim, connect(f"{sim.ws_url}/stream?streams={STREAMS}/ethusdt@depth@100ms") as ws:
            await sim.wait_for_connections(1)
            await sim.step(15)
            out = []
            while len([f for f in out if "depth" in f]) < 30:
                out.append(await asyncio.wait_for(ws.recv(), 5))
            return out

    assert await capture() == await capture()


async def test_autostep_clock_pause_and_resume():
    sim = BinanceSim(("BTC-USDT",), interval=0.01)
    async with sim, connect(f"{sim.ws_url}/ws/btcusdt@depth@100ms") as ws:
        diffs = [await recv_json(ws) for _ in range(3)]
        assert diffs[1]["U"] == diffs[0]["u"] + 1 and diffs[2]["U"] == diffs[1]["u"] + 1
        sim.pause()
        paused_at = sim.last_update_id("BTC-USDT")
        await sim.step(1)  # manual steps still work while paused
        manual = sim.last_update_id("BTC-USDT")
        assert manual > paused_at
        sim.resume()
        while (await recv_json(ws))["u"] <= manual:  # frames past the manual step come from the clock again
            pass


# -- control messages ------------------------------------------------------------------------------------------------
async def test_live_subscribe_list_unsubscribe_and_errors(sim):
    async with connect(f"{sim.ws_url}/stream") as ws:
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade", "btcusdt@depth@100ms"], "id": 1}))
        assert await recv_json(ws) == {"result": None, "id": 1}
        await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
        assert await recv_json(ws) == {"result": ["btcusdt@trade", "btcusdt@depth@100ms"], "id": 3}
        await ws.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 312}))
        assert await recv_json(ws) == {"result": None, "id": 312}
        await sim.step(1)
        frame = await recv_json(ws)
        assert frame["stream"] == "btcusdt@depth@100ms"

    async with connect(f"{sim.ws_url}/ws") as ws:  # fresh connection: the 5 msg/s budget is per connection
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": ["BTCUSDT@nonsense"], "id": 4}))
        assert await recv_json(ws) == {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 4}
        await ws.send(json.dumps({"method": "FROB", "id": 5}))
        error = await recv_json(ws)
        assert error["id"] == 5 and error["error"]["code"] == 2 and "unknown variant `FROB`" in error["error"]["msg"]
        await ws.send("{not json")
        error = await recv_json(ws)
        assert error["id"] is None and error["error"]["code"] == 3
        await ws.send(json.dumps({"method": "SET_PROPERTY", "params": ["combined", True], "id": "abc"}))
        assert await recv_json(ws) == {"result": None, "id": "abc"}
        await ws.send(json.dumps({"method": "GET_PROPERTY", "params": ["combined"], "id": 6}))
        assert await recv_json(ws) == {"result": True, "id": 6}


async def test_more_than_1024_streams_is_an_error(sim):
    async with connect(f"{sim.ws_url}/stream") as ws:
        many = [f"sym{i}usdt@trade" for i in range(1025)]
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": many, "id": 9}))
        reply = await recv_json(ws)
        assert reply["id"] == 9 and reply["error"]["code"] == 2
        await ws.send(json.dumps({"method": "SUBSCRIBE", "params": many[:1024], "id": 10}))
        assert await recv_json(ws) == {"result": None, "id": 10}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{sim.ws_url}/stream?streams=" + "/".join(many)):
            pass
    assert refused.value.response.status_code in (400, 414)  # 1025 names do not even fit in a request line


async def test_more_than_5_messages_per_second_closes_the_connection(sim):
    async with connect(f"{sim.ws_url}/stream") as ws:
        for i in range(6):
            await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
        with pytest.raises(ConnectionClosed):
            while True:
                await recv_json(ws)
        assert ws.close_code == 1008 and ws.close_reason == "Too many requests"
    assert sim.fault_counts["rate_limit"] == 1


async def test_unknown_path_and_invalid_stream_in_url_are_refused(sim):
    for path in ("/nope", "/stream?streams=btcusdt@bogus"):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(sim.ws_url + path):
                pass
        assert refused.value.response.status_code in (400, 404)


# -- faults ------------------------------------------------------------------------------------------------------------
async def test_drop_connections_aborts_without_close_frame(sim):
    async with connect(f"{sim.ws_url}/stream?streams={STREAMS}") as a, connect(f"{sim.ws_url}/ws/btcusdt@trade") as b:
        await sim.wait_for_connections(2)
        sim.drop_connections()
        for ws in (a, b):
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 1006  # abnormal closure: no close frame was received
    assert sim.fault_counts["drop_connections"] == 2


async def test_stall_keeps_socket_open_answers_pings_and_loses_frames(sim):
    async with connect(f"{sim.ws_url}/ws/btcusdt@depth@100ms") as ws:
        await sim.wait_for_connections(1)
        await sim.step(1)
        before = await recv_json(ws)
        sim.stall(True)
        await sim.step(3)
        await asyncio.wait_for(await ws.ping(), 5)  # the socket is alive while no data flows
        assert sim.fault_counts["stall"] == 3
        sim.stall(False)
        await sim.step(1)
        after = await recv_json(ws)
        assert after["U"] > before["u"] + 1  # the stalled diffs are gone: the client must resync
        assert after["u"] == sim.last_update_id("BTC-USDT")


async def test_skip_updates_creates_a_gap_the_reference_client_detects(sim, local_book):
    book = local_book()
    async with connect(f"{sim.ws_url}/stream?streams={STREAMS}") as ws, httpx.AsyncClient() as http:
        await sim.wait_for_connections(1)
        r = await http.get(f"{sim.rest_url}/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5000})
        book.on_snapshot(r.json())
        await sim.step(2)
        await depth_until(ws, sim.last_update_id("BTC-USDT"), book)
        sim.skip_updates(2)
        await sim.step(3)
        with pytest.raises(local_book.Gap):
            await depth_until(ws, sim.last_update_id("BTC-USDT"), book)
        assert sim.fault_counts["skip_updates"] == 2
        # Resync while the socket stays up, as the procedure says: new snapshot, then the stream continues.
        book = local_book()
        await sim.step(1)
        r = await http.get(f"{sim.rest_url}/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5000})
        book.on_snapshot(r.json())
        await sim.step(4)
        await depth_until(ws, sim.last_update_id("BTC-USDT"), book)
        assert book.as_floats() == sim.true_book("BTC-USDT")


async def test_send_malformed_garbles_the_next_frames(sim):
    async with connect(f"{sim.ws_url}/ws/btcusdt@depth@100ms") as ws:
        await sim.wait_for_connections(1)
        sim.send_malformed(2)
        await sim.step(3)
        bad = [await asyncio.wait_for(ws.recv(), 5) for _ in range(2)]
        for text in bad:
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(text)
        good = await recv_json(ws)
        assert good["e"] == "depthUpdate"
    assert sim.fault_counts["send_malformed"] == 2


async def test_refuse_connections_answers_503_while_rest_keeps_working(sim):
    sim.refuse_connections(60)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{sim.ws_url}/stream?streams={STREAMS}"):
            pass
    assert refused.value.response.status_code == 503
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{sim.rest_url}/api/v3/depth?symbol=BTCUSDT")).status_code == 200
    sim.refuse_connections(0)
    async with connect(f"{sim.ws_url}/stream?streams={STREAMS}"):
        await sim.wait_for_connections(1)
    assert sim.fault_counts["refuse_connections"] == 1


async def test_slow_client_overflows_its_queue_and_is_dropped_with_1008():
    async with BinanceSim(("BTC-USDT",), seed=3, autostep=False, send_queue=8) as s:
        async with connect(f"{s.ws_url}/stream?streams={STREAMS}") as slow:
            await s.wait_for_connections(1)
            s.slow_client(0.05)
            await s.step(30)  # returns at once: the market never waits for a reader
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(slow.recv(), 5)
            assert slow.close_code == 1008
        assert s.fault_counts["slow_client"] == 1


async def test_server_drops_a_client_that_never_answers_pings():
    async with BinanceSim(("BTC-USDT",), autostep=False, ping_interval=0.05, ping_timeout=0.1) as s:
        # A raw TCP client that completes the upgrade and then never reads, so never pongs.
        reader, writer = await asyncio.open_connection("127.0.0.1", s.port)
        writer.write(
            b"GET /ws/btcusdt@trade HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert (await reader.readline()).startswith(b"HTTP/1.1 101")
        await s.wait_for_connections(1)
        while await asyncio.wait_for(reader.read(4096), 5):  # pings, then the 1011 close, then EOF
            pass
        writer.close()
        await writer.wait_closed()


async def test_stop_leaves_no_tasks_behind():
    before = asyncio.all_tasks()
    s = BinanceSim(("BTC-USDT",), interval=0.01)
    await s.start()
    async with connect(f"{s.ws_url}/stream?streams={STREAMS}") as ws:
        await s.wait_for_connections(1)
        await ws.recv()
        await s.stop()
    assert asyncio.all_tasks() - before == set()
