"""The OKX simulator's own protocol, judged by a plain websockets client and a reference book written from the
documented rules (``prevSeqId`` chain, signed CRC32 over 25 interleaved levels of the exchange's strings), not by
the adapter under development."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from livefeed.sim.okx import OkxSim

SYMBOLS = ("BTC-USDT", "ETH-USDT")


class RefBook:
    """A string-exact OKX book: applies snapshots and chained updates, recomputes the checksum each time."""

    def __init__(self) -> None:
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.seq: int | None = None

    def apply(self, message: dict) -> None:
        data = message["data"][0]
        if message["action"] == "snapshot":
            assert data["prevSeqId"] == -1
            self.bids, self.asks = {}, {}
        else:
            assert data["prevSeqId"] == self.seq, (data["prevSeqId"], self.seq)
        for side, levels in ((self.bids, data["bids"]), (self.asks, data["asks"])):
            for px, sz, liquidated, count in levels:
                assert liquidated == "0"
                if sz == "0":
                    assert count == "0"
                    side.pop(px, None)
                else:
                    side[px] = sz
        self.seq = data["seqId"]
        assert data["checksum"] == self.checksum(), "checksum"

    def checksum(self) -> int:
        bids = sorted(self.bids, key=float, reverse=True)[:25]
        asks = sorted(self.asks, key=float)[:25]
        parts = []
        for i in range(max(len(bids), len(asks))):
            if i < len(bids):
                parts += [bids[i], self.bids[bids[i]]]
            if i < len(asks):
                parts += [asks[i], self.asks[asks[i]]]
        value = zlib.crc32(":".join(parts).encode())
        return value - 2**32 if value >= 2**31 else value

    def as_floats(self) -> dict[str, dict[float, float]]:
        return {"bids": {float(p): float(s) for p, s in self.bids.items()},
                "asks": {float(p): float(s) for p, s in self.asks.items()}}


@pytest.fixture
async def sim() -> AsyncIterator[OkxSim]:
    async with OkxSim(symbols=SYMBOLS, seed=3, autostep=False, start_time_ms=1_700_000_000_000) as server:
        yield server


async def recv(ws: ClientConnection) -> dict:
    async with asyncio.timeout(5):
        return orjson.loads(await ws.recv())


async def recv_text(ws: ClientConnection) -> dict | str:
    async with asyncio.timeout(5):
        frame = await ws.recv()
    return frame if frame == "pong" else orjson.loads(frame)


async def subscribe(ws: ClientConnection, *args: tuple[str, str]) -> None:
    request = {"id": "7", "op": "subscribe", "args": [{"channel": c, "instId": i} for c, i in args]}
    await ws.send(orjson.dumps(request).decode())


async def books_until(ws: ClientConnection, book: RefBook, n: int) -> list[dict]:
    """Read frames, applying every ``books`` push to ``book``, until ``n`` of them arrived; return the rest."""
    others, seen = [], 0
    while seen < n:
        message = await recv(ws)
        if message.get("arg", {}).get("channel") == "books" and "data" in message:
            book.apply(message)
            seen += 1
        else:
            others.append(message)
    return others


async def test_rest_lists_spot_instruments(sim: OkxSim) -> None:
    async with httpx.AsyncClient(base_url=sim.rest_url) as http:
        body = (await http.get("/api/v5/public/instruments", params={"instType": "SPOT"})).json()
        missing = await http.get("/api/v5/public/instruments")
    assert body["code"] == "0" and body["msg"] == ""
    assert [(i["instId"], i["baseCcy"], i["quoteCcy"], i["state"]) for i in body["data"]] == [
        ("BTC-USDT", "BTC", "USDT", "live"), ("ETH-USDT", "ETH", "USDT", "live")]
    assert body["data"][0]["tickSz"] == "0.01"
    assert missing.status_code == 400 and missing.json()["code"] == "50014"


async def test_only_the_public_path_upgrades(sim: OkxSim) -> None:
    with pytest.raises(InvalidStatus):
        async with connect(f"ws://{sim.host}:{sim.port}/ws/v5/private"):
            pass


async def test_subscribe_acks_then_snapshot_then_chained_updates(sim: OkxSim) -> None:
    async with connect(sim.ws_url) as ws:
        await subscribe(ws, ("books", "BTC-USDT"))
        ack = await recv(ws)
        assert ack["event"] == "subscribe" and ack["id"] == "7"
        assert ack["arg"] == {"channel": "books", "instId": "BTC-USDT"} and len(ack["connId"]) == 8
        book = RefBook()
        await books_until(ws, book, 1)
        assert book.seq == sim.last_seq_id("BTC-USDT")
        assert book.as_floats() == sim.true_book("BTC-USDT")
        await sim.step(40)
        await books_until(ws, book, 40)
        assert book.as_floats() == sim.true_book("BTC-USDT") and book.seq == sim.last_seq_id("BTC-USDT")


async def test_numbers_are_printed_without_padding(sim: OkxSim) -> None:
    async with connect(sim.ws_url) as ws:
        await subscribe(ws, ("books", "BTC-USDT"))
        await recv(ws)
        snapshot = await recv(ws)
        prices = [level[0] for level in snapshot["data"][0]["bids"]]
        assert not any(p.endswith("0") and "." in p for p in prices)
        assert snapshot["data"][0]["ts"] == "1700000000000"


async def test_trades_and_tickers(sim: OkxSim) -> None:
    async with connect(sim.ws_url) as ws:
        await subscribe(ws, ("trades", "ETH-USDT"), ("tickers", "ETH-USDT"))
        assert [(await recv(ws))["event"] for _ in range(2)] == ["subscribe", "subscribe"]
        trades: list[dict] = []
        tickers: list[dict] = []
        while len(trades) < 3 or len(tickers) < 3:
            await sim.step(1)
            await ws.send("ping")  # the pong marks the end of this step's pushes
            while (message := await recv_text(ws)) != "pong":
                (trades if message["arg"]["channel"] == "trades" else tickers).append(message["data"][0])
        assert all(t["side"] in ("buy", "sell") and t["instId"] == "ETH-USDT" for t in trades)
        assert all(float(t["bidPx"]) < float(t["askPx"]) and t["instType"] == "SPOT" for t in tickers)


async def test_errors_for_unknown_instruments_and_bad_requests(sim: OkxSim) -> None:
    async with connect(sim.ws_url) as ws:
        await subscribe(ws, ("books", "DOGE-EUR"))
        error = await recv(ws)
        assert (error["event"], error["code"], error["id"]) == ("error", "60018", "7")
        await ws.send('{"op":"subscribe","argss":[]}')
        assert (await recv(ws))["code"] == "60012"
        await ws.send("not json")
        assert (await recv(ws))["code"] == "60012"


async def test_ping_pong_and_unsubscribe(sim: OkxSim) -> None:
    async with connect(sim.ws_url) as ws:
        await ws.send("ping")
        async with asyncio.timeout(5):
            assert await ws.recv() == "pong"
        await subscribe(ws, ("books", "BTC-USDT"))
        await recv(ws)
        await recv(ws)
        await ws.send('{"op":"unsubscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}')
        assert (await recv(ws))["event"] == "unsubscribe"
        await sim.step(5)
        await ws.send("ping")  # the next frame is the pong, not a book update
        async with asyncio.timeout(5):
            assert await ws.recv() == "pong"


async def test_a_silent_connection_is_closed() -> None:
    async with OkxSim(symbols=["BTC-USDT"], autostep=False, idle_timeout=0.2) as sim, connect(sim.ws_url) as ws:
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(5):
                await ws.recv()
        assert ws.close_code == 4004 and sim.fault_counts["idle_close"] == 1


async def test_skipped_updates_break_the_chain(sim: OkxSim) -> None:
    async with connect(sim.ws_url) as ws:
        await subscribe(ws, ("books", "BTC-USDT"))
        await recv(ws)
        book = RefBook()
        await books_until(ws, book, 1)
        sim.skip_updates(1)
        await sim.step(2)
        with pytest.raises(AssertionError):
            await books_until(ws, book, 1)
        assert sim.fault_counts["skip_updates"] == 2  # one per symbol


async def test_corrupted_checksum_and_keepalive(sim: OkxSim) -> None:
    async with connect(sim.ws_url) as ws:
        await subscribe(ws, ("books", "BTC-USDT"))
        await recv(ws)
        book = RefBook()
        await books_until(ws, book, 1)
        sim.send_book_keepalive()
        keepalive = await recv(ws)
        data = keepalive["data"][0]
        assert (data["bids"], data["asks"], data["prevSeqId"]) == ([], [], data["seqId"])
        book.apply(keepalive)  # no change, same checksum
        sim.corrupt_checksum(1)
        await sim.step(1)
        with pytest.raises(AssertionError, match="checksum"):
            await books_until(ws, book, 1)
        assert sim.fault_counts["corrupt_checksum"] == 1
