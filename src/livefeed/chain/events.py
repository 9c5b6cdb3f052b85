"""On-chain events and the rolling-frame rows they become.

Each type carries ``removed``: a reorg never deletes a row already in a frame (frames are append-only ring
buffers); it appends the same row again with ``removed=True``, the way an Ethereum node re-sends logs with
``"removed": true``. :func:`canonical` drops both halves of each retracted pair, :func:`net_flow` sums the
signed ``flow`` rows per address and interval.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd

from ..source import FrameSpec

__all__ = [
    "ChainEvent", "Block", "Transfer", "Swap", "PendingTx", "ChainLog", "Flow", "FRAMES", "retracted", "canonical",
    "net_flow",
]


class ChainEvent:
    """What chain events share with market events: ``venue`` (``"eth"``), ``receipt_ts``, and ``exchange_ts``, the
    block's own time where one is known (none for a pending transaction), so metrics and sinks need no special case.
    """

    __slots__ = ()
    venue: ClassVar[str] = "eth"
    receipt_ts: int

    @property
    def exchange_ts(self) -> int | None:
        return getattr(self, "timestamp", None)


@dataclass(slots=True, frozen=True)
class Block(ChainEvent):
    """A block header (``newHeads``) plus its transaction count."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int  # ns since epoch (the block's own second-resolution time)
    base_fee: int | None
    gas_used: int
    gas_limit: int
    tx_count: int
    receipt_ts: int
    removed: bool = False


@dataclass(slots=True, frozen=True)
class Transfer(ChainEvent):
    """An ERC-20 ``Transfer`` (value scaled by ``decimals()``) or an ERC-721 one (``token_id`` set, value 1)."""

    token: str
    symbol: str
    sender: str
    recipient: str
    value: float
    raw_value: int
    token_id: int | None
    block_number: int
    block_hash: str
    log_index: int
    tx_hash: str
    timestamp: int | None
    receipt_ts: int
    removed: bool = False


@dataclass(slots=True, frozen=True)
class Swap(ChainEvent):
    """A Uniswap V2 or V3 ``Swap``. Amounts are signed from the pool's side (positive = into the pool), scaled by
    each token's decimals; ``price`` is token1 per token0 (V2: the trade's own rate, V3: from ``sqrt_price_x96``)."""

    pool: str
    kind: str  # "v2" | "v3"
    symbol0: str
    symbol1: str
    sender: str
    recipient: str
    amount0: float
    amount1: float
    price: float
    sqrt_price_x96: int | None
    liquidity: int | None
    tick: int | None
    block_number: int
    block_hash: str
    log_index: int
    tx_hash: str
    timestamp: int | None
    receipt_ts: int
    removed: bool = False


@dataclass(slots=True, frozen=True)
class PendingTx(ChainEvent):
    """A transaction hash entering the node's pool; sender/to/value/nonce are set when the node sends full txs."""

    hash: str
    sender: str | None
    to: str | None
    value: float | None  # ether
    nonce: int | None
    receipt_ts: int


@dataclass(slots=True, frozen=True)
class ChainLog(ChainEvent):
    """Any event decoded from the ABI given in a ``logs:<address>:<event>`` target."""

    address: str
    event: str
    args: dict[str, Any]
    block_number: int
    block_hash: str
    log_index: int
    tx_hash: str
    timestamp: int | None
    receipt_ts: int
    removed: bool = False


@dataclass(slots=True, frozen=True)
class Flow(ChainEvent):
    """One side of a token transfer: ``amount`` enters (+) or leaves (-) ``address``. A retraction negates it."""

    token: str
    symbol: str
    address: str
    amount: float
    block_number: int
    log_index: int
    tx_hash: str
    timestamp: int | None
    receipt_ts: int


def _opt(value: object) -> object:
    # RollingFrame stores None as its NaT marker (an int); in object columns NaN reads as "missing" in pandas.
    return float("nan") if value is None else value


def retracted(event: Any) -> Any:
    """The same event marked ``removed=True`` (what a reorg appends)."""
    return dataclasses.replace(event, removed=True)


def flows(transfer: Transfer) -> tuple[Flow, Flow]:
    """The two flow rows of a transfer; negated when the transfer is a retraction."""
    sign = -1.0 if transfer.removed else 1.0
    common = (transfer.block_number, transfer.log_index, transfer.tx_hash, transfer.timestamp, transfer.receipt_ts)
    return (
        Flow(transfer.token, transfer.symbol, transfer.sender, -sign * transfer.value, *common),
        Flow(transfer.token, transfer.symbol, transfer.recipient, sign * transfer.value, *common),
    )


