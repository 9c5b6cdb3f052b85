"""A resync that starts while the venue's connection is down (a silent book, a gap on a socket just lost) must end
quietly: the reconnect resubscribes everything, so the resync task neither raises nor retries by itself."""

from __future__ import annotations

import asyncio
import logging

import pytest

from livefeed.registry import MARKET_VENUES, adapter_class
from livefeed.venues.base import MarketAdapter

SYMBOL = {"coinbase": "BTC-USD", "kraken": "BTC-USD"}


@pytest.mark.parametrize("venue", MARKET_VENUES)
async def test_a_resync_on_a_dropped_connection_ends_quietly_and_leaves_the_book_unsynced(
    venue: str, caplog: pytest.LogCaptureFixture
) -> None:
    symbol = SYMBOL.get(venue, "BTC-USDT")
    adapter = adapter_class(venue)([symbol], ["book"], lambda event: None)
    assert isinstance(adapter, MarketAdapter)
    conn = adapter.connection("ws://127.0.0.1:9/", f"{venue}-0")  # never connected: every send fails
    adapter.connections = [conn]
    adapter.sync[symbol].synced = True
    try:
        with caplog.at_level(logging.INFO):
            adapter.revive_book(symbol, conn)
            tasks = list(adapter._tasks)
            async with asyncio.timeout(10):
                await asyncio.gather(*tasks, return_exceptions=True)
        assert all(task.cancelled() or task.exception() is None for task in tasks)
        assert not adapter.sync[symbol].synced
        # Binance, Kraken and OKX try to resubscribe and log why it failed; Coinbase checks ``conn.connected``
        # first, and Bybit resubscribes only on the connection its subscribe step recorded (none here).
        assert ("is not connected" in caplog.text) == (venue in {"binance", "kraken", "okx"})
    finally:
        await adapter.close()
