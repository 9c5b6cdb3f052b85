"""Warm start and trade-hole fills: trades from each venue's REST API, in the trades frame beside live ones.

``Feed(..., history="15min")`` starts every trades frame with the venue's recent trades instead of empty rows.
For each market the live trades are held back (:class:`TradeGate`) from the moment the feed connects until its
history has been fetched; then the history goes into the frame first, each trade once (a history trade whose id
is among the held live ones, or that is not older than the first of them, is left to the live stream), then the
held live trades. So the frame and every bar built from it see one market's trades in order, with no duplicate at
the seam. History rows are :class:`BackfillTrade` events, rows whose ``origin`` column says ``"backfill"``.

A trade-id hole seen on a live stream (after a reconnect) is filled from the same endpoint
(:class:`TradeHoleFiller`): the missing trades arrive as :class:`FilledTrade` events (``origin`` ``"gapfill"``)
after the live trades that revealed the hole, so bars count them as late trades of the open bar.

What each venue's endpoint can reach is in ``HISTORY_LIMITS``. Imports nothing heavy.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from .errors import ConfigError
from .model import Event, Trade

if TYPE_CHECKING:
    from .venues.base import MarketAdapter

__all__ = [
    "BackfillTrade", "FilledTrade", "TradeGate", "WarmStart", "TradeHoleFiller", "fill_trade_hole", "parse_history",
    "HISTORY_LIMITS",
    "ORIGINS", "FIRST_TRADE_WAIT",
]

log = logging.getLogger(__name__)

ORIGINS = ("live", "backfill", "gapfill")
"""Values of the trades frame's ``origin`` column."""

FIRST_TRADE_WAIT = 5.0
"""Seconds a market's history request waits for its first live trade, so the REST answer covers the seam."""

MAX_HISTORY_NS = 24 * 3600 * 10**9

HISTORY_LIMITS = {
    "binance": "/api/v3/aggTrades (weight 4) finds the first id, /api/v3/historicalTrades pages of 1,000 "
               "(weight 25, one a second): any window, ~1,000 trades/s of history fetched",
    "coinbase": "/api/v3/brokerage/market/products/{id}/ticker pages of 1,000 back by time, 5 requests/s",
    "kraken": "/0/public/Trades pages of 1,000 forward from since, one a second",
    "bybit": "/v5/market/recent-trade: only the newest 60 trades on spot (1,000 on linear), no paging",
    "okx": "/api/v5/market/history-trades pages of 100 back by trade id, 5 requests/s",
}
"""What a warm start can reach on each venue (endpoint, page, pace)."""


@dataclass(slots=True)
class BackfillTrade(Trade):
    """A trade from the venue's REST history at start (``history=``): ``origin`` ``"backfill"`` in the frame."""

    origin: ClassVar[str] = "backfill"


@dataclass(slots=True)
class FilledTrade(Trade):
    """A trade fetched to fill a trade-id hole after a reconnect: ``origin`` ``"gapfill"`` in the frame."""

    origin: ClassVar[str] = "gapfill"


def _as(cls: type[Trade], t: Trade) -> Trade:
    return cls(t.venue, t.symbol, t.price, t.size, t.side, t.trade_id, t.exchange_ts, t.receipt_ts, t.sequence)


def parse_history(value: object) -> int | None:
    """``history=``: ``None`` / ``0`` (no warm start), a pandas duration (``"15min"``, ``"1h"``) or seconds ->
    ns; at most a day."""
    if value is None or value == 0:
        return None
    ns: int | None = None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        ns = int(value * 1e9)
    elif isinstance(value, str):
        import pandas as pd

        try:
            ns = int(pd.Timedelta(value).value)
        except ValueError:
            ns = None
    if ns is None or not 0 < ns <= MAX_HISTORY_NS:
        raise ConfigError(f"history must be a duration up to one day ('15min', '1h') or seconds, got {value!r}")
    return ns


def _later(a: Trade, b: Trade) -> bool:
    """Is ``a`` not older than ``b``? By id where both are numbers (every venue numbers its trades in order),
    else by exchange time."""
    if a.trade_id.isdigit() and b.trade_id.isdigit():
        return int(a.trade_id) >= int(b.trade_id)
    return (a.exchange_ts or 0) >= (b.exchange_ts or 0)


