"""``ChainTracker``, the pure bookkeeping behind the eth source, fed real-shaped ``eth_getLogs`` entries decoded by
``decode_transfer``: re-sent blocks and logs are dropped and counted, a log re-sent with ``removed: true`` is
retracted (a Transfer with ``removed=True`` and its two flows negated), a reorg retracts everything above the
common ancestor (blocks last), logs left under a non-canonical hash are retracted, and the window is pruned."""

from __future__ import annotations

from typing import Any

from livefeed.chain.abi import TRANSFER
from livefeed.chain.decode import TokenInfo, decode_transfer, log_key
from livefeed.chain.events import Block, Flow, Transfer
from livefeed.chain.tracker import ChainTracker, transfer_events

USDC = TokenInfo("USDC", 6)
TOKEN = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
A = "0x1111111111111111111111111111111111111111"
B = "0x2222222222222222222222222222222222222222"


def block_hash(number: int, fork: str = "a") -> str:
    return "0x" + f"{fork}{number:x}".rjust(64, "0")


def topic(address: str) -> str:
    return "0x" + address[2:].rjust(64, "0")


def transfer_log(number: int, index: int, raw: int, *, fork: str = "a", removed: bool = False) -> dict[str, Any]:
    """One ERC-20 Transfer log as a node's eth_getLogs returns it (hex strings throughout)."""
    return {
        "address": TOKEN,
        "topics": [TRANSFER.topic, topic(A), topic(B)],
        "data": "0x" + raw.to_bytes(32, "big").hex(),
        "blockNumber": hex(number),
        "blockHash": block_hash(number, fork),
        "blockTimestamp": hex(1_700_000_000 + 12 * number),
        "transactionHash": "0x" + f"{number:x}{index:x}{fork}".rjust(64, "f"),
        "transactionIndex": hex(index),
        "logIndex": hex(index),
        "removed": removed,
    }


def block(number: int, fork: str = "a") -> Block:
    parent = block_hash(number - 1, "a" if number - 1 < 11 else fork)
    return Block(number, block_hash(number, fork), parent, (1_700_000_000 + 12 * number) * 10**9, 7, 21_000,
                 30_000_000, 1, 5)


def record(tracker: ChainTracker, log: dict[str, Any]) -> list[Any]:
    """What the eth source emits for a log: its events when new, nothing when already recorded."""
    events = transfer_events(decode_transfer(log, USDC, receipt_ts=99))
    return events if tracker.add_log(log_key(log), int(log["blockNumber"], 16), events) else []


def test_a_re_sent_log_or_block_is_dropped_and_counted() -> None:
    """Rule: one row per (block hash, log index) and per block hash, however often the node sends it."""
    tracker = ChainTracker()
    assert tracker.add_block(10, block_hash(10), block(10))
    first = record(tracker, transfer_log(10, 0, 1_500_000))
    assert [type(e) for e in first] == [Transfer, Flow, Flow] and first[0].value == 1.5
    assert record(tracker, transfer_log(10, 0, 1_500_000)) == []  # the same log again (re-send, backfill overlap)
    assert not tracker.add_block(10, block_hash(10), block(10))
    assert tracker.duplicates == 2
    assert tracker.logs[(block_hash(10), 0)] == first  # the first copy is what stays recorded
    assert record(tracker, transfer_log(10, 1, 2_000_000))  # another index of the same block is a new log
    assert record(tracker, transfer_log(10, 0, 1_500_000, fork="b"))  # the same index in another block too
    assert tracker.duplicates == 2


def test_a_log_re_sent_with_removed_true_is_retracted_once() -> None:
    """Rule: ``removed: true`` appends the same transfer with ``removed=True`` and its two flows negated (net
    flow back to zero), once; a removal of a log never emitted retracts nothing."""
    tracker = ChainTracker()
    tracker.add_block(10, block_hash(10), block(10))
    transfer, out_of_a, into_b = record(tracker, transfer_log(10, 3, 2_000_000))
    assert (out_of_a.address, out_of_a.amount, into_b.address, into_b.amount) == (
        transfer.sender, -2.0, transfer.recipient, 2.0)

    gone = tracker.remove_log(log_key(transfer_log(10, 3, 2_000_000, removed=True)))
    assert gone[0] == Transfer(**{**_fields(transfer), "removed": True})
    assert [(f.address, f.amount) for f in gone[1:]] == [(out_of_a.address, 2.0), (into_b.address, -2.0)]
    assert sum(f.amount for f in (out_of_a, into_b, *gone[1:])) == 0.0
    assert tracker.retractions == 1 and (block_hash(10), 3) not in tracker.logs
    assert tracker.by_block[block_hash(10)] == []

    assert tracker.remove_log(log_key(transfer_log(10, 3, 2_000_000))) == []  # removed twice: nothing more
    assert tracker.remove_log(log_key(transfer_log(10, 9, 1))) == []  # never emitted
    assert tracker.retractions == 1
    assert record(tracker, transfer_log(10, 3, 2_000_000))  # re-included later: a new row again


