"""A deployment closes the aiohttp sessions web3's HTTP provider opens (one per event loop that used it).

Left open, each one prints "Unclosed client session" (a ResourceWarning and an asyncio error log) when it is collected,
which web3 delays until another web3 instance is used or the interpreter exits.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings

import pytest

from livefeed import Feed
from livefeed.chain.devnode.anvil import ACCOUNTS, Anvil
from livefeed.chain.devnode.traffic import deploy, run_traffic
from livefeed.runtime import LoopThread

from ..conftest import until
from .conftest import open_http_sessions

UNCLOSED = "Unclosed client session"


async def test_closed_deployments_leave_no_session_and_print_no_warning(
    anvil: Anvil, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for raw in (1, 2):  # the second deployment makes web3 let go of the first, so it can be collected
            async with await deploy(anvil.http_url) as d:
                await d.transfer(d.usdc, ACCOUNTS[0], ACCOUNTS[1], raw)
                assert open_http_sessions()  # the session is real and in use until the block ends
            assert open_http_sessions() == []
        del d
        gc.collect()
    assert [str(w.message) for w in caught if UNCLOSED in str(w.message)] == []
    assert [r.getMessage() for r in caplog.records if UNCLOSED in r.getMessage()] == []


async def test_close_reaches_the_session_of_every_loop_that_used_the_deployment(anvil: Anvil) -> None:
    d = await deploy(anvil.http_url)  # a session for this test's loop
    other = LoopThread(name="other-loop")
    try:
        # one for a loop still running in another thread, one for a loop that has finished (asyncio.run closes it)
        tips = [await asyncio.wrap_future(other.submit(d.w3.eth.get_block_number())),
                await asyncio.to_thread(asyncio.run, d.w3.eth.get_block_number())]
        assert tips[0] == tips[1] > 0
        sessions = open_http_sessions()
        assert len({id(session._loop) for session in sessions}) == 3
        await d.close()
        assert all(session.closed for session in sessions)
        assert open_http_sessions() == []
        await d.close()  # idempotent
    finally:
        await asyncio.to_thread(other.stop)


def tip(feed: Feed) -> int:
    return int(feed.blocks.to_pandas()["number"].max()) if len(feed.blocks) else 0


async def test_run_traffic_closes_the_deployment_it_made_when_cancelled(anvil: Anvil) -> None:
    blocks_of_the_deployment = 15  # 4 contracts, 3 pair set-up transactions, 8 mints to the accounts (automine)
    async with Feed(["eth:newHeads"], endpoints={"eth": anvil.ws_url}) as feed:
        traffic = asyncio.create_task(run_traffic(anvil.http_url, interval=0))
        await until(feed, lambda: tip(feed) > blocks_of_the_deployment + 2, what="traffic after the deployment")
        assert not traffic.done(), traffic
        assert open_http_sessions()
        traffic.cancel()
        with pytest.raises(asyncio.CancelledError):
            await traffic
        assert open_http_sessions() == []


async def test_a_deployment_cancelled_half_way_closes_its_session(anvil: Anvil) -> None:
    async with Feed(["eth:newHeads"], endpoints={"eth": anvil.ws_url}) as feed:
        deploying = asyncio.create_task(deploy(anvil.http_url))
        await until(feed, lambda: tip(feed) >= 2, what="two contracts deployed")  # of 15 transactions
        assert not deploying.done(), deploying
        deploying.cancel()
        with pytest.raises(asyncio.CancelledError):
            await deploying
        assert open_http_sessions() == []