class TradeGate:
    """In place of an adapter's ``emit`` during a warm start: holds each market's live trades until its history is
    :meth:`release`\\ d, then lets history and held trades through in order; everything else passes at once."""

    def __init__(self, emit: Callable[[Event], None], symbols: Iterable[str], max_held: int = 1_000_000) -> None:
        self.emit = emit
        self.held: dict[str, list[Trade]] = {s: [] for s in symbols}
        self.first_live: dict[str, asyncio.Event] = {s: asyncio.Event() for s in self.held}
        self.seams: dict[str, tuple[set[str], Trade]] = {}
        """Markets whose history went out before any live trade: their ids, and the newest, until a later live
        trade has passed (a live duplicate of a history trade is dropped)."""
        self.max_held = max_held
        self.duplicates = 0

    @property
    def open(self) -> bool:
        """Nothing held and no seam left to watch: the adapter's own ``emit`` can take over."""
        return not self.held and not self.seams

    def __call__(self, event: Event) -> None:
        if type(event) is Trade:
            held = self.held.get(event.symbol)
            if held is not None:
                if len(held) < self.max_held:
                    held.append(event)
                    self.first_live[event.symbol].set()
                    return
                self.release(event.symbol, [])  # too much held: give up the seam rather than memory
            seam = self.seams.get(event.symbol)
            if seam is not None:
                ids, newest = seam
                if event.trade_id in ids or not _later(event, newest):
                    self.duplicates += 1
                    return
                del self.seams[event.symbol]
        self.emit(event)

    def release(self, symbol: str, history: list[Trade]) -> int:
        """Emit ``symbol``'s ``history`` (oldest first) as :class:`BackfillTrade` rows before its held live trades;
        returns the history rows emitted."""
        held = self.held.pop(symbol, [])
        self.first_live.pop(symbol, None)
        if held:
            live_ids = {t.trade_id for t in held}
            first = held[0]
            for trade in held:  # a venue's first live frame may be a snapshot of recent trades, newest first
                if not _later(trade, first):
                    first = trade
            history = [t for t in history if t.trade_id not in live_ids and not _later(t, first)]
        elif history:
            self.seams[symbol] = ({t.trade_id for t in history}, history[-1])
        for trade in history:
            self.emit(_as(BackfillTrade, trade))
        for trade in held:
            self.emit(trade)
        return len(history)


@dataclass(slots=True)
class MarketHistory:
    """How one market's warm start went, for :meth:`livefeed.Feed.history_report`."""

    venue: str
    symbol: str
    rows: int = 0
    first_ts: int | None = None
    seconds: float = 0.0
    error: str | None = None

    def as_row(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


@dataclass
class WarmStart:
    """A feed's warm start: one task per venue (:meth:`run`), ``done`` once every market is released."""

    history_ns: int
    max_rows: int
    markets: dict[tuple[str, str], MarketHistory] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)
    _pending: int = 0

    def install(self, adapters: Iterable[MarketAdapter]) -> list[tuple[MarketAdapter, TradeGate]]:
        """Put a :class:`TradeGate` in front of every adapter that streams trades and can fetch them; call
        before the adapters run."""
        gated = []
        for adapter in adapters:
            if "trades" not in adapter.channels or not hasattr(adapter, "recent_trades"):
                continue
            gate = TradeGate(adapter.emit, adapter.symbols)
            adapter.emit = gate  # type: ignore[method-assign]
            gated.append((adapter, gate))
            for symbol in adapter.symbols:
                self.markets[(adapter.name, symbol)] = MarketHistory(adapter.name, symbol)
        self._pending = len(gated)
        if not gated:
            self.done.set()
        return gated

    async def run(self, adapter: MarketAdapter, gate: TradeGate) -> None:
        """Fetch and release each market's history, then hand ``emit`` back once the seams are past."""
        since = time.time_ns() - self.history_ns
        try:
            waits = [asyncio.wait_for(event.wait(), FIRST_TRADE_WAIT) for event in gate.first_live.values()]
            await asyncio.gather(*waits, return_exceptions=True)
            for symbol in adapter.symbols:
                report = self.markets[(adapter.name, symbol)]
                started = time.monotonic()
                history: list[Trade] = []
                try:
                    history = await adapter.recent_trades(symbol, since, self.max_rows)  # type: ignore[attr-defined]
                except Exception as exc:  # one market's failed history must not hold the others' live trades
                    report.error = f"{type(exc).__name__}: {exc}"[:300]
                    log.warning("%s %s: no warm-start history (%s)", adapter.name, symbol, report.error)
                report.rows = gate.release(symbol, history)
                report.first_ts = history[0].exchange_ts if history and report.rows else None
                report.seconds = round(time.monotonic() - started, 3)
            deadline = time.monotonic() + 60.0
            while gate.seams and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        finally:
            for symbol in list(gate.held):
                gate.release(symbol, [])
            if adapter.emit is gate:
                adapter.emit = gate.emit  # type: ignore[method-assign]
            self._pending -= 1
            if self._pending <= 0:
                self.done.set()

    def report_rows(self) -> list[dict[str, object]]:
        return [m.as_row() for m in self.markets.values()]