def _fields(event: Any) -> dict[str, Any]:
    return {name: getattr(event, name) for name in event.__dataclass_fields__}


def test_a_reorg_retracts_everything_above_the_common_ancestor_blocks_last() -> None:
    tracker = ChainTracker()
    for n in (10, 11, 12):
        tracker.add_block(n, block_hash(n), block(n))
    kept = record(tracker, transfer_log(10, 0, 1_000_000))
    in_11 = record(tracker, transfer_log(11, 0, 2_000_000)) + record(tracker, transfer_log(11, 1, 3_000_000))
    in_12 = record(tracker, transfer_log(12, 0, 4_000_000))

    out = tracker.orphan_above(10)
    assert [(type(e).__name__, getattr(e, "block_number", getattr(e, "number", None)),
             getattr(e, "log_index", None)) for e in out] == [
        ("Transfer", 12, 0), ("Flow", 12, 0), ("Flow", 12, 0), ("Block", 12, None),
        ("Transfer", 11, 1), ("Flow", 11, 1), ("Flow", 11, 1),
        ("Transfer", 11, 0), ("Flow", 11, 0), ("Flow", 11, 0), ("Block", 11, None),
    ]
    assert all(e.removed for e in out if not isinstance(e, Flow))
    flows_out = [e.amount for e in out if isinstance(e, Flow)]
    flows_in = [e.amount for e in in_11 + in_12 if isinstance(e, Flow)]
    assert sorted(flows_out) == sorted(-a for a in flows_in)
    assert tracker.head == 10 and sorted(tracker.hashes) == [10] and tracker.retractions == 3
    assert list(tracker.logs) == [(block_hash(10), 0)] and tracker.logs[(block_hash(10), 0)] == kept
    # the new branch's blocks and logs are new rows, not duplicates
    assert tracker.add_block(11, block_hash(11, "b"), block(11, "b"))
    assert record(tracker, transfer_log(11, 0, 2_000_000, fork="b"))


def test_logs_that_arrived_under_a_hash_that_did_not_become_canonical_are_retracted() -> None:
    """Rule: a log may arrive before its head; once the canonical block at its height has another hash, the log
    belonged to a reorged-out block and is retracted."""
    tracker = ChainTracker()
    tracker.add_block(10, block_hash(10), block(10))
    stray = record(tracker, transfer_log(11, 0, 5_000_000, fork="x"))  # before any head 11
    assert tracker.orphan_stray_logs() == []  # height 11 not canonical yet: nothing to judge
    tracker.add_block(11, block_hash(11, "b"), block(11, "b"))
    out = tracker.orphan_stray_logs()
    assert out[0] == Transfer(**{**_fields(stray[0]), "removed": True})
    assert [f.amount for f in out[1:]] == [5.0, -5.0]
    assert tracker.logs == {} and tracker.retractions == 1
    assert tracker.orphan_stray_logs() == []  # once only


def test_the_window_prunes_old_blocks_and_their_logs() -> None:
    """Rule: only ``window`` blocks below the head are remembered (memory stays bounded on a long run); their logs
    go with them, while the recent ones still dedupe."""
    tracker = ChainTracker(window=4)
    for n in range(20):
        tracker.add_block(n, block_hash(n), block(n))
        record(tracker, transfer_log(n, 0, 1_000_000 + n))
    floor = 19 - 4
    assert sorted(tracker.hashes) == list(range(floor, 20))
    assert set(tracker.blocks) == {block_hash(n) for n in range(floor, 20)}
    assert set(tracker.log_block_numbers.values()) == set(range(floor, 20))
    assert set(tracker.logs) == {(block_hash(n), 0) for n in range(floor, 20)}
    assert set(tracker.by_block) == {block_hash(n) for n in range(floor, 20)}
    assert record(tracker, transfer_log(19, 0, 1_000_019)) == []  # inside the window: still a duplicate
    assert not tracker.has_block(block_hash(floor - 1))
