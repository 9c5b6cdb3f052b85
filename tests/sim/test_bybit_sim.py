"""BybitSim speaks Bybit v5 public spot: path, op requests and replies, snapshot-then-delta with ``u + 1``, the
10-args limit, ping/pong, the idle rule, REST listing, and faults on demand."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from livefeed.sim.bybit import BybitSim

T0 = 1_786_310_816_000
BOOK = "orderbook.50.BTCUSDT"


@pytest.fixture
async def sim():
    async with BybitSim(("BTC-USDT",), seed=7, autostep=False, start_time_ms=T0) as s:
        yield s


async def recv(ws, timeout: float = 5.0) -> dict:
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def subscribe(ws, *topics: str, req_id: str | None = None) -> dict:
    message: dict = {"op": "subscribe", "args": list(topics)}
    if req_id is not None:
        message["req_id"] = req_id
    await ws.send(orjson.dumps(message).decode())
    return await recv(ws)


class Mirror:
    """A reference client written from the docs alone: snapshot resets, deltas need ``u == previous + 1``."""

    def __init__(self) -> None:
        self.u: int | None = None
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}

    def on(self, message: dict) -> None:
        data = message["data"]
        if message["type"] == "snapshot":
            self.bids, self.asks = dict(data["b"]), dict(data["a"])
        else:
            assert data["u"] == self.u + 1, (self.u, data["u"])  # type: ignore[operator]
            for side, changes in ((self.bids, data["b"]), (self.asks, data["a"])):
                for price, size in changes:
                    if size == "0":
                        side.pop(price, None)
                    else:
                        side[price] = size
        self.u = data["u"]

    def floats(self) -> dict:
        return {"bids": {float(p): float(q) for p, q in self.bids.items()},
                "asks": {float(p): float(q) for p, q in self.asks.items()}}


async def next_where(ws, predicate) -> dict:
    """The next frame that matches, skipping stream frames still queued ahead of it."""
    while True:
        message = await recv(ws)
        if predicate(message):
            return message


async def follow(ws, mirror: Mirror, until_u: int) -> list[dict]:
    seen = []
    while mirror.u != until_u:
        message = await recv(ws)
        if message.get("topic") == BOOK:
            mirror.on(message)
            seen.append(message)
    return seen


# -- REST ------------------------------------------------------------------------------------------------------------
async def test_rest_listing_time_and_errors(sim: BybitSim) -> None:
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        body = (await http.get("/v5/market/instruments-info", params={"category": "spot"})).json()
        assert body["retCode"] == 0 and body["retMsg"] == "OK"
        [item] = body["result"]["list"]
        assert (item["symbol"], item["baseCoin"], item["quoteCoin"], item["status"]) == (
            "BTCUSDT", "BTC", "USDT", "Trading")
        assert item["priceFilter"]["tickSize"] == "0.01"
        wrong = (await http.get("/v5/market/instruments-info", params={"category": "futures"})).json()
        assert wrong["retCode"] == 10001  # Bybit reports request errors inside an HTTP 200
        assert int((await http.get("/v5/market/time")).json()["result"]["timeSecond"]) > 0
        assert (await http.get("/v5/market/nope")).status_code == 404


async def test_only_the_spot_path_upgrades(sim: BybitSim) -> None:
    assert sim.ws_url.endswith("/v5/public/spot")
    with pytest.raises(InvalidStatus):
        async with connect(sim.ws_url.replace("/spot", "/linear")):
            pass


# -- subscribe, snapshot, deltas -------------------------------------------------------------------------------------
async def test_subscribe_ack_snapshot_then_contiguous_deltas(sim: BybitSim) -> None:
    async with connect(sim.ws_url) as ws:
        ack = await subscribe(ws, BOOK)
        assert ack["success"] is True and ack["op"] == "subscribe" and ack["ret_msg"] == "subscribe"
        assert "req_id" not in ack and ack["conn_id"]
        snapshot = await recv(ws)
        assert list(snapshot) == ["topic", "ts", "type", "data", "cts"]
        assert snapshot["type"] == "snapshot" and snapshot["data"]["u"] == sim.last_update_id("BTC-USDT")
        bids = [float(p) for p, _ in snapshot["data"]["b"]]
        assert bids == sorted(bids, reverse=True) and len(bids) == 50
        mirror = Mirror()
        mirror.on(snapshot)
        await sim.step(40)
        deltas = await follow(ws, mirror, sim.last_update_id("BTC-USDT"))
        assert deltas and all(d["type"] == "delta" for d in deltas)
        assert mirror.floats() == sim.true_book("BTC-USDT")
        assert len(mirror.bids) == len(mirror.asks) == 50  # levels leaving the top 50 are sent as "0"
        prices = [p for d in deltas for p, _ in d["data"]["b"] + d["data"]["a"]]
        assert not any(p.endswith("0") and "." in p for p in prices)  # spot trims trailing zeros
        seqs = [d["data"]["seq"] for d in deltas]
        assert seqs == sorted(seqs)


async def test_request_limits_and_refusals(sim: BybitSim) -> None:
    async with connect(sim.ws_url) as ws:
        too_many = await subscribe(ws, *[f"publicTrade.BTCUSDT{i}" for i in range(11)], req_id="r1")
        assert too_many["success"] is False and too_many["req_id"] == "r1"
        unknown = await subscribe(ws, "orderbook.50.NOPEUSDT")
        assert unknown["success"] is False and "NOPEUSDT" in unknown["ret_msg"]
        assert (await subscribe(ws, "orderbook.7.BTCUSDT"))["success"] is False
        assert (await subscribe(ws, "publicTrade.BTCUSDT", req_id="r2"))["req_id"] == "r2"
        assert (await subscribe(ws, "publicTrade.BTCUSDT"))["success"] is False  # already subscribed


async def test_ping_pong_and_the_idle_rule() -> None:
    async with BybitSim(("BTC-USDT",), autostep=False, idle_timeout=0.3) as sim:
        async with connect(sim.ws_url) as ws:
            await ws.send('{"req_id":"100001","op":"ping"}')
            pong = await recv(ws)
            assert pong == {"success": True, "ret_msg": "pong", "conn_id": pong["conn_id"], "req_id": "100001",
                            "op": "ping"}
            await ws.send('{"op":"ping"}')
            assert "req_id" not in await recv(ws)  # the docs' spot pong: no req_id unless one was sent
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)  # silent from now on: dropped after idle_timeout
        assert sim.fault_counts["idle_timeout"] == 1 and sim.pings_received == 2


async def test_trades_carry_the_taker_side(sim: BybitSim) -> None:
    async with connect(sim.ws_url) as ws:
        await subscribe(ws, "publicTrade.BTCUSDT")
        await sim.step(50)
        message = await recv(ws)
        assert message["topic"] == "publicTrade.BTCUSDT" and message["type"] == "snapshot"
        trade = message["data"][0]
        assert trade["S"] in ("Buy", "Sell") and trade["s"] == "BTCUSDT" and trade["BT"] is False
        assert float(trade["p"]) > 0 and float(trade["v"]) > 0


async def test_level_one_pushes_whole_top_snapshots(sim: BybitSim) -> None:
    async with connect(sim.ws_url) as ws:
        await subscribe(ws, "orderbook.1.BTCUSDT")
        first = await recv(ws)
        await sim.step(20)
        second = await recv(ws)
        for message in (first, second):
            assert message["type"] == "snapshot"
            assert len(message["data"]["b"]) == len(message["data"]["a"]) == 1
        assert second["data"]["u"] > first["data"]["u"]


# -- faults ----------------------------------------------------------------------------------------------------------
async def test_skip_updates_leaves_a_u_gap_and_resubscribe_heals_it(sim: BybitSim) -> None:
    async with connect(sim.ws_url) as ws:
        await subscribe(ws, BOOK)
        before = (await recv(ws))["data"]["u"]
        sim.skip_updates(2)
        await sim.step(10)
        after = (await recv(ws))["data"]["u"]
        assert after >= before + 3 and sim.fault_counts["skip_updates"] >= 2
        await ws.send(orjson.dumps({"op": "unsubscribe", "args": [BOOK]}).decode())
        assert (await next_where(ws, lambda m: "op" in m))["success"] is True
        await ws.send(orjson.dumps({"op": "subscribe", "args": [BOOK]}).decode())
        assert (await next_where(ws, lambda m: "op" in m))["success"] is True
        snapshot = await recv(ws)
        assert snapshot["type"] == "snapshot" and snapshot["data"]["u"] == sim.last_update_id("BTC-USDT")


async def test_restart_sends_u_equal_one_snapshots(sim: BybitSim) -> None:
    async with connect(sim.ws_url) as ws:
        await subscribe(ws, BOOK)
        await recv(ws)
        sim.restart_books()
        restart = await recv(ws)
        assert restart["type"] == "snapshot" and restart["data"]["u"] == 1
        await sim.step(10)
        assert (await recv(ws))["data"]["u"] == 2


async def test_stall_drop_malformed_and_refuse(sim: BybitSim) -> None:
    async with connect(sim.ws_url) as ws:
        await subscribe(ws, BOOK)
        await recv(ws)
        sim.stall(True)
        await sim.step(5)
        assert sim.fault_counts["stall"] >= 1
        sim.stall(False)
        sim.send_malformed(1)
        await sim.step(5)
        with pytest.raises(orjson.JSONDecodeError):
            await recv(ws)
        sim.drop_connections()
        with pytest.raises(ConnectionClosed):
            await next_where(ws, lambda m: False)
    sim.refuse_connections(30)
    with pytest.raises(InvalidStatus, match="503"):
        async with connect(sim.ws_url):
            pass
    sim.refuse_connections(0)


async def test_same_seed_same_frames() -> None:
    async def capture() -> list[bytes]:
        async with BybitSim(("BTC-USDT",), seed=3, autostep=False, start_time_ms=T0) as s:
            s.rng.seed(0)
            # close_timeout: closing with frames still queued waits out the handshake (shared SimSession).
            async with connect(s.ws_url, close_timeout=0.2) as ws:
                await subscribe(ws, BOOK, "publicTrade.BTCUSDT")
                await s.step(30)
                out = [await ws.recv() for _ in range(20)]
        return out  # type: ignore[return-value]

    assert await capture() == await capture()
