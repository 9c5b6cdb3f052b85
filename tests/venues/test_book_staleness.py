"""Per-book staleness: a book silent for ``book_stale_after`` on a live connection is resynced (issue 10).

The connection watchdog (``stale_after``) only sees a whole socket going quiet; here the simulator's market stops
while its socket stays up (``stale_after`` is far away), as a subscription that silently died would look.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from livefeed import ConnectionOptions, Feed
from livefeed.sim import SIMULATORS

from ..conftest import synced, until

VENUES = ("binance", "coinbase", "kraken", "bybit", "okx")
OPTIONS = ConnectionOptions(stale_after=60.0, book_stale_after=0.5, backoff_initial=0.05, backoff_cap=0.2,
                            ping_interval=None)


async def eventually(predicate: object, what: str, timeout: float = 20.0) -> None:
    """Wait for a counter while the market is paused (no feed events to wake on), checked every 20 ms."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():  # type: ignore[operator]
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what}") from None


@pytest.mark.parametrize("venue", VENUES)
async def test_a_silent_book_on_a_live_connection_is_resynced(venue: str) -> None:
    async with SIMULATORS[venue](symbols=["BTC-USDT"], seed=6, interval=0.01) as sim:
        feed = Feed([f"{venue}:BTC-USDT"], channels=["trades", "book"], endpoints={venue: sim}, connection=OPTIONS)
        async with feed:
            await until(feed, lambda: synced(feed), what="synced")
            server = feed.serve_metrics(port=0)
            try:
                sim.pause()
                await eventually(lambda: int(feed.book_stats()["stale_resyncs"].sum()) >= 1, "a stale resync")
                connects = int(feed.stats()["connects"].sum())
                sim.resume()
                await until(feed, lambda: synced(feed) and int(feed.book_stats()["deltas"].sum()) > 0,
                            what="synced again")
                async with httpx.AsyncClient() as client:
                    text = (await client.get(server.url)).text
            finally:
                server.close()
            assert int(feed.stats()["connects"].sum()) == connects  # resynced on the same socket
            assert int(feed.stats()["stale_timeouts"].sum()) == 0  # the connection watchdog never fired
    line = next(x for x in text.splitlines() if x.startswith("livefeed_book_stale_resyncs_total{"))
    assert float(line.rsplit(" ", 1)[1]) >= 1


def test_book_stale_after_is_validated_and_a_venue_option() -> None:
    from livefeed import ConfigError
    from livefeed.registry import adapter_class

    with pytest.raises(ConfigError, match="book_stale_after must be a finite number of seconds > 0 or None"):
        ConnectionOptions(book_stale_after=0)
    adapter = adapter_class("kraken")(["BTC-USD"], ["book"], lambda e: None, book_stale_after=90.0)
    assert adapter.book_stale_after == 90.0
