"""Deploy the test contracts on a dev node and make real transfers and swaps: the tests' set-up, the benchmark's
load and the traffic behind ``livefeed demo --chain`` (``await run_traffic(url)``).

Uses anvil's unlocked default accounts (``eth_sendTransaction``), so it only works against a dev node. A
``Deployment`` holds web3 HTTP sessions: ``await d.close()`` (or ``async with await deploy(url) as d:``) when done.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from web3 import AsyncHTTPProvider, AsyncWeb3

from ..abi import load_artifact
from .anvil import ACCOUNTS

if TYPE_CHECKING:
    from aiohttp import ClientSession

__all__ = ["Deployment", "close_http_sessions", "deploy", "run_traffic"]


@dataclass(slots=True)
class Deployment:
    """Two tokens (USDC-like, 6 decimals; WETH-like, 18), a V2-style pair of them and a V3-event emitter."""

    w3: AsyncWeb3
    usdc: Any
    weth: Any
    pair: Any
    v3: Any

    async def send(self, call: Any, sender: str = ACCOUNTS[0], wait: bool = True) -> Any:
        """Send a contract call as a transaction; with ``wait``, its receipt (it is mined when this returns)."""
        tx_hash = await call.transact({"from": sender})
        if not wait:
            return tx_hash
        return await self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.01)

    async def transfer(self, token: Any, sender: str, to: str, raw: int, wait: bool = True) -> Any:
        return await self.send(token.functions.transfer(to, raw), sender, wait)

    async def swap_usdc_for_weth(self, trader: str, usdc_in: int) -> tuple[Any, int]:
        """Sell ``usdc_in`` (raw units) into the pair for the most WETH the 0.3% constant-product rule allows."""
        r0, r1, _ = await self.pair.functions.getReserves().call()
        in_fee = usdc_in * 997
        weth_out = in_fee * r1 // (r0 * 1000 + in_fee)
        await self.transfer(self.usdc, trader, self.pair.address, usdc_in)
        receipt = await self.send(self.pair.functions.swap(0, weth_out, trader), trader)
        return receipt, weth_out

    async def close(self) -> None:
        """Close the HTTP sessions behind ``w3``; idempotent. Using ``w3`` afterwards opens a new one."""
        await close_http_sessions(self.w3.provider)

    async def __aenter__(self) -> Deployment:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


async def close_http_sessions(provider: Any) -> None:
    """Close every aiohttp session an ``AsyncHTTPProvider`` opened.

    web3 opens one session per event loop that used the provider and closes none of them by itself (each one left
    open prints "Unclosed client session" when collected). A session of a loop running in another thread is closed
    on that loop; one of the current loop, or of a stopped or closed one (nothing left to wait for), here.
    """
    manager = getattr(provider, "_request_session_manager", None)  # what web3's own disconnect() walks
    if not isinstance(provider, AsyncHTTPProvider) or manager is None:
        await provider.disconnect()
        return
    cache = manager.session_cache
    sessions: list[ClientSession] = [session for _, session in cache.items()]
    cache.clear()
    here = asyncio.get_running_loop()
    for session in sessions:
        if session.closed:
            continue
        owner = session._loop
        if owner is not here and owner.is_running():
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(session.close(), owner))
        else:
            await session.close()


async def _deploy(w3: AsyncWeb3, name: str, *args: Any) -> Any:
    art = load_artifact(name)
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    tx = await factory.constructor(*args).transact({"from": ACCOUNTS[0]})
    receipt = await w3.eth.wait_for_transaction_receipt(tx, timeout=30, poll_latency=0.01)
    return w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"])


async def deploy(http_url: str, liquidity: tuple[int, int] = (2_000_000 * 10**6, 1_000 * 10**18)) -> Deployment:
    """Deploy the tokens, the pair (seeded with ``liquidity`` = raw USDC, raw WETH) and the V3 emitter; fund the
    first four accounts with 1,000,000 USDC and 1,000 WETH each. Needs automine on. Close the result when done."""
    w3 = AsyncWeb3(AsyncHTTPProvider(http_url))
    try:
        usdc = await _deploy(w3, "TestToken", "USD Coin", "USDC", 6)
        weth = await _deploy(w3, "TestToken", "Wrapped Ether", "WETH", 18)
        pair = await _deploy(w3, "TestPair", usdc.address, weth.address)
        v3 = await _deploy(w3, "V3SwapEmitter", usdc.address, weth.address)
        d = Deployment(w3, usdc, weth, pair, v3)
        await d.send(usdc.functions.mint(pair.address, liquidity[0]))
        await d.send(weth.functions.mint(pair.address, liquidity[1]))
        await d.send(pair.functions.sync())
        for account in ACCOUNTS:
            await d.send(usdc.functions.mint(account, 1_000_000 * 10**6))
            await d.send(weth.functions.mint(account, 1_000 * 10**18))
    except BaseException:
        await asyncio.shield(close_http_sessions(w3.provider))
        raise
    return d


async def run_traffic(http_url: str, *, interval: float = 0.5, count: int | None = None, seed: int = 1,
                      deployment: Deployment | None = None) -> Deployment:
    """Random transfers and swaps every ``interval`` seconds (``count`` rounds, or until cancelled).

    Deploys first unless ``deployment`` is given; returns it (subscribe the feed to its addresses). A deployment it
    made is closed if the traffic ends by cancellation or an error; one it returns is the caller's to close.
    """
    if deployment is not None:
        await _make_traffic(deployment, interval, count, seed)
        return deployment
    d = await deploy(http_url)
    try:
        await _make_traffic(d, interval, count, seed)
    except BaseException:
        await asyncio.shield(d.close())
        raise
    return d


async def _make_traffic(d: Deployment, interval: float, count: int | None, seed: int) -> None:
    rng = random.Random(seed)
    rounds = 0
    while count is None or rounds < count:
        a, b = rng.sample(ACCOUNTS, 2)
        choice = rng.random()
        if choice < 0.5:
            await d.transfer(d.usdc, a, b, rng.randint(1, 5_000) * 10**6)
        elif choice < 0.9:
            await d.swap_usdc_for_weth(a, rng.randint(100, 20_000) * 10**6)
        else:
            await d.transfer(d.weth, a, b, rng.randint(1, 10**18))
        rounds += 1
        if interval:
            await asyncio.sleep(interval)
