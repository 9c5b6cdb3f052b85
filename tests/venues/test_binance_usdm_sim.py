"""``BinanceUsdmSim`` speaks USD-M: ``pu``-chained diffs with non-contiguous ids, a snapshot that joins them, the
futures stream names and REST bodies, and the same frames for the same seed."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools

import httpx
import orjson
from websockets.asyncio.client import connect

from livefeed.sim import BinanceUsdmSim
from livefeed.venues.binance_usdm import listed_symbols

T0 = 1_790_000_000_000
STREAMS = ["btcusdt@depth@100ms", "btcusdt@bookTicker", "btcusdt@aggTrade", "btcusdt@markPrice@1s",
           "btcusdt@forceOrder"]


async def frames_of(sim: BinanceUsdmSim, streams: list[str], steps: int) -> tuple[dict, list[dict]]:
    """The reply to one SUBSCRIBE and every frame of ``steps`` market steps (the market driven by hand)."""
    async with connect(f"{sim.ws_url}/stream") as ws:
        await ws.send(orjson.dumps({"method": "SUBSCRIBE", "params": streams, "id": 1}).decode())
        reply = orjson.loads(await ws.recv())
        await sim.step(steps)
        frames = []
        async with asyncio.timeout(10):
            while True:
                frame = orjson.loads(await ws.recv())
                frames.append(frame)
                if frame["data"].get("e") == "depthUpdate" and frame["data"]["u"] == sim.last_update_id("BTCUSDT"):
                    break
    return reply, frames


async def test_diffs_chain_by_pu_with_ids_that_are_not_contiguous_and_the_snapshot_joins_them() -> None:
    async with BinanceUsdmSim(["BTC-USDT-PERP"], seed=3, autostep=False, start_time_ms=T0) as sim:
        reply, frames = await frames_of(sim, ["btcusdt@depth@100ms"], 30)
        assert reply == {"result": None, "id": 1}
        diffs = [f["data"] for f in frames]
        assert len(diffs) == 30 and all(d["e"] == "depthUpdate" and d["s"] == "BTCUSDT" for d in diffs)
        for before, after in itertools.pairwise(diffs):
            assert after["pu"] == before["u"]
            assert after["U"] > before["u"] + 1  # other symbols' ids in between, as on Binance
            assert after["U"] <= after["u"]
        async with httpx.AsyncClient(base_url=sim.rest_url) as http:
            body = (await http.get("/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": 1000})).json()
            refused = await http.get("/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": 5000})
            oi = (await http.get("/fapi/v1/openInterest", params={"symbol": "BTCUSDT"})).json()
        assert body["lastUpdateId"] == diffs[-1]["u"] == sim.last_update_id("BTC-USDT-PERP")
        assert list(body) == ["lastUpdateId", "E", "T", "bids", "asks"]
        assert refused.status_code == 400 and refused.json()["code"] == -1130
        assert oi["symbol"] == "BTCUSDT" and float(oi["openInterest"]) > 0 and oi["time"] > T0


async def test_every_futures_stream_has_its_shape() -> None:
    async with BinanceUsdmSim(["BTC-USDT-PERP"], seed=4, autostep=False, start_time_ms=T0, interval=0.1,
                              liquidation_prob=1.0) as sim:
        _, frames = await frames_of(sim, STREAMS, 20)
    kinds = {f["stream"].split("@", 1)[1]: f["data"] for f in frames}
    assert set(kinds) == {"depth@100ms", "bookTicker", "aggTrade", "markPrice@1s", "forceOrder"}
    assert kinds["bookTicker"]["e"] == "bookTicker" and {"E", "T", "u"} <= set(kinds["bookTicker"])
    mark = kinds["markPrice@1s"]
    assert mark["r"] != "" and mark["T"] % (8 * 3600 * 1000) == 0 and mark["T"] > mark["E"]
    assert kinds["forceOrder"]["o"]["s"] == "BTCUSDT" and kinds["forceOrder"]["o"]["S"] in ("BUY", "SELL")


async def test_spot_stream_names_are_refused() -> None:
    async with BinanceUsdmSim(["BTC-USDT-PERP"], seed=4, autostep=False) as sim, \
            connect(f"{sim.ws_url}/stream") as ws:
        await ws.send(orjson.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 2}).decode())
        assert orjson.loads(await ws.recv()) == {"error": {"code": 2, "msg": "Invalid request: invalid stream"},
                                                 "id": 2}


async def test_exchange_info_lists_the_perpetual_and_the_quarterly_with_its_delivery() -> None:
    async with BinanceUsdmSim(["BTC-USDT-PERP", "ETH-USDT-20261225"], seed=1, autostep=False) as sim, \
            httpx.AsyncClient(base_url=sim.rest_url) as http:
        body = (await http.get("/fapi/v1/exchangeInfo")).json()
    assert listed_symbols(body) == {"BTC-USDT-PERP", "ETH-USDT-20261225"}
    future = next(s for s in body["symbols"] if s["symbol"] == "ETHUSDT_261225")
    assert future["contractType"] == "CURRENT_QUARTER"
    assert future["deliveryDate"] == int(dt.datetime(2026, 12, 25, 8, tzinfo=dt.UTC).timestamp() * 1000)


async def test_the_same_seed_sends_the_same_frames() -> None:
    runs = []
    for _ in range(2):
        async with BinanceUsdmSim(["BTC-USDT-PERP"], seed=9, autostep=False, start_time_ms=T0, interval=0.1,
                                  funding_interval=1.0) as sim:
            runs.append((await frames_of(sim, STREAMS, 40))[1])
    assert runs[0] == runs[1] and len(runs[0]) > 40


async def test_a_route_serves_only_its_own_streams() -> None:
    async with BinanceUsdmSim(["BTC-USDT-PERP"], seed=4, autostep=False) as sim, \
            connect(f"{sim.ws_url}/market/stream") as market, connect(f"{sim.ws_url}/public/stream") as public:
        await market.send(orjson.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 3}).decode())
        assert orjson.loads(await market.recv())["error"]["code"] == 2
        await public.send(orjson.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 4}).decode())
        assert orjson.loads(await public.recv()) == {"result": None, "id": 4}
        await sim.step(1)
        assert orjson.loads(await public.recv())["stream"] == "btcusdt@depth@100ms"
