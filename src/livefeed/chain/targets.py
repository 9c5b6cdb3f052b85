"""What may follow ``eth:`` in a subscription, checked and normalised when the ``Feed`` is built.

=============================  ====================================================================
``newHeads``                   blocks (aliases ``blocks``, ``heads``)
``pending`` / ``pending:full``  pending transaction hashes / full transactions where the node sends them
``transfers:<token>``          ERC-20 (and ERC-721) ``Transfer`` logs of one token contract
``swaps:<pool>``               Uniswap V2 and V3 ``Swap`` logs of one pool (routed by topic0)
``logs:<address>:<event>``     any event, by known name or full Solidity signature
=============================  ====================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eth_utils import to_checksum_address

from ..errors import ConfigError
from .abi import EventAbi, parse_event

__all__ = ["ChainTargetError", "InvalidAddressError", "Target", "parse_target", "normalize_target"]


class ChainTargetError(ConfigError):
    """An ``eth:`` subscription that livefeed cannot follow."""


class InvalidAddressError(ChainTargetError):
    """Not a 20-byte hex address (or a mixed-case address whose EIP-55 checksum is wrong)."""


_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_KINDS = ("newHeads", "pending", "pending:full", "transfers:<token>", "swaps:<pool>", "logs:<address>:<event>")


@dataclass(slots=True, frozen=True)
class Target:
    kind: str  # "heads" | "pending" | "transfers" | "swaps" | "logs"
    address: str | None = None
    event: EventAbi | None = None
    full: bool = False

    def __str__(self) -> str:
        if self.kind == "heads":
            return "newHeads"
        if self.kind == "pending":
            return "pending:full" if self.full else "pending"
        if self.kind == "logs":
            assert self.event is not None
            return f"logs:{self.address}:{self.event.declaration}"
        return f"{self.kind}:{self.address}"


def checksum_address(text: str, where: str) -> str:
    text = text.strip()
    if not _ADDRESS.match(text):
        raise InvalidAddressError(f"{text!r} in {where!r} is not an address: expected 0x followed by 40 hex digits")
    lower, upper = text[2:].islower() or text[2:].isdigit(), text[2:].isupper()
    checked = to_checksum_address(text)
    if not (lower or upper) and checked != text:
        raise InvalidAddressError(f"{text!r} in {where!r} fails its EIP-55 checksum (did you mean {checked}?)")
    return checked


def parse_target(text: str) -> Target:
    """``"transfers:0xabc..."`` -> ``Target("transfers", "0xAbC...")``; a :class:`ChainTargetError` otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ChainTargetError(f"empty eth target; use one of {', '.join(_KINDS)}")
    head, _, rest = text.strip().partition(":")
    key = head.lower()
    if key in ("newheads", "blocks", "heads") and not rest:
        return Target("heads")
    if key == "pending" and rest in ("", "full"):
        return Target("pending", full=rest == "full")
    if key in ("transfers", "swaps") and rest:
        return Target(key, checksum_address(rest, text))
    if key == "logs" and rest:
        address, sep, event = rest.partition(":")
        if not sep or not event.strip():
            raise ChainTargetError(f"{text!r}: a logs target is 'logs:<address>:<event name or signature>'")
        return Target("logs", checksum_address(address, text), parse_event(event))
    raise ChainTargetError(f"unknown eth target {text!r}; use one of {', '.join(_KINDS)}")


def normalize_target(text: str) -> str:
    return str(parse_target(text))
