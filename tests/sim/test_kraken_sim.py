"""The Kraken v2 simulator's own protocol, judged by a small reference client written from Kraken's docs
(apply levels in order, qty 0 deletes, truncate to the depth, CRC32 over the received strings)."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from livefeed.sim.kraken import KrakenSim
from livefeed.venues.kraken import parse_instrument

PAIRS = ["BTC/USD", "ETH/USD"]


class RefBook:
    """Kraken's documented client procedure on the raw strings (``parse_float=str`` keeps the wire digits)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}

    def apply(self, data: dict[str, Any]) -> bool:
        for side, levels in ((self.bids, data["bids"]), (self.asks, data["asks"])):
            for level in levels:
                if float(level["qty"]) == 0:
                    side.pop(level["price"], None)
                else:
                    side[level["price"]] = level["qty"]
        self.bids = dict(sorted(self.bids.items(), key=lambda kv: -float(kv[0]))[: self.depth])
        self.asks = dict(sorted(self.asks.items(), key=lambda kv: float(kv[0]))[: self.depth])
        return self.checksum() == data["checksum"]

    def checksum(self) -> int:
        def digits(text: str) -> str:
            return text.replace(".", "").lstrip("0")

        text = "".join(digits(p) + digits(q) for p, q in list(self.asks.items())[:10])
        text += "".join(digits(p) + digits(q) for p, q in list(self.bids.items())[:10])
        return zlib.crc32(text.encode())

    def as_floats(self) -> dict[str, dict[float, float]]:
        return {"bids": {float(p): float(q) for p, q in self.bids.items()},
                "asks": {float(p): float(q) for p, q in self.asks.items()}}


@pytest.fixture
async def sim() -> AsyncIterator[KrakenSim]:
    async with KrakenSim(symbols=("BTC-USD", "ETH-USD"), seed=5, autostep=False, heartbeat_interval=0.05) as s:
        yield s


def open_ws(sim: KrakenSim) -> connect:
    """A client that buffers without limit: tests that stop reading early must still close at once."""
    return connect(sim.ws_url, max_queue=None)


