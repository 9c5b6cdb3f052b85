"""The eth venue against a real anvil node: every decoded row is checked against what the test sent."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from livefeed import ConnectionOptions, Feed
from livefeed.chain import canonical, net_flow
from livefeed.chain.devnode.anvil import ACCOUNTS, Anvil
from livefeed.chain.devnode.traffic import Deployment, deploy

from ..conftest import until
from .conftest import anvil_binary

A, B, C = ACCOUNTS[0], ACCOUNTS[1], ACCOUNTS[2]
FAST = ConnectionOptions(backoff_initial=0.05, backoff_cap=0.5, open_timeout=5)


def eth_feed(node: Anvil, *targets: str) -> Feed:
    return Feed([f"eth:{t}" for t in targets], endpoints={"eth": node.ws_url}, connection=FAST)


def live(frame: pd.DataFrame) -> pd.DataFrame:
    return canonical(frame)


async def test_transfers_swaps_blocks_and_flow_match_what_was_sent(anvil: Anvil, chain: Deployment) -> None:
    d = chain
    feed = eth_feed(anvil, "newHeads", f"transfers:{d.usdc.address}", f"swaps:{d.pair.address}",
                    f"swaps:{d.v3.address}", f"logs:{d.usdc.address}:Approval")
    async with feed:
        sent = []
        for i, (src, dst) in enumerate([(A, B), (B, C), (C, A), (A, C)]):
            raw = 10**6 * (i + 1) + 123
            receipt = await d.transfer(d.usdc, src, dst, raw)
            sent.append((src, dst, raw, receipt))
        swap_receipt, weth_out = await d.swap_usdc_for_weth(B, 2_500 * 10**6)
        sqrt_price = 2**96 * 3 // 100_000
        v3_receipt = await d.send(d.v3.functions.emitSwap(C, -7 * 10**6, 3 * 10**15, sqrt_price, 10**20, -276_324))
        approve_receipt = await d.send(d.usdc.functions.approve(C, 42))
        last_block = approve_receipt["blockNumber"]
        await until(feed, lambda: len(feed.transfers) == 5 and len(feed.swaps) == 2 and len(feed.logs) == 1
                    and feed.blocks.to_pandas()["number"].max() == last_block, what="all rows")

        transfers = feed.transfers.to_pandas()
        assert (transfers["removed"] == 0).all()
        for (src, dst, raw, receipt), row in zip(sent, transfers.itertuples(), strict=False):
            assert (row.sender, row.recipient, row.raw_value, row.symbol) == (src, dst, raw, "USDC")
            assert row.value == pytest.approx(raw / 1e6)
            assert row.tx_hash == receipt["transactionHash"].to_0x_hex()
            assert row.block_hash == receipt["blockHash"].to_0x_hex()
            assert row.block_number == receipt["blockNumber"]
            assert pd.isna(row.token_id)
        into_pair = transfers.iloc[4]
        assert (into_pair.sender, into_pair.recipient, into_pair.raw_value) == (B, d.pair.address, 2_500 * 10**6)

        swaps = feed.swaps.to_pandas()
        v2, v3 = swaps.iloc[0], swaps.iloc[1]
        assert (v2.kind, v2.pool, v2.symbol0, v2.symbol1, v2.sender, v2.recipient) == (
            "v2", d.pair.address, "USDC", "WETH", B, B)
        assert v2.amount0 == pytest.approx(2_500.0)
        assert v2.amount1 == pytest.approx(-weth_out / 1e18)
        assert v2.price == pytest.approx(weth_out / 1e18 / 2_500.0)
        assert v2.tx_hash == swap_receipt["transactionHash"].to_0x_hex()
        assert (v3.kind, v3.sender, v3.recipient, v3.sqrt_price_x96, v3.liquidity, v3.tick) == (
            "v3", A, C, sqrt_price, 10**20, -276_324)
        assert (v3.amount0, v3.amount1) == (pytest.approx(-7.0), pytest.approx(0.003))
        assert v3.price == pytest.approx((sqrt_price / 2**96) ** 2 * 10.0 ** (6 - 18))
        assert v3.tx_hash == v3_receipt["transactionHash"].to_0x_hex()

        approval = feed.logs.to_pandas().iloc[0]
        assert approval.event == "Approval"
        assert approval.args == {"owner": A, "spender": C, "value": 42}

        blocks = feed.blocks.to_pandas()
        assert blocks["number"].is_unique and blocks["hash"].is_unique
        assert list(blocks["number"]) == list(range(blocks["number"].min(), last_block + 1))
        node_block = await d.w3.eth.get_block(last_block)
        row = blocks.iloc[-1]
        assert (row.hash, row.parent_hash, row.gas_used, row.gas_limit, row.tx_count, row.base_fee) == (
            node_block["hash"].to_0x_hex(), node_block["parentHash"].to_0x_hex(), node_block["gasUsed"],
            node_block["gasLimit"], len(node_block["transactions"]), node_block["baseFeePerGas"])
        assert row.ts == pd.Timestamp(node_block["timestamp"], unit="s", tz="UTC")

        flow = net_flow(feed.flow.to_pandas(), freq="1D").groupby("address")["amount"].sum()
        expected: dict[str, float] = {}
        for src, dst, raw, _ in [*sent, (B, d.pair.address, 2_500 * 10**6, None)]:
            expected[src] = expected.get(src, 0.0) - raw / 1e6
            expected[dst] = expected.get(dst, 0.0) + raw / 1e6
        assert flow.to_dict() == pytest.approx({k: v for k, v in expected.items() if v})
        stats = feed.stats()
        assert stats.loc["eth", "state"] == "live" and stats.loc["eth", "malformed"] == 0


async def test_a_transfer_mined_right_after_start_is_not_lost(anvil: Anvil, chain: Deployment) -> None:
    d = chain
    feed = eth_feed(anvil, "newHeads", f"transfers:{d.usdc.address}")
    async with feed:  # returns before the loop has subscribed: the start block fixes what must be delivered
        tx = await anvil.rpc("eth_sendTransaction", {
            "from": A, "to": d.usdc.address, "data": d.usdc.encode_abi("transfer", [B, 777])})
        await until(feed, lambda: len(feed.transfers) == 1, what="the transfer")
        assert feed.transfers.to_pandas().iloc[0]["tx_hash"] == tx


async def test_anvil_reorg_retracts_the_orphaned_block_and_its_transfer(anvil: Anvil, chain: Deployment) -> None:
    d = chain
    feed = eth_feed(anvil, "newHeads", f"transfers:{d.usdc.address}")
    async with feed:
        keep = await d.transfer(d.usdc, A, B, 111)
        lost = await d.transfer(d.usdc, A, C, 222)
        await until(feed, lambda: len(feed.transfers) == 2, what="two transfers")
        await anvil.rpc("anvil_reorg", 1, [])  # replace the last block with an empty one
        await until(feed, lambda: (feed.transfers.to_pandas()["removed"] == 1).any(), what="the retraction")
        new_tip = await d.w3.eth.get_block("latest")
        await until(feed, lambda: new_tip["hash"].to_0x_hex() in set(feed.blocks.to_pandas()["hash"]),
                    what="the new tip")

        transfers = feed.transfers.to_pandas()
        assert len(transfers) == 3
        retraction = transfers.iloc[2]
        assert (retraction.removed, retraction.tx_hash, retraction.raw_value) == (
            1, lost["transactionHash"].to_0x_hex(), 222)
        assert list(live(transfers)["tx_hash"]) == [keep["transactionHash"].to_0x_hex()]

        blocks = feed.blocks.to_pandas()
        gone = blocks[blocks["removed"] == 1]
        assert list(gone["hash"]) == [lost["blockHash"].to_0x_hex()]
        tip = live(blocks).iloc[-1]
        assert (tip.number, tip.hash) == (lost["blockNumber"], new_tip["hash"].to_0x_hex())

        flow = feed.flow.to_pandas()
        assert flow.loc[flow["tx_hash"] == lost["transactionHash"].to_0x_hex(), "amount"].sum() == 0
        assert len(flow) == 6  # 2 rows per transfer, 2 negating rows for the retracted one


async def test_anvil_rollback_then_a_new_block_at_the_same_height(anvil: Anvil, chain: Deployment) -> None:
    d = chain
    feed = eth_feed(anvil, "newHeads", f"transfers:{d.usdc.address}")
    async with feed:
        lost = await d.transfer(d.usdc, A, B, 333)
        await until(feed, lambda: len(feed.transfers) == 1, what="the first transfer")
        await anvil.rpc("anvil_rollback", 1)  # the node emits nothing: the next head reveals the reorg
        replacement = await d.transfer(d.usdc, A, C, 444)
        assert replacement["blockNumber"] == lost["blockNumber"]
        await until(feed, lambda: len(feed.transfers) == 3, what="retraction and replacement")
        new_hash = replacement["blockHash"].to_0x_hex()
        # The new block's log may arrive before its head: wait for the head as well.
        await until(feed, lambda: new_hash in set(live(feed.blocks.to_pandas())["hash"]), what="the new head")
        transfers = feed.transfers.to_pandas()
        # The new block's log may arrive before its head reveals the reorg: order between the two is not fixed.
        assert list(transfers.loc[transfers["removed"] == 1, "raw_value"]) == [333]
        assert list(live(transfers)["raw_value"]) == [444]
        blocks = live(feed.blocks.to_pandas())
        assert blocks["number"].is_unique
        assert blocks.iloc[-1]["hash"] == new_hash


async def test_node_restart_mid_stream_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    node = Anvil(binary=anvil_binary(), state=tmp_path / "state.json")
    await node.start()
    try:
        d = await deploy(node.http_url)
        feed = eth_feed(node, "newHeads", f"transfers:{d.usdc.address}")
        async with d, feed:
            txs = [(await d.transfer(d.usdc, A, B, 1000 + i))["transactionHash"].to_0x_hex() for i in range(3)]
            await until(feed, lambda: len(feed.transfers) == 3, what="transfers before the restart")
            await node.restart()  # SIGTERM dumps the chain to state.json; the new process loads it
            # Mined while the feed is still backing off: only the backfill can find these.
            txs += [(await d.transfer(d.usdc, B, C, 2000 + i))["transactionHash"].to_0x_hex() for i in range(3)]
            await until(feed, lambda: feed.stats().loc["eth", "connects"] == 2 and len(feed.transfers) >= 6,
                        what="the reconnect and backfill")
            txs += [(await d.transfer(d.usdc, C, A, 3000 + i))["transactionHash"].to_0x_hex() for i in range(2)]
            tip = await d.w3.eth.block_number
            await until(feed, lambda: len(feed.transfers) >= 8 and feed.blocks.to_pandas()["number"].max() == tip,
                        what="transfers and blocks after the restart")

            transfers = feed.transfers.to_pandas()
            assert list(transfers["tx_hash"]) == txs  # each once: a re-read log would show here as a repeat
            # The catch-up re-reads the logs from the feed's old tip, which it had emitted already: the dedupe ran.
            (eth,) = [source for source in feed.sources if source.name == "eth"]
            assert eth.tracker.duplicates >= 1
            assert (transfers["removed"] == 0).all()
            assert not transfers.duplicated(["block_hash", "log_index"]).any()
            blocks = feed.blocks.to_pandas()
            assert (blocks["removed"] == 0).all()
            numbers = list(blocks["number"])
            assert numbers == list(range(numbers[0], numbers[-1] + 1))
            assert numbers[-1] == tip
            assert feed.stats().loc["eth", "reconnects"] == 1
    finally:
        await node.stop()


async def test_pending_transactions_with_automine_off(anvil: Anvil, chain: Deployment) -> None:
    d = chain
    await anvil.rpc("evm_setAutomine", False)
    feed = eth_feed(anvil, "pending:full", f"transfers:{d.usdc.address}")
    async with feed:
        tx = (await d.transfer(d.usdc, A, B, 555, wait=False)).to_0x_hex()
        await until(feed, lambda: len(feed.pending) == 1, what="the pending transaction")
        pending = feed.pending.to_pandas().iloc[0]
        assert (pending.hash, pending.sender, pending.to, pending.value) == (tx, A, d.usdc.address, 0.0)
        assert len(feed.transfers) == 0
        await anvil.mine()
        await until(feed, lambda: len(feed.transfers) == 1, what="the mined transfer")
        assert feed.transfers.to_pandas().iloc[0]["tx_hash"] == tx


async def test_pending_hashes_only(anvil: Anvil) -> None:
    await anvil.rpc("evm_setAutomine", False)
    feed = eth_feed(anvil, "pending")
    async with feed:
        tx = await anvil.rpc("eth_sendTransaction", {"from": A, "to": B, "value": hex(10**18)})
        await until(feed, lambda: len(feed.pending) == 1, what="the pending hash")
        row = feed.pending.to_pandas().iloc[0]
        assert row.hash == tx and pd.isna(row.sender)


async def test_a_node_url_key_never_reaches_errors_logs_or_reprs(caplog: pytest.LogCaptureFixture) -> None:
    from livefeed.chain.devnode.anvil import free_port
    from livefeed.chain.ethereum import EthereumAdapter, NotAnEthereumNodeError
    from livefeed.venues import VenueEndpoints

    key = "k3y0123456789abcdefSECRET"
    url = f"ws://127.0.0.1:{free_port()}/v3/{key}"  # nothing listens there
    feed = Feed(["eth:newHeads"], endpoints={"eth": url}, connection=FAST)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(NotAnEthereumNodeError) as info:
        async with feed:
            pass
    assert key not in str(info.value) and "127.0.0.1" in str(info.value)
    assert key not in caplog.text
    endpoints = VenueEndpoints.from_value(url, EthereumAdapter.default_endpoints)  # as the feed builds them
    adapter = EthereumAdapter(["newHeads"], [], lambda e: None, endpoints)
    assert key not in repr(adapter) and key not in str(adapter.stats)
