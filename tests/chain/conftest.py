"""A real anvil node per test, on a free loopback port, with the test contracts deployed.

Missing anvil skips these tests with the reason, unless ``LIVEFEED_REQUIRE_SERVICES=1`` (CI) where it fails.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from livefeed.chain.anvil import Anvil, find_anvil
from livefeed.chain.traffic import Deployment, deploy


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


@pytest.fixture
async def chain(anvil: Anvil) -> Deployment:
    return await deploy(anvil.http_url)
