"""A gap among the diffs buffered behind a fresh Binance snapshot is counted like any other gap (issue 10)."""

from __future__ import annotations

import asyncio

import orjson

from livefeed.connection import Connection
from livefeed.registry import adapter_class
from livefeed.source import VenueEndpoints

SNAPSHOT = orjson.dumps({"lastUpdateId": 100, "bids": [["99.0", "1.0"]], "asks": [["101.0", "1.0"]]})


def depth(first: int, last: int) -> bytes:
    return orjson.dumps({"stream": "btcusdt@depth@100ms", "data": {
        "e": "depthUpdate", "E": 1_700_000_000_000, "s": "BTCUSDT", "U": first, "u": last,
        "b": [["99.5", "2.0"]], "a": []}})


async def serve_snapshot(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Every request gets the same literal ``/api/v3/depth`` snapshot (lastUpdateId 100)."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                 % (len(SNAPSHOT), SNAPSHOT))
    await writer.drain()
    writer.close()


async def test_a_gap_behind_the_snapshot_is_counted() -> None:
    server = await asyncio.start_server(serve_snapshot, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    adapter = adapter_class("binance")(["BTC-USDT"], ["book"], lambda e: None,
                                       VenueEndpoints(ws="ws://127.0.0.1:9", rest=f"http://127.0.0.1:{port}"))
    conn = Connection("ws://127.0.0.1:9/stream", name="binance-0", on_frame=lambda f, t: None)
    try:
        adapter.on_frame(depth(95, 101), 1, conn)  # straddles the snapshot's id 100 + 1: fine
        adapter.on_frame(depth(105, 110), 2, conn)  # ids 102-104 missing: a gap, found only on applying
        stats = adapter.sync["BTC-USDT"]
        async with asyncio.timeout(10):
            while stats.gaps == 0:
                await asyncio.sleep(0.01)
        assert stats.gaps == 1 and stats.resyncs == 1 and not stats.synced
        assert stats.snapshots == 0  # the book was never installed from that snapshot
    finally:
        await adapter.close()
        server.close()
        await server.wait_closed()
