"""Raw JSON-RPC logs -> events, with no I/O: testable with literal logs, fast enough for the hot path.

A log may come from a subscription (web3 formats it: ``HexBytes`` topics, int numbers) or from ``eth_getLogs``;
both shapes, and plain ``0x`` strings, are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import to_checksum_address

from .abi import SWAP_V2, SWAP_V3, TRANSFER, EventAbi
from .events import ChainLog, Swap, Transfer

__all__ = ["TokenInfo", "PoolInfo", "LogKey", "log_key", "decode_transfer", "decode_swap", "decode_log", "hexstr",
           "as_bytes", "as_int"]

TRANSFER_TOPIC = bytes.fromhex(TRANSFER.topic[2:])
SWAP_V2_TOPIC = bytes.fromhex(SWAP_V2.topic[2:])
SWAP_V3_TOPIC = bytes.fromhex(SWAP_V3.topic[2:])

LogKey = tuple[str, int]
"""(block hash, log index): what identifies a log across re-sends, backfills and reorgs."""


@dataclass(slots=True, frozen=True)
class TokenInfo:
    symbol: str
    decimals: int

    @property
    def scale(self) -> float:
        return 10.0**-self.decimals


@dataclass(slots=True, frozen=True)
class PoolInfo:
    token0: TokenInfo
    token1: TokenInfo


def as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):  # HexBytes included
        return bytes(value)
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def hexstr(value: Any) -> str:
    if isinstance(value, str):
        return value.lower() if value.startswith("0x") else "0x" + value.lower()
    return "0x" + bytes(value).hex()


def as_int(value: Any) -> int:
    return value if isinstance(value, int) else int(value, 16)


@lru_cache(maxsize=65_536)
def _checksum(address: bytes | str) -> str:
    # EIP-55 costs a keccak per call; the same few addresses recur in every log, so cache them.
    return to_checksum_address(address)


def _address(topic: bytes) -> str:
    return _checksum(topic[-20:])


def log_key(log: Mapping[str, Any]) -> LogKey:
    return hexstr(log["blockHash"]), as_int(log["logIndex"])


def _common(log: Mapping[str, Any]) -> tuple[int, str, int, str]:
    return as_int(log["blockNumber"]), hexstr(log["blockHash"]), as_int(log["logIndex"]), hexstr(log["transactionHash"])


def _timestamp(log: Mapping[str, Any], fallback: int | None) -> int | None:
    ts = log.get("blockTimestamp")  # newer nodes (geth >= 1.16, anvil) include it
    return as_int(ts) * 1_000_000_000 if ts is not None else fallback


def decode_transfer(log: Mapping[str, Any], token: TokenInfo, receipt_ts: int, ts: int | None = None) -> Transfer:
    """ERC-20 (3 topics, value in data) or ERC-721 (4 topics, tokenId indexed): same topic0, told apart by count."""
    topics = [as_bytes(t) for t in log["topics"]]
    if topics[0] != TRANSFER_TOPIC:
        raise ValueError("not a Transfer log")
    number, block_hash, index, tx = _common(log)
    address = _checksum(log["address"])
    if len(topics) == 4:
        token_id = int.from_bytes(topics[3], "big")
        return Transfer(address, token.symbol, _address(topics[1]), _address(topics[2]), 1.0, 1, token_id,
                        number, block_hash, index, tx, _timestamp(log, ts), receipt_ts, bool(log.get("removed")))
    if len(topics) != 3:
        raise ValueError(f"Transfer log with {len(topics)} topics")
    raw = int.from_bytes(as_bytes(log["data"]), "big")
    return Transfer(address, token.symbol, _address(topics[1]), _address(topics[2]), raw * token.scale, raw, None,
                    number, block_hash, index, tx, _timestamp(log, ts), receipt_ts, bool(log.get("removed")))


def decode_swap(log: Mapping[str, Any], pool: PoolInfo, receipt_ts: int, ts: int | None = None) -> Swap:
    """A Uniswap V2 or V3 ``Swap``, routed by topic0."""
    topics = [as_bytes(t) for t in log["topics"]]
    data = as_bytes(log["data"])
    number, block_hash, index, tx = _common(log)
    address = _checksum(log["address"])
    s0, s1 = pool.token0.scale, pool.token1.scale
    if topics[0] == SWAP_V2_TOPIC:
        in0, in1, out0, out1 = (int.from_bytes(data[i : i + 32], "big") for i in range(0, 128, 32))
        amount0, amount1 = (in0 - out0) * s0, (in1 - out1) * s1
        price = abs(amount1 / amount0) if amount0 else float("nan")
        return Swap(address, "v2", pool.token0.symbol, pool.token1.symbol, _address(topics[1]),
                    _address(topics[2]), amount0, amount1, price, None, None, None, number, block_hash, index, tx,
                    _timestamp(log, ts), receipt_ts, bool(log.get("removed")))
    if topics[0] == SWAP_V3_TOPIC:
        a0, a1, sqrt_price, liquidity, tick = abi_decode(["int256", "int256", "uint160", "uint128", "int24"], data)
        price = (sqrt_price / 2**96) ** 2 * 10.0 ** (pool.token0.decimals - pool.token1.decimals)
        return Swap(address, "v3", pool.token0.symbol, pool.token1.symbol, _address(topics[1]),
                    _address(topics[2]), a0 * s0, a1 * s1, price, sqrt_price, liquidity, tick, number, block_hash,
                    index, tx, _timestamp(log, ts), receipt_ts, bool(log.get("removed")))
    raise ValueError("not a Uniswap V2 or V3 Swap log")


def _indexed_value(typ: str, topic: bytes) -> Any:
    # Dynamic types (string, bytes, arrays) are indexed by their keccak hash: keep the hash.
    if typ in ("string", "bytes") or typ.endswith("]") or typ.startswith("("):
        return "0x" + topic.hex()
    return _plain(typ, abi_decode([typ], topic)[0])


def _plain(typ: str, value: Any) -> Any:
    if typ == "address":
        return _checksum(value)
    return "0x" + value.hex() if isinstance(value, bytes) else value


def decode_log(log: Mapping[str, Any], event: EventAbi, receipt_ts: int, ts: int | None = None) -> ChainLog:
    """Any event given its ABI: indexed args from topics[1:], the rest from data."""
    topics: Sequence[bytes] = [as_bytes(t) for t in log["topics"]]
    indexed = event.indexed
    if len(topics) != 1 + len(indexed):
        raise ValueError(f"{event.name} log has {len(topics)} topics, the ABI says {1 + len(indexed)}")
    args: dict[str, Any] = {p.name: _indexed_value(p.type, t) for p, t in zip(indexed, topics[1:], strict=True)}
    values = abi_decode([p.type for p in event.unindexed], as_bytes(log["data"]))
    for p, v in zip(event.unindexed, values, strict=True):
        args[p.name] = _plain(p.type, v)
    ordered = {p.name: args[p.name] for p in event.params}
    number, block_hash, index, tx = _common(log)
    return ChainLog(_checksum(log["address"]), event.name, ordered, number, block_hash, index, tx,
                    _timestamp(log, ts), receipt_ts, bool(log.get("removed")))
