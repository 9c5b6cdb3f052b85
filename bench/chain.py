"""On-chain path figures against a real local anvil node (prints them; the tests assert behaviour, not speed).

    .venv/bin/python bench/chain.py [--transfers 2000] [--latency-samples 50]

1. decode only: ``decode_transfer`` on real logs fetched from anvil (no socket) -> events/s.
2. end to end: N transfers left pending (automine off), mined in one ``evm_mine``; time from the mine call until
   the N-th row is in ``feed.transfers`` -> events/s through WebSocket + web3 + decode + frame.
3. mined-to-row delay: automine on; per transfer, from ``eth_sendTransaction`` returning (anvil has mined it by
   then) to the row being appended (a feed callback) -> median / p95 / max ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from livefeed import Feed
from livefeed.chain.decode import TokenInfo, decode_transfer
from livefeed.chain.devnode.anvil import ACCOUNTS, Anvil
from livefeed.chain.devnode.traffic import deploy
from livefeed.chain.events import Transfer


async def main(n: int, samples: int) -> None:
    async with Anvil(extra_args=("--disable-block-gas-limit",)) as node, await deploy(node.http_url) as d:
        token = d.usdc.address
        feed = Feed([f"eth:transfers:{token}"], endpoints={"eth": node.ws_url}, capacity=max(4 * n, 10_000))
        async with feed:
            # 3. mined-to-row delay (automine on)
            seen: dict[str, int] = {}
            arrived = asyncio.Event()

            def on_event(event: object) -> None:
                if isinstance(event, Transfer):
                    seen[event.tx_hash] = time.perf_counter_ns()
                    arrived.set()

            feed.add_callback(on_event)
            upper, lower = [], []
            for i in range(samples):
                tx_params = {"from": ACCOUNTS[0], "to": token, "gas": hex(100_000),
                             "data": d.usdc.encode_abi("transfer", [ACCOUNTS[1], 1 + i])}
                t0 = time.perf_counter_ns()
                tx = await node.rpc("eth_sendTransaction", tx_params)  # anvil mines inside this call
                t1 = time.perf_counter_ns()
                while tx not in seen:
                    arrived.clear()
                    await arrived.wait()
                upper.append((seen[tx] - t0) / 1e6)
                lower.append(max(0.0, (seen[tx] - t1) / 1e6))
            for name, values in (("upper bound (from before the send)", upper),
                                 ("lower bound (from the send's reply)", lower)):
                values.sort()
                print(f"mined-to-row delay, {name}, {samples} transfers: median {statistics.median(values):.2f} ms, "
                      f"p95 {values[int(0.95 * (len(values) - 1))]:.2f} ms, max {values[-1]:.2f} ms")

            # 2. end to end burst
            await node.rpc("evm_setAutomine", False)
            for i in range(n):
                await node.rpc("eth_sendTransaction", {
                    "from": ACCOUNTS[i % 4], "to": token,
                    "data": d.usdc.encode_abi("transfer", [ACCOUNTS[(i + 1) % 4], 1 + i]),
                    "gas": hex(100_000)})
            before = feed.transfers.total
            done = asyncio.Event()
            feed.add_callback(lambda _e: done.set() if feed.transfers.total >= before + n else None)
            t0 = time.perf_counter()
            await node.rpc("evm_mine")
            await asyncio.wait_for(done.wait(), 120)
            elapsed = time.perf_counter() - t0
            print(f"end to end: {n} Transfer logs in one block -> rows in {elapsed * 1e3:.0f} ms from evm_mine: "
                  f"{n / elapsed:,.0f} events/s (WebSocket + web3 formatting + decode + frame)")

            # 1. decode only, on the real logs just mined
            logs = await d.w3.eth.get_logs({"address": token, "fromBlock": "latest", "toBlock": "latest"})
            info = TokenInfo("USDC", 6)
            t0 = time.perf_counter()
            rounds = max(1, 20_000 // len(logs))
            for _ in range(rounds):
                for raw in logs:
                    decode_transfer(raw, info, 0)
            elapsed = time.perf_counter() - t0
            print(f"decode only: {rounds * len(logs) / elapsed:,.0f} Transfer logs/s ({len(logs)} real logs x "
                  f"{rounds})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transfers", type=int, default=2000)
    parser.add_argument("--latency-samples", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.transfers, args.latency_samples))