_LOG = {"block_number": "int", "block_hash": "object", "log_index": "int", "tx_hash": "object"}

FRAMES: dict[str, FrameSpec] = {
    "blocks": FrameSpec(
        {"ts": "time", "receipt_ts": "time", "number": "int", "hash": "object", "parent_hash": "object",
         "base_fee": "float", "gas_used": "int", "gas_limit": "int", "tx_count": "int", "removed": "int"},
        Block,
        lambda b: (b.timestamp, b.receipt_ts, b.number, b.hash, b.parent_hash,
                   float("nan") if b.base_fee is None else float(b.base_fee), b.gas_used, b.gas_limit,
                   b.tx_count, int(b.removed)),
    ),
    "transfers": FrameSpec(
        {"ts": "time", "receipt_ts": "time", "token": "category", "symbol": "category", "sender": "object",
         "recipient": "object", "value": "float", "raw_value": "object", "token_id": "object", **_LOG,
         "removed": "int"},
        Transfer,
        lambda t: (t.timestamp, t.receipt_ts, t.token, t.symbol, t.sender, t.recipient, t.value, t.raw_value,
                   _opt(t.token_id), t.block_number, t.block_hash, t.log_index, t.tx_hash, int(t.removed)),
    ),
    "swaps": FrameSpec(
        {"ts": "time", "receipt_ts": "time", "pool": "category", "kind": "category", "symbol0": "category",
         "symbol1": "category", "sender": "object", "recipient": "object", "amount0": "float", "amount1": "float",
         "price": "float", "sqrt_price_x96": "object", "liquidity": "object", "tick": "object", **_LOG,
         "removed": "int"},
        Swap,
        lambda s: (s.timestamp, s.receipt_ts, s.pool, s.kind, s.symbol0, s.symbol1, s.sender, s.recipient,
                   s.amount0, s.amount1, s.price, _opt(s.sqrt_price_x96), _opt(s.liquidity), _opt(s.tick),
                   s.block_number, s.block_hash, s.log_index, s.tx_hash, int(s.removed)),
    ),
    "pending": FrameSpec(
        {"receipt_ts": "time", "hash": "object", "sender": "object", "to": "object", "value": "float",
         "nonce": "object"},
        PendingTx,
        lambda p: (p.receipt_ts, p.hash, _opt(p.sender), _opt(p.to), _opt(p.value), _opt(p.nonce)),
    ),
    "logs": FrameSpec(
        {"ts": "time", "receipt_ts": "time", "address": "category", "event": "category", "args": "object",
         **_LOG, "removed": "int"},
        ChainLog,
        lambda c: (c.timestamp, c.receipt_ts, c.address, c.event, c.args, c.block_number, c.block_hash,
                   c.log_index, c.tx_hash, int(c.removed)),
    ),
    "flow": FrameSpec(
        {"ts": "time", "receipt_ts": "time", "token": "category", "symbol": "category", "address": "object",
         "amount": "float", "block_number": "int", "log_index": "int", "tx_hash": "object"},
        Flow,
        lambda f: (f.timestamp, f.receipt_ts, f.token, f.symbol, f.address, f.amount, f.block_number,
                   f.log_index, f.tx_hash),
    ),
}
"""The rolling frames an ``eth`` feed fills: ``feed.blocks``, ``feed.transfers``, ``feed.swaps``, ``feed.pending``,
``feed.logs``, ``feed.flow``."""


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows still on the canonical chain: drops every retracted row together with its ``removed`` twin."""
    if "removed" not in frame or frame.empty:
        return frame
    key = ["hash"] if "log_index" not in frame else ["block_hash", "log_index"]
    gone = frame.loc[frame["removed"] == 1, key].drop_duplicates()
    merged = frame.merge(gone.assign(_gone=True), on=key, how="left")
    return frame.loc[merged["_gone"].isna().to_numpy()].reset_index(drop=True)


def net_flow(frame: pd.DataFrame, freq: str = "1min") -> pd.DataFrame:
    """Net token flow per address, token and ``freq`` interval from ``feed.flow.to_pandas()`` (retractions net out).

    Returns a tidy frame with columns ``ts`` (interval start), ``symbol``, ``address``, ``amount``.
    """
    if frame.empty:
        return pd.DataFrame({"ts": [], "symbol": [], "address": [], "amount": []})
    grouped = frame.groupby([pd.Grouper(key="ts", freq=freq), "symbol", "address"], observed=True)["amount"].sum()
    return grouped[grouped != 0].reset_index()