async def recv(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(5):
        return json.loads(await ws.recv(), parse_float=str)  # type: ignore[no-any-return]


async def recv_until(ws: ClientConnection, channel: str) -> dict[str, Any]:
    while True:
        message = await recv(ws)
        if message.get("channel") == channel:
            return message


async def request(ws: ClientConnection, **body: Any) -> None:
    await ws.send(json.dumps(body))


async def subscribe_book(ws: ClientConnection, depth: int = 10) -> dict[str, RefBook]:
    await request(ws, method="subscribe", params={"channel": "book", "symbol": PAIRS, "depth": depth}, req_id=1)
    books = {}
    for pair in PAIRS:
        ack = await recv(ws)
        assert ack["method"] == "subscribe" and ack["success"] is True and ack["req_id"] == 1
        assert ack["result"] == {"channel": "book", "depth": depth, "snapshot": True, "symbol": pair}
        assert ack["time_in"].endswith("Z") and ack["time_out"].endswith("Z")
        snapshot = await recv(ws)
        assert snapshot["channel"] == "book" and snapshot["type"] == "snapshot"
        (data,) = snapshot["data"]
        assert data["symbol"] == pair and len(data["bids"]) == len(data["asks"]) == depth
        books[pair] = RefBook(depth)
        assert books[pair].apply(data), "snapshot checksum"
    return books


async def test_status_first_then_one_ack_per_symbol_and_checked_snapshots(sim: KrakenSim) -> None:
    async with open_ws(sim) as ws:
        status = await recv(ws)
        assert status["channel"] == "status" and status["data"][0]["api_version"] == "v2"
        assert status["data"][0]["system"] == "online"
        books = await subscribe_book(ws)
        for pair, book in books.items():
            assert book.as_floats() == sim.true_book(pair)


@pytest.mark.parametrize("depth", [10, 25])
async def test_updates_keep_a_truncating_client_exact(sim: KrakenSim, depth: int) -> None:
    async with open_ws(sim) as ws:
        await recv(ws)
        books = await subscribe_book(ws, depth)
        await sim.step(60)
        for _ in range(sim.book_updates_sent["BTC/USD"] + sim.book_updates_sent["ETH/USD"]):
            message = await recv_until(ws, "book")
            assert message["type"] == "update"
            for data in message["data"]:
                assert books[data["symbol"]].apply(data), "update checksum"
        for pair, book in books.items():
            assert book.as_floats() == sim.true_book(pair, depth)


async def test_prices_are_json_numbers_with_the_pair_decimals(sim: KrakenSim) -> None:
    async with open_ws(sim) as ws:
        await recv(ws)
        await request(ws, method="subscribe", params={"channel": "book", "symbol": ["BTC/USD"]})
        await recv(ws)
        raw = await ws.recv()
        assert '"price":' in str(raw) and '"price":"' not in str(raw)
        level = json.loads(raw, parse_float=str)["data"][0]["asks"][0]
        assert len(level["price"].split(".")[1]) == 1 and len(level["qty"].split(".")[1]) == 8  # BTC/USD: 1 / 8


async def test_corrupt_checksum_keeps_levels_right(sim: KrakenSim) -> None:
    async with open_ws(sim) as ws:
        await recv(ws)
        books = await subscribe_book(ws)
        sim.corrupt_checksum(1)
        await sim.step(1)
        message = await recv_until(ws, "book")
        (data,) = message["data"]
        assert not books[data["symbol"]].apply(data)
        assert books[data["symbol"]].as_floats() == sim.true_book(data["symbol"])
        assert sim.fault_counts["corrupt_checksum"] == 2  # one per pair


async def test_skipped_updates_break_the_checksum(sim: KrakenSim) -> None:
    async with open_ws(sim) as ws:
        await recv(ws)
        books = await subscribe_book(ws)
        sim.skip_updates(1)
        await sim.step(3)
        assert sim.fault_counts["skip_updates"] == 2  # one per pair
        results = []
        for _ in range(sum(sim.book_updates_sent.values())):
            for data in (await recv_until(ws, "book"))["data"]:
                results.append(books[data["symbol"]].apply(data))
        assert not all(results)


async def test_trades_and_bbo_tickers(sim: KrakenSim) -> None:
    async with open_ws(sim) as ws:
        await recv(ws)
        await request(ws, method="subscribe", params={"channel": "trade", "symbol": ["BTC/USD"]}, req_id=7)
        ack = await recv(ws)
        assert ack["result"] == {"channel": "trade", "snapshot": False, "symbol": "BTC/USD"}
        await request(ws, method="subscribe",
                      params={"channel": "ticker", "symbol": ["BTC/USD"], "event_trigger": "bbo"}, req_id=8)
        assert (await recv(ws))["result"]["event_trigger"] == "bbo"
        snapshot = await recv_until(ws, "ticker")
        assert snapshot["type"] == "snapshot"
        await sim.step(40)
        trade = await recv_until(ws, "trade")
        row = trade["data"][0]
        assert row["side"] in ("buy", "sell") and float(row["qty"]) > 0 and isinstance(row["trade_id"], int)
        ticker = (await recv_until(ws, "ticker"))["data"][0]
        assert float(ticker["bid"]) < float(ticker["ask"])


async def test_ping_pong_and_errors(sim: KrakenSim) -> None:
    async with open_ws(sim) as ws:
        await recv(ws)
        await request(ws, method="ping", req_id=101)
        pong = await recv(ws)
        assert pong["method"] == "pong" and pong["req_id"] == 101 and "time_in" in pong
        await request(ws, method="subscribe", params={"channel": "book", "symbol": ["BTC/XYZ"]}, req_id=2)
        error = await recv(ws)
        assert error["success"] is False and "BTC/XYZ" in error["error"] and error["symbol"] == "BTC/XYZ"
        await request(ws, method="subscribe", params={"channel": "book", "symbol": ["BTC/USD"], "depth": 7})
        assert (await recv(ws))["success"] is False
        await request(ws, method="unsubscribe", params={"channel": "book", "symbol": ["BTC/USD"]}, req_id=3)
        assert (await recv(ws))["success"] is False  # not subscribed
        await ws.send("not json")
        assert (await recv(ws))["success"] is False


async def test_unsubscribe_then_resubscribe_gives_a_fresh_snapshot(sim: KrakenSim) -> None:
    async with open_ws(sim) as ws:
        await recv(ws)
        await subscribe_book(ws)
        await request(ws, method="unsubscribe", params={"channel": "book", "symbol": ["BTC/USD"], "depth": 10})
        ack = await recv(ws)
        assert ack["method"] == "unsubscribe" and ack["result"] == {"channel": "book", "symbol": "BTC/USD",
                                                                    "depth": 10}
        await request(ws, method="subscribe", params={"channel": "book", "symbol": ["BTC/USD"], "depth": 10})
        assert (await recv(ws))["success"] is True
        snapshot = (await recv(ws))["data"][0]
        assert RefBook(10).apply(snapshot)


async def test_heartbeats_flow_when_idle(sim: KrakenSim) -> None:
    async with open_ws(sim) as ws:
        await recv(ws)
        await request(ws, method="subscribe", params={"channel": "trade", "symbol": ["ETH/USD"]})
        await recv(ws)
        assert await recv_until(ws, "heartbeat") == {"channel": "heartbeat"}


async def test_rest_asset_pairs(sim: KrakenSim) -> None:
    async with httpx.AsyncClient(base_url=sim.rest_url) as client:
        body = (await client.get("/0/public/AssetPairs")).json()
        assert body["error"] == []
        btc = body["result"]["XBTUSD"]
        assert (btc["wsname"], btc["pair_decimals"], btc["lot_decimals"]) == ("XBT/USD", 1, 8)
        one = (await client.get("/0/public/AssetPairs", params={"pair": "XBTUSD"})).json()
        assert list(one["result"]) == ["XBTUSD"]
        bad = (await client.get("/0/public/AssetPairs", params={"pair": "NOPE"})).json()
        assert bad["error"] == ["EQuery:Unknown asset pair"]
    assert sim.rest_requests["/0/public/AssetPairs"] == 3


async def test_only_v2_path_upgrades(sim: KrakenSim) -> None:
    with pytest.raises(InvalidStatus):
        async with connect(sim.ws_url.replace("/v2", "/v1")):
            pass


async def test_instrument_snapshot_gives_the_checksum_precisions(sim: KrakenSim) -> None:
    async with open_ws(sim) as ws:
        await recv(ws)
        await request(ws, method="subscribe", params={"channel": "instrument"}, req_id=4)
        ack = await recv(ws)
        assert ack["result"] == {"channel": "instrument", "snapshot": True} and ack["req_id"] == 4
        raw = await ws.recv()
    assert parse_instrument(orjson.loads(raw)) == {"BTC-USD": (1, 8), "ETH-USD": (2, 8)}
