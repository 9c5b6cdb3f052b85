"""Protocol-faithful local exchanges: a seeded Binance spot simulator and a replay server for real captures.

Both serve REST and WebSocket on one loopback port with Binance's URLs, payloads and limits, so the real
adapters run against them unchanged in tests, the demo and the benchmarks.
"""

from __future__ import annotations

from .binance import BinanceSim
from .faults import FAULT_NAMES
from .market import DEFAULT_SPECS, BookTicker, MarketSim, Step, SymbolSpec, TradePrint, spec_for
from .replay import DEFAULT_RECORDING, BinanceReplay

__all__ = [
    "DEFAULT_RECORDING",
    "DEFAULT_SPECS",
    "FAULT_NAMES",
    "BinanceReplay",
    "BinanceSim",
    "BookTicker",
    "MarketSim",
    "Step",
    "SymbolSpec",
    "TradePrint",
    "spec_for",
]
