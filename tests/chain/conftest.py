"""A real anvil node per test, on a free loopback port, with the test contracts deployed.

Missing anvil skips these tests with the reason, unless ``LIVEFEED_REQUIRE_SERVICES=1`` (CI) where it fails. Every
test here also fails if it leaves an aiohttp session open (web3's HTTP provider opens them and never closes them).
"""

from __future__ import annotations

import gc
import os
import weakref
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from livefeed.chain.devnode.anvil import Anvil, find_anvil
from livefeed.chain.devnode.traffic import Deployment, deploy


def anvil_binary() -> str:
    path = find_anvil()
    if path is None or not os.access(path, os.X_OK):
        reason = "anvil is not installed (scripts/install-system-deps.sh puts it in .tools/bin/anvil)"
        if os.environ.get("LIVEFEED_REQUIRE_SERVICES") == "1":
            pytest.fail(reason + " and LIVEFEED_REQUIRE_SERVICES=1")
        pytest.skip(reason)
    return path


@pytest.fixture
async def anvil() -> AsyncIterator[Anvil]:
    async with Anvil(binary=anvil_binary()) as node:
        yield node


def open_http_sessions() -> list[aiohttp.ClientSession]:
    """Every aiohttp session alive in the process and not closed (each would print "Unclosed client session")."""
    gc.collect()
    return [obj for obj in gc.get_objects() if isinstance(obj, aiohttp.ClientSession) and not obj.closed]


@pytest.fixture(autouse=True)
def no_http_session_left_open() -> Iterator[None]:
    """Set up first, so it checks after the other fixtures (the deployment, the node) are torn down."""
    before = weakref.WeakSet(open_http_sessions())
    yield
    left = [session for session in open_http_sessions() if session not in before]
    assert not left, f"{len(left)} aiohttp session(s) left open: {left}"


@pytest.fixture
async def chain(anvil: Anvil) -> AsyncIterator[Deployment]:
    async with await deploy(anvil.http_url) as deployment:
        yield deployment
