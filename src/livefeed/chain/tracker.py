"""Which blocks and logs the feed has emitted, so re-sends are dropped and reorged-out rows are retracted.

Pure bookkeeping, no I/O: the adapter asks it what to emit. It keeps a bounded window of recent blocks
(``window`` blocks below the highest one seen); a reorg deeper than the window cannot be retracted (mainnet
reorgs are one or two blocks deep).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .decode import LogKey
from .events import Block, Flow, Transfer, flows, retracted

__all__ = ["ChainTracker"]


@dataclass(slots=True)
class ChainTracker:
    window: int = 512
    head: int | None = None
    """Number of the highest block processed on the canonical chain."""
    hashes: dict[int, str] = field(default_factory=dict)
    """Canonical block number -> hash, as far as the feed knows."""
    blocks: dict[str, Block | None] = field(default_factory=dict)
    """Block hash -> the Block event emitted for it (None when heads are followed but not emitted)."""
    logs: dict[LogKey, list[Any]] = field(default_factory=dict)
    """(block hash, log index) -> the events emitted for that log."""
    by_block: dict[str, list[LogKey]] = field(default_factory=dict)
    log_block_numbers: dict[str, int] = field(default_factory=dict)
    retractions: int = 0
    duplicates: int = 0

    def has_block(self, block_hash: str) -> bool:
        return block_hash in self.blocks

    def hash_at(self, number: int) -> str | None:
        return self.hashes.get(number)

    def add_block(self, number: int, block_hash: str, event: Block | None) -> bool:
        """Record a canonical block; False if it was already recorded (a re-send or a backfill overlap)."""
        if block_hash in self.blocks:
            self.duplicates += 1
            return False
        self.hashes[number] = block_hash
        self.blocks[block_hash] = event
        self.head = number if self.head is None else max(self.head, number)
        self._prune()
        return True

    def add_log(self, key: LogKey, number: int, events: list[Any]) -> bool:
        """Record the events of a log; False (emit nothing) if this log was already emitted."""
        if key in self.logs:
            self.duplicates += 1
            return False
        self.logs[key] = events
        self.by_block.setdefault(key[0], []).append(key)
        self.log_block_numbers[key[0]] = number
        return True

    def remove_log(self, key: LogKey) -> list[Any]:
        """A log the node re-sent with ``removed: true``: the retraction events to emit (none if unknown)."""
        events = self.logs.pop(key, None)
        if events is None:
            return []
        keys = self.by_block.get(key[0], [])
        if key in keys:
            keys.remove(key)
        self.retractions += 1
        return [_retract(e) for e in events]

    def orphan_above(self, number: int) -> list[Any]:
        """Forget every block above ``number`` (a reorg's common ancestor): their retraction events, blocks last."""
        out: list[Any] = []
        for n in sorted((n for n in self.hashes if n > number), reverse=True):
            block_hash = self.hashes.pop(n)
            self.log_block_numbers.pop(block_hash, None)
            for key in reversed(self.by_block.pop(block_hash, [])):
                out.extend(_retract(e) for e in self.logs.pop(key, []))
                self.retractions += 1
            block = self.blocks.pop(block_hash, None)
            if block is not None:
                out.append(retracted(block))
        self.head = number if self.head is not None and self.head > number else self.head
        return out

    def orphan_stray_logs(self) -> list[Any]:
        """Retract logs recorded under a block hash that is not canonical at or below the head (logs can arrive
        before their head; once the head has passed their height without that hash, their block was reorged out)."""
        if self.head is None:
            return []
        stray = [h for h, n in self.log_block_numbers.items() if n in self.hashes and self.hashes[n] != h]
        out: list[Any] = []
        for block_hash in stray:
            self.log_block_numbers.pop(block_hash, None)
            for key in self.by_block.pop(block_hash, []):
                out.extend(_retract(e) for e in self.logs.pop(key, []))
                self.retractions += 1
        return out

    def _prune(self) -> None:
        if self.head is None or len(self.hashes) <= self.window:
            return
        floor = self.head - self.window
        for n in [n for n in self.hashes if n < floor]:
            self.blocks.pop(self.hashes.pop(n), None)
        for block_hash in [h for h, n in self.log_block_numbers.items() if n < floor]:
            del self.log_block_numbers[block_hash]
            for key in self.by_block.pop(block_hash, []):
                self.logs.pop(key, None)


def _retract(event: Any) -> Any:
    # Flow rows carry no `removed` flag: their retraction is the same row negated.
    if isinstance(event, Flow):
        return Flow(event.token, event.symbol, event.address, -event.amount, event.block_number, event.log_index,
                    event.tx_hash, event.timestamp, event.receipt_ts)
    return retracted(event)


def transfer_events(transfer: Transfer) -> list[Any]:
    """A transfer and its two flow rows: what one Transfer log emits."""
    return [transfer, *flows(transfer)]
