"""Chain events in the Prometheus scrape: they carry a venue and exchange time like market events, so the eth
source shows up as a connection, its events are counted under ``venue="eth"`` and blocks feed the lag histogram."""

from __future__ import annotations

from livefeed import Feed
from livefeed.chain.devnode.anvil import Anvil
from livefeed.chain.devnode.traffic import Deployment

from ..conftest import until
from ..ops.test_metrics_scrape import scrape, value
from .test_ethereum_anvil import FAST, A, B


async def test_the_eth_source_is_scraped_like_a_venue(anvil: Anvil, chain: Deployment) -> None:
    feed = Feed(["eth:newHeads", f"eth:transfers:{chain.usdc.address}"], endpoints={"eth": anvil.ws_url},
                connection=FAST)
    async with feed:
        server = feed.serve_metrics(port=0)  # counts events from here on
        try:
            for raw in (1_000_000, 2_000_000):
                await chain.transfer(chain.usdc, A, B, raw)  # one block each (automine)
            await until(feed, lambda: len(feed.transfers) == 2 and len(feed.blocks) >= 2,
                        what="two transfers and their blocks")
            samples = await scrape(server.url)
        finally:
            server.close()
    assert value(samples, "livefeed_connection_up", venue="eth", connection="eth") == 1.0
    assert value(samples, "livefeed_events_total", venue="eth", symbol="USDC", type="Transfer") == 2
    blocks = value(samples, "livefeed_events_total", venue="eth", symbol="", type="Block")
    assert blocks >= 2 and value(samples, "livefeed_lag_seconds_count", venue="eth", symbol="") == blocks
    assert not any(name.startswith("livefeed_book_") and dict(labels).get("venue") == "eth"
                   for name, labels in samples)  # a chain has no order books
