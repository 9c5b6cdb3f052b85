"""Event signatures, their topics, and the compiled test contracts.

``parse_event`` turns ``"Approval(address indexed owner, address indexed spender, uint256 value)"`` or a known
name (``"Approval"``, ``"Sync"``...) into an :class:`EventAbi`; everything else that can go wrong with an event
name raises :class:`UnknownEventError` when the ``Feed`` is built, not when the first log arrives.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi.grammar import parse as parse_type
from eth_utils import keccak

from ..errors import ConfigError

__all__ = [
    "EventAbi", "Param", "UnknownEventError", "parse_event", "KNOWN_EVENTS", "TRANSFER", "APPROVAL", "SWAP_V2",
    "SWAP_V3", "SYNC", "load_artifact", "ERC20_VIEW_ABI", "PAIR_VIEW_ABI",
]

ARTIFACTS = Path(__file__).with_name("artifacts")


class UnknownEventError(ConfigError):
    """An event given in a ``logs:`` target is neither a known name nor a valid Solidity event signature."""


@dataclass(slots=True, frozen=True)
class Param:
    type: str
    name: str
    indexed: bool


@dataclass(slots=True, frozen=True)
class EventAbi:
    name: str
    params: tuple[Param, ...]

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(p.type for p in self.params)})"

    @property
    def declaration(self) -> str:
        """The full signature with ``indexed`` markers and names: parses back to the same event."""
        parts = (f"{p.type}{' indexed' if p.indexed else ''} {p.name}" for p in self.params)
        return f"{self.name}({','.join(parts)})"

    @property
    def topic(self) -> str:
        """topic0: keccak of the canonical signature, ``0x``-hex."""
        return "0x" + keccak(text=self.signature).hex()

    @property
    def indexed(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.indexed)

    @property
    def unindexed(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if not p.indexed)

    def as_abi(self) -> dict[str, Any]:
        return {"type": "event", "name": self.name, "anonymous": False,
                "inputs": [{"type": p.type, "name": p.name, "indexed": p.indexed} for p in self.params]}


_SIGNATURE = re.compile(r"^\s*([A-Za-z_$][A-Za-z0-9_$]*)\s*\((.*)\)\s*$")


def _parse_signature(text: str) -> EventAbi:
    match = _SIGNATURE.match(text)
    if not match:
        raise UnknownEventError(f"{text!r} is not an event signature like 'Approval(address indexed,address indexed,"
                                f"uint256)' nor a known event name ({', '.join(sorted(KNOWN_EVENTS))})")
    name, body = match.groups()
    params = []
    for i, part in enumerate(p for p in body.split(",") if p.strip()):
        words = part.split()
        typ, rest = words[0], words[1:]
        indexed = bool(rest) and rest[0] == "indexed"
        rest = rest[1:] if indexed else rest
        if len(rest) > 1:
            raise UnknownEventError(f"cannot read parameter {part.strip()!r} of {text!r}")
        try:
            parsed = parse_type(typ)
            parsed.validate()
            canonical = parsed.to_type_str()
        except Exception:
            raise UnknownEventError(f"{typ!r} in {text!r} is not a Solidity ABI type") from None
        params.append(Param(canonical, rest[0] if rest else f"arg{i}", indexed))
    if sum(p.indexed for p in params) > 3:
        raise UnknownEventError(f"{text!r} has more than 3 indexed parameters")
    return EventAbi(name, tuple(params))


TRANSFER = _parse_signature("Transfer(address indexed from, address indexed to, uint256 value)")
APPROVAL = _parse_signature("Approval(address indexed owner, address indexed spender, uint256 value)")
SWAP_V2 = _parse_signature("Swap(address indexed sender, uint256 amount0In, uint256 amount1In, uint256 amount0Out, "
                           "uint256 amount1Out, address indexed to)")
SWAP_V3 = _parse_signature("Swap(address indexed sender, address indexed recipient, int256 amount0, int256 amount1, "
                           "uint160 sqrtPriceX96, uint128 liquidity, int24 tick)")
SYNC = _parse_signature("Sync(uint112 reserve0, uint112 reserve1)")

KNOWN_EVENTS: dict[str, EventAbi] = {
    "Transfer": TRANSFER, "Approval": APPROVAL, "Sync": SYNC, "SwapV2": SWAP_V2, "SwapV3": SWAP_V3,
    "Deposit": _parse_signature("Deposit(address indexed dst, uint256 wad)"),
    "Withdrawal": _parse_signature("Withdrawal(address indexed src, uint256 wad)"),
}
"""Event names accepted without a signature (``SwapV2`` / ``SwapV3`` since both are called ``Swap``)."""


def parse_event(text: str) -> EventAbi:
    """A known event name or a full Solidity event signature -> :class:`EventAbi`."""
    text = text.strip()
    if text in KNOWN_EVENTS:
        return KNOWN_EVENTS[text]
    if "(" not in text:
        lowered = {k.lower(): k for k in KNOWN_EVENTS}
        hint = f" Did you mean {lowered[text.lower()]!r}?" if text.lower() in lowered else ""
        raise UnknownEventError(
            f"unknown event {text!r}; give one of {', '.join(sorted(KNOWN_EVENTS))} or a signature such as "
            f"'Approval(address indexed owner,address indexed spender,uint256 value)'.{hint}"
        )
    return _parse_signature(text)


ERC20_VIEW_ABI = [
    {"type": "function", "name": "decimals", "stateMutability": "view", "inputs": [],
     "outputs": [{"type": "uint8", "name": ""}]},
    {"type": "function", "name": "symbol", "stateMutability": "view", "inputs": [],
     "outputs": [{"type": "string", "name": ""}]},
]
PAIR_VIEW_ABI = [
    {"type": "function", "name": "token0", "stateMutability": "view", "inputs": [],
     "outputs": [{"type": "address", "name": ""}]},
    {"type": "function", "name": "token1", "stateMutability": "view", "inputs": [],
     "outputs": [{"type": "address", "name": ""}]},
]


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """``{"abi": [...], "bytecode": "0x..."}`` of a contract compiled from ``contracts/`` by
    ``scripts/build_contracts.py`` (``TestToken``, ``TestPair``, ``V3SwapEmitter``)."""
    path = ARTIFACTS / f"{name}.json"
    if not path.exists():
        known = sorted(p.stem for p in ARTIFACTS.glob("*.json"))
        raise FileNotFoundError(f"no compiled contract {name!r}; have {known}")
    return json.loads(path.read_text())  # type: ignore[no-any-return]
