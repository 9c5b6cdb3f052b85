"""The Coinbase simulator speaks Coinbase's protocol: one channel per subscribe, snapshot then ack, one
``sequence_num`` counter per connection from 0, the full book in one frame, heartbeats, the 5 s subscribe rule,
8 messages/s, the products listing, and gaps on demand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from livefeed.sim.coinbase import CoinbaseSim


@pytest.fixture
async def sim() -> AsyncIterator[CoinbaseSim]:
    async with CoinbaseSim(seed=3, autostep=False, subscribe_within=0.3) as server:
        yield server


async def recv(ws: ClientConnection) -> dict:
    async with asyncio.timeout(5):
        return orjson.loads(await ws.recv())


async def subscribe(ws: ClientConnection, channel: str, products: list[str] | None = None) -> None:
    await ws.send(orjson.dumps({"type": "subscribe", "product_ids": products or ["BTC-USD"], "channel": channel}))


def apply(book: dict[str, dict[float, float]], event: dict) -> None:
    for u in event["updates"]:
        side = book["bids" if u["side"] == "bid" else "asks"]
        price, size = float(u["price_level"]), float(u["new_quantity"])
        if size:
            side[price] = size
        else:
            side.pop(price, None)


async def test_level2_snapshot_then_ack_then_updates_rebuild_the_true_book(sim: CoinbaseSim) -> None:
    async with connect(sim.ws_url, max_size=None) as ws:
        await subscribe(ws, "level2")
        snap, ack = await recv(ws), await recv(ws)
        assert (snap["channel"], snap["sequence_num"], snap["events"][0]["type"]) == ("l2_data", 0, "snapshot")
        assert ack == {**ack, "channel": "subscriptions", "sequence_num": 1}
        assert ack["events"] == [{"subscriptions": {"level2": ["BTC-USD"]}}]
        updates = snap["events"][0]["updates"]
        bids = [float(u["price_level"]) for u in updates if u["side"] == "bid"]
        offers = [float(u["price_level"]) for u in updates if u["side"] == "offer"]
        assert bids == sorted(bids, reverse=True) and offers == sorted(offers) and bids[0] < offers[0]
        book: dict[str, dict[float, float]] = {"bids": {}, "asks": {}}
        apply(book, snap["events"][0])
        await sim.step(30)
        expected = 2
        while book != sim.true_book("BTC-USD"):
            frame = await recv(ws)
            assert frame["sequence_num"] == expected and frame["events"][0]["type"] == "update"
            assert all(u["new_quantity"] == "0" or not u["new_quantity"].endswith("0") for u in frame["events"][0]["updates"])
            expected += 1
            apply(book, frame["events"][0])
        assert expected > 20


async def test_one_counter_across_channels_and_maker_side_trades(sim: CoinbaseSim) -> None:
    async with connect(sim.ws_url, max_size=None) as ws:
        frames = []
        for channel in ("market_trades", "ticker", "heartbeats"):
            await subscribe(ws, channel)
            frames.append(await recv(ws))
            if channel != "heartbeats":  # a snapshot first, then the ack
                frames.append(await recv(ws))
        assert [f["channel"] for f in frames] == [
            "market_trades", "subscriptions", "ticker", "subscriptions", "subscriptions"]
        assert [f["sequence_num"] for f in frames] == list(range(5))
        assert frames[-1]["events"][0]["subscriptions"]["heartbeats"] == ["heartbeats"]
        await sim.step(50)
        sim.heartbeat()
        expected, channels = 5, set()
        while "heartbeats" not in channels or "market_trades" not in channels:
            frame = await recv(ws)
            assert frame["sequence_num"] == expected
            expected += 1
            channels.add(frame["channel"])
            if frame["channel"] == "ticker":
                ticker = frame["events"][0]["tickers"][0]
                assert float(ticker["best_bid"]) < float(ticker["best_ask"])
            if frame["channel"] == "heartbeats":
                assert isinstance(frame["events"][0]["heartbeat_counter"], int)
            if frame["channel"] == "market_trades":
                trade = frame["events"][0]["trades"][0]
                assert trade["side"] in ("BUY", "SELL") and trade["time"].endswith("Z")


async def test_requests_coinbase_refuses(sim: CoinbaseSim) -> None:
    async with connect(sim.ws_url) as ws:
        await ws.send(orjson.dumps({"type": "subscribe", "product_ids": ["BTC-USD"], "channels": ["level2"]}))
        assert (await recv(ws))["type"] == "error"  # one "channel" per message, not a "channels" list
        await subscribe(ws, "level2", ["NOPE-USD"])
        assert "NOPE-USD" in (await recv(ws))["message"]


async def test_no_subscription_in_time_closes_the_connection(sim: CoinbaseSim) -> None:
    async with connect(sim.ws_url) as ws:
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(5):
                await ws.recv()


async def test_more_than_eight_messages_a_second_is_a_flood(sim: CoinbaseSim) -> None:
    async with connect(sim.ws_url, max_size=None) as ws:
        for _ in range(9):
            await subscribe(ws, "heartbeats")
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(5):
                while True:
                    await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_skip_updates_leaves_a_sequence_gap(sim: CoinbaseSim) -> None:
    async with connect(sim.ws_url, max_size=None) as ws:
        await subscribe(ws, "level2")
        await recv(ws), await recv(ws)
        sim.skip_updates(2)
        await sim.step(5)
        numbers = [(await recv(ws))["sequence_num"] for _ in range(3)]
        assert numbers[0] == 4 and numbers == [4, 5, 6]  # 2 and 3 were consumed but never sent
        assert sim.fault_counts["skip_updates"] == 2


async def test_products_listing(sim: CoinbaseSim) -> None:
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        body = (await http.get("/api/v3/brokerage/market/products")).json()
        missing = await http.get("/api/v3/brokerage/market/nothing")
    assert [p["product_id"] for p in body["products"]] == ["BTC-USD", "ETH-USD"]
    assert body["products"][0]["quote_increment"] == "0.01" and body["num_products"] == 2
    assert missing.status_code == 404


async def test_full_depth_snapshot_is_several_megabytes() -> None:
    async with (
        CoinbaseSim(symbols=["BTC-USD"], levels=25_000, autostep=False) as big,
        connect(big.ws_url, max_size=64 * 2**20) as ws,
    ):
        await subscribe(ws, "level2")
        async with asyncio.timeout(10):
            raw = await ws.recv()
        truth = big.true_book("BTC-USD")
    assert len(raw) > 4 * 2**20
    assert len(orjson.loads(raw)["events"][0]["updates"]) == len(truth["bids"]) + len(truth["asks"]) > 40_000
