"""REST recent-trades requests, paced within each venue's public rate budget.

Every market adapter has ``recent_trades(symbol, since_ns, max_rows)``: the venue's trades since ``since_ns``,
oldest first, fetched from its public REST endpoint page by page (see each venue module for the endpoint, its
page size and weight). Warm start (``Feed(history=...)``) and the filling of trade-id holes after a reconnect both
go through it. This module holds what those methods share: a :class:`Pacer` per adapter so the pages of every
symbol together stay within the share of the venue's budget given here, and :func:`get_json`, one request that
honours ``429``/``418`` with ``Retry-After`` and fails with one clear :class:`~livefeed.venues.rest.RestError`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson

from ..model import Trade
from ..redact import redact_text
from .rest import RestError, retry_after

if TYPE_CHECKING:
    from .rest import RestClient

__all__ = ["Pacer", "get_json", "PAGE_INTERVAL", "oldest_first", "RATE_LIMITED_RETRIES"]

PAGE_INTERVAL = {
    "binance": 1.0,   # historicalTrades weighs 25 of 6,000/min: one page a second uses a quarter of it
    "coinbase": 0.2,  # public market endpoints allow 10 requests/s: half of it
    "kraken": 1.0,    # public endpoints: about one call a second
    "bybit": 0.1,     # 600 requests / 5 s per IP: a sixth of it
    "okx": 0.2,       # history-trades allows 20 requests / 2 s: half of it
}
"""Seconds between two recent-trades requests of one adapter (every symbol together)."""

RATE_LIMITED_RETRIES = 3


class Pacer:
    """At most one request per ``interval`` seconds, in call order (one per adapter)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next = 0.0
        self.requests = 0

    async def wait(self) -> None:
        now = time.monotonic()
        start = max(now, self._next)
        self._next = start + self.interval
        self.requests += 1
        if start > now:
            await asyncio.sleep(start - now)


def _pacer(client: RestClient) -> Pacer:
    pacer: Pacer | None = getattr(client, "_recent_trades_pacer", None)
    if pacer is None:
        pacer = Pacer(PAGE_INTERVAL.get(client.name, 1.0))
        client._recent_trades_pacer = pacer  # type: ignore[attr-defined]
    return pacer


async def get_json(client: RestClient, path: str, params: dict[str, Any] | None = None) -> Any:
    """One paced GET of ``path``'s JSON; rate-limited answers wait ``Retry-After`` and retry (3 times)."""
    import httpx

    for _ in range(RATE_LIMITED_RETRIES + 1):
        await _pacer(client).wait()
        try:
            response = await client.rest_get(path, params)
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            reason = redact_text(str(exc)) or type(exc).__name__
            raise RestError(f"{client.name}: recent trades request {path} failed ({reason})") from None
        if response.status_code in (418, 429):
            await asyncio.sleep(retry_after(response))
            continue
        if response.status_code != 200:
            raise RestError(f"{client.name}: recent trades {path} answered HTTP {response.status_code}: "
                            f"{redact_text(response.text[:200])}")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise RestError(f"{client.name}: recent trades {path} answered with a body that is not JSON") from None
    raise RestError(f"{client.name}: recent trades {path} still rate limited after {RATE_LIMITED_RETRIES} waits")


def _order(trade: Trade) -> tuple[int, int]:
    ts = trade.exchange_ts if trade.exchange_ts is not None else trade.receipt_ts
    return (int(trade.trade_id), ts) if trade.trade_id.isdigit() else (ts, 0)


def oldest_first(trades: Iterable[Trade], since_ns: int, max_rows: int) -> list[Trade]:
    """``trades`` at or after ``since_ns``, each id once, oldest first (by id where ids are numbers), at most the
    newest ``max_rows``."""
    unique = {t.trade_id: t for t in trades if t.exchange_ts is None or t.exchange_ts >= since_ns}
    ordered = sorted(unique.values(), key=_order)
    return ordered[-max_rows:] if max_rows > 0 else []
