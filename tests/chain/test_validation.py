"""Bad input fails at ``Feed(...)`` / on start with a clear error; a non-Ethereum endpoint is named as such."""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.server import serve

from livefeed import Feed
from livefeed.chain import ChainTargetError, InvalidAddressError, UnknownEventError
from livefeed.chain.devnode.anvil import Anvil
from livefeed.chain.ethereum import NoContractError, NotAnEthereumNodeError
from livefeed.errors import ConfigError

TOKEN = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


@pytest.mark.parametrize(
    ("target", "error"),
    [
        ("transfers:0x1234", InvalidAddressError),
        ("swaps:0x5FbDB2315678afecb367f032d93F642f64180aA3", InvalidAddressError),  # bad EIP-55 checksum
        (f"logs:{TOKEN}:Tranfer", UnknownEventError),
        (f"logs:{TOKEN}:Foo(uint999)", UnknownEventError),
        (f"logs:{TOKEN}", ChainTargetError),
        ("newheads:extra", ChainTargetError),
        ("blocks2", ChainTargetError),
    ],
)
def test_bad_targets_fail_when_the_feed_is_built(target: str, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        Feed([f"eth:{target}"], endpoints={"eth": "ws://127.0.0.1:8545"})
    assert isinstance(info.value, ConfigError)


def test_targets_are_normalised() -> None:
    feed = Feed(["eth:blocks", f"eth:transfers:{TOKEN.lower()}", f"eth:logs:{TOKEN}:Approval"],
                endpoints={"eth": "ws://127.0.0.1:8545"})
    assert [s.symbol for s in feed.subscriptions] == [
        "newHeads", f"transfers:{TOKEN}",
        f"logs:{TOKEN}:Approval(address indexed owner,address indexed spender,uint256 value)",
    ]
    assert {"blocks", "transfers", "swaps", "pending", "logs", "flow"} <= set(feed.frames)


async def test_an_endpoint_that_is_not_an_ethereum_node() -> None:
    async def not_ethereum(ws):  # a JSON-RPC server of something else: every method is unknown
        async for message in ws:
            request = json.loads(message)
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": request["id"],
                                      "error": {"code": -32601, "message": "Method not found"}}))

    async with serve(not_ethereum, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        feed = Feed(["eth:newHeads"], endpoints={"eth": f"ws://127.0.0.1:{port}"})
        with pytest.raises(NotAnEthereumNodeError, match="eth_chainId"):
            async with feed:
                pass
    assert not feed.running


async def test_an_address_without_code(anvil: Anvil) -> None:
    feed = Feed([f"eth:transfers:{TOKEN}"], endpoints={"eth": anvil.ws_url})  # nothing deployed yet
    with pytest.raises(NoContractError, match=TOKEN):
        async with feed:
            pass
