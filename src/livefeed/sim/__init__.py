"""Protocol-faithful local exchanges: seeded simulators of Binance, Coinbase, Kraken, Bybit and OKX.

Each serves REST and WebSocket on one loopback port with its venue's URLs, payloads, sequence numbers, checksums
and limits, so the real adapters run against them unchanged in tests, the demo and the benchmarks.
``SIMULATORS`` maps a venue name to its simulator class. A real Binance recording is served by
:class:`~livefeed.replay.CaptureReplay` after ``binance_recording.recording_to_capture``.

The markets look like markets: every simulator with the same ``seed`` quotes one fair price per base asset (a
pure function of seed, asset and time, so separate processes agree), each venue with its own latency, noise and
spread, books about 4% deep on the venue's tick grid, and log-normal trade sizes (``fair``, ``shape``, ``market``).
"""

from __future__ import annotations

from .base import SimServer, SimSession
from .binance import BinanceSim
from .binance_usdm import BinanceUsdmSim
from .bybit import BybitSim
from .bybit_linear import BybitLinearSim
from .coinbase import CoinbaseSim
from .deribit import DeribitSim
from .faults import FAULT_NAMES
from .kraken import KrakenSim
from .market import DEFAULT_SPECS, BookTicker, MarketSim, Step, SymbolSpec, TradePrint, spec_for
from .okx import OkxSim
from .okx_swap import OkxSwapSim
from .venue import VenueSim

SIMULATORS: dict[str, type[VenueSim]] = {
    "binance": BinanceSim,
    "coinbase": CoinbaseSim,
    "kraken": KrakenSim,
    "bybit": BybitSim,
    "okx": OkxSim,
    "deribit": DeribitSim,
    "binance-usdm": BinanceUsdmSim,
    "bybit-linear": BybitLinearSim,
    "okx-swap": OkxSwapSim,
}
"""Source name (a venue's spot source, or a derivatives source like ``binance-usdm``) -> simulator class; every
one takes ``symbols=``, ``seed=``, ``interval=``, ``levels=``."""

__all__ = [
    "SIMULATORS",
    "SimServer",
    "SimSession",
    "VenueSim",
    "BybitSim",
    "CoinbaseSim",
    "DeribitSim",
    "KrakenSim",
    "OkxSim",
    "BybitLinearSim",
    "OkxSwapSim",
    "DEFAULT_SPECS",
    "FAULT_NAMES",
    "BinanceSim",
    "BinanceUsdmSim",
    "BookTicker",
    "MarketSim",
    "Step",
    "SymbolSpec",
    "TradePrint",
    "spec_for",
]
