"""On-chain data: Ethereum blocks, token transfers, swaps, any event and pending transactions, through web3.py.

``Feed(["eth:newHeads", "eth:transfers:<token>", "eth:swaps:<pool>", "eth:pending"],
endpoints={"eth": "ws://127.0.0.1:8545"})`` fills ``feed.blocks``, ``feed.transfers``, ``feed.swaps``,
``feed.pending``, ``feed.logs`` and ``feed.flow``. The adapter lives in :mod:`livefeed.chain.ethereum`; this package
imports nothing heavy until used.
"""

from __future__ import annotations

from .abi import EventAbi, UnknownEventError, parse_event
from .events import Block, ChainLog, Flow, PendingTx, Swap, Transfer, canonical, net_flow
from .targets import ChainTargetError, InvalidAddressError, normalize_target, parse_target

__all__ = [
    "Block", "ChainLog", "Flow", "PendingTx", "Swap", "Transfer", "canonical", "net_flow",
    "EventAbi", "UnknownEventError", "parse_event",
    "ChainTargetError", "InvalidAddressError", "normalize_target", "parse_target",
]
