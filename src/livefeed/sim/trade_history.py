"""What a simulated venue's REST recent-trades endpoints serve: every trade it printed, with the time it sent.

Each venue simulator records its trades here as it publishes them (subscribers or not: the history is the
venue's), with the time its wire showed for them, so a REST answer and the WebSocket rows agree byte for byte on
ids, prices, sizes, sides and times. Bounded per market; pure, no I/O.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from .market import TradePrint

__all__ = ["TradeHistory", "SentTrade", "DEFAULT_HISTORY"]

DEFAULT_HISTORY = 50_000
"""Trades kept per market (about 45 minutes at the default 0.1 s step and 30% trade probability)."""


@dataclass(frozen=True, slots=True)
class SentTrade:
    """One printed trade and the time (ns) its venue's wire carried for it."""

    trade: TradePrint
    time_ns: int

    @property
    def trade_id(self) -> int:
        return self.trade.trade_id


class TradeHistory:
    """Per market, the trades in id order (ids only grow), newest last."""

    def __init__(self, keys: Iterable[str], maxlen: int = DEFAULT_HISTORY) -> None:
        self._trades: dict[str, deque[SentTrade]] = {key: deque(maxlen=maxlen) for key in keys}

    def record(self, key: str, trades: Iterable[TradePrint], time_ns: int | None = None) -> None:
        """Add a step's trades; ``time_ns`` is the time the wire showed, else each trade's own ``trade_time``."""
        log = self._trades[key]
        for t in trades:
            log.append(SentTrade(t, t.trade_time * 1_000_000 if time_ns is None else time_ns))

    def __contains__(self, key: str) -> bool:
        return key in self._trades

    def all(self, key: str) -> list[SentTrade]:
        return list(self._trades[key])

    def latest(self, key: str, limit: int) -> list[SentTrade]:
        """The newest ``limit`` trades, oldest first."""
        log = self._trades[key]
        return list(log)[-limit:] if limit > 0 else []

    def from_id(self, key: str, first_id: int, limit: int) -> list[SentTrade]:
        """Up to ``limit`` trades with id >= ``first_id``, oldest first."""
        log = list(self._trades[key])
        start = bisect_left([s.trade_id for s in log], first_id)
        return log[start : start + limit]

    def before_id(self, key: str, before_id: int, limit: int) -> list[SentTrade]:
        """Up to ``limit`` trades with id < ``before_id``, newest of them first, oldest returned last."""
        log = list(self._trades[key])
        end = bisect_left([s.trade_id for s in log], before_id)
        return log[max(0, end - limit) : end]

    def since(self, key: str, start_ns: int, limit: int, end_ns: int | None = None) -> list[SentTrade]:
        """Up to ``limit`` trades with ``start_ns <= time (< end_ns)``, oldest first."""
        log = list(self._trades[key])
        start = bisect_left([s.time_ns for s in log], start_ns)
        chosen = log[start:]
        if end_ns is not None:
            chosen = chosen[: bisect_left([s.time_ns for s in chosen], end_ns)]
        return chosen[:limit]