class TradeHoleFiller:
    """Fills one adapter's trade-id holes from its REST recent trades, one request chain at a time.

    :meth:`fill` is what a venue's ``trades_missing`` hook calls (on the feed's loop) when a live stream skips
    trade ids, e.g. across a reconnect: the trades with ids in that range that the venue still serves are emitted
    as :class:`FilledTrade` events (``origin`` ``"gapfill"``) after the live trade that showed the hole. The
    request reaches back to a minute before the last trade received before the hole (at most ``LOOKBACK_NS``).
    """

    LOOKBACK_NS = 300 * 10**9
    MARGIN_NS = 60 * 10**9

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter
        self.holes = 0
        self.missing = 0
        self.filled = 0
        self.failed = 0
        self._lock = asyncio.Lock()

    def fill(self, symbol: str, first_missing: int, last_missing: int, last_seen_ns: int | None = None) -> None:
        if last_missing < first_missing:
            return
        self.holes += 1
        self.missing += last_missing - first_missing + 1
        now = time.time_ns()
        since = now - self.LOOKBACK_NS
        if last_seen_ns is not None:
            since = max(since, last_seen_ns - self.MARGIN_NS)
        self.adapter.spawn(self._fill(symbol, first_missing, last_missing, since),
                           f"{self.adapter.name}-fill-{symbol}")

    async def _fill(self, symbol: str, first: int, last: int, since_ns: int) -> None:
        adapter = self.adapter
        async with self._lock:
            try:
                if hasattr(adapter, "trades_from_id"):  # Binance: straight to the ids
                    trades = await adapter.trades_from_id(symbol, first, last - first + 1, last)
                else:
                    trades = await adapter.recent_trades(symbol, since_ns)
            except Exception as exc:  # a failed fill leaves the hole as it is (counted, in coverage)
                self.failed += 1
                log.warning("%s %s: trade ids %d-%d not filled (%s)", adapter.name, symbol, first, last, exc)
                return
        emit = adapter.emit
        for trade in trades:
            if trade.trade_id.isdigit() and first <= int(trade.trade_id) <= last:
                self.filled += 1
                emit(_as(FilledTrade, trade))


def fill_trade_hole(adapter: Any, symbol: str, first_missing: int, last_missing: int) -> None:
    """For a venue's ``trades_missing`` hook: fill the hole through the adapter's :class:`TradeHoleFiller`."""
    filler: TradeHoleFiller | None = getattr(adapter, "hole_filler", None)
    if filler is None:
        filler = adapter.hole_filler = TradeHoleFiller(adapter)
    # The receipt time of the trade before the hole: the trade-id check's chain ([last id, receipt ns]) still holds
    # it while trades_missing runs. Without it the request reaches back LOOKBACK_NS.
    chain = getattr(adapter, "_trade_chains", {}).get(symbol)
    filler.fill(symbol, first_missing, last_missing, chain[1] if chain else None)
