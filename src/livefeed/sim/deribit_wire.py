"""Deribit's JSON-RPC payloads as the simulator sends them, and the option pricing behind its tickers (pure).

Shapes follow Deribit's API v2 pages: responses ``{"jsonrpc", "id", "result", "usIn", "usOut", "usDiff",
"testnet"}``, notifications ``{"jsonrpc", "method": "subscription", "params": {"channel", "data"}}``, heartbeats
``{"jsonrpc", "method": "heartbeat", "params": {"type": "test_request"}}``, book levels ``[action, price, amount]``
as numbers. Options are priced with Black-76 on a seeded smile, ``IV = a + b * ln(K / F) ** 2``, IVs in percent on
the wire as Deribit sends them.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

from ..naming import Instrument, Kind

__all__ = ["WS_PATH", "REST_PREFIX", "response", "error", "notification", "heartbeat", "book_data", "trade_item",
           "Smile", "Greeks", "black76", "implied_vol", "instrument_entry"]

WS_PATH = "/ws/api/v2"
REST_PREFIX = "/api/v2"
_N = NormalDist()
_YEAR_MS = 365 * 86_400_000


def _stamps() -> dict[str, object]:
    now = time.time_ns() // 1_000
    return {"usIn": now, "usOut": now + 50, "usDiff": 50, "testnet": False}


def response(request_id: object, result: object) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "result": result, **_stamps()}


def error(request_id: object, code: int, message: str) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}, **_stamps()}


def notification(channel: str, data: object) -> dict:
    return {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}


def heartbeat(kind: str = "test_request") -> dict:
    return {"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": kind}}


def _levels(changes: Iterable[Sequence[str]], snapshot: bool) -> list[list[object]]:
    levels: list[list[object]] = []
    for price, size in changes:
        amount = float(size)
        action = "new" if snapshot else ("delete" if amount == 0 else "change")
        levels.append([action, float(price), amount])
    return levels


def book_data(name: str, snapshot: bool, ts_ms: int, change_id: int, prev_change_id: int | None,
              bids: Iterable[Sequence[str]], asks: Iterable[Sequence[str]]) -> dict:
    """A ``book`` notification's data; a change's new levels are sent as ``change`` (Deribit says ``new`` for a
    price that was empty, which a client treats the same way)."""
    data: dict[str, object] = {"type": "snapshot" if snapshot else "change", "timestamp": ts_ms,
                               "instrument_name": name, "change_id": change_id,
                               "bids": _levels(bids, snapshot), "asks": _levels(asks, snapshot)}
    if prev_change_id is not None:
        data["prev_change_id"] = prev_change_id
    return data


def trade_item(name: str, trade_id: int, trade_seq: int, price: str, qty: str, taker_sold: bool, ts_ms: int,
               mark: float, index: float, liquidation: str | None = None) -> dict:
    item: dict[str, object] = {"trade_seq": trade_seq, "trade_id": str(trade_id), "timestamp": ts_ms,
                               "tick_direction": 0, "price": float(price), "mark_price": mark,
                               "instrument_name": name, "index_price": index,
                               "direction": "sell" if taker_sold else "buy", "amount": float(qty)}
    if liquidation:
        item["liquidation"] = liquidation
    return item


# -- option pricing ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Smile:
    """A seeded smile per base asset: ``IV = a + b * m ** 2`` with ``m = ln(K / F)``."""

    a: float
    b: float

    @classmethod
    def seeded(cls, seed: int, base: str) -> Smile:
        key = zlib.crc32(f"smile:{seed}:{base}".encode())
        return cls(0.45 + (key % 1000) / 5000, 0.8 + (key // 1000 % 1000) / 1250)

    def iv(self, strike: float, forward: float) -> float:
        m = math.log(strike / forward)
        return self.a + self.b * m * m


@dataclass(frozen=True, slots=True)
class Greeks:
    price: float
    """In the quote currency (USD)."""
    delta: float
    gamma: float
    vega: float
    """Per one vol point (1%)."""
    theta: float
    """Per calendar day."""


def black76(forward: float, strike: float, years: float, vol: float, right: str) -> Greeks:
    """Black-76 with a zero rate: price and greeks of a call (``C``) or put (``P``) on ``forward``."""
    years = max(years, 1e-6)
    root = vol * math.sqrt(years)
    d1 = (math.log(forward / strike) + root * root / 2) / root
    d2 = d1 - root
    density = _N.pdf(d1)
    if right == "C":
        price, delta = forward * _N.cdf(d1) - strike * _N.cdf(d2), _N.cdf(d1)
    else:
        price, delta = strike * _N.cdf(-d2) - forward * _N.cdf(-d1), _N.cdf(d1) - 1
    return Greeks(price, delta, density / (forward * root), forward * density * math.sqrt(years) / 100,
                  -forward * density * vol / (2 * math.sqrt(years)) / 365)


def implied_vol(price: float, forward: float, strike: float, years: float, right: str) -> float | None:
    """The Black-76 vol that prices ``price`` (USD), by bisection; ``None`` outside the no-arbitrage bounds."""
    intrinsic = max(0.0, forward - strike) if right == "C" else max(0.0, strike - forward)
    if not intrinsic < price < (forward if right == "C" else strike):
        return None
    low, high = 1e-4, 10.0
    for _ in range(60):
        mid = (low + high) / 2
        if black76(forward, strike, years, mid, right).price < price:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def years_to(expiry_ms: int, now_ms: int) -> float:
    return max(expiry_ms - now_ms, 0) / _YEAR_MS


# -- the listing ------------------------------------------------------------------------------------------------
def instrument_entry(name: str, instrument: Instrument, expiry_ms: int, tick: float, created_ms: int) -> dict:
    """One ``public/get_instruments`` element (the fields livefeed reads, and the usual neighbours)."""
    option = instrument.kind is Kind.OPTION
    settlement = instrument.base if instrument.quote == "USD" else instrument.quote
    entry: dict[str, object] = {
        "instrument_name": name, "kind": "option" if option else "future", "is_active": True,
        "base_currency": instrument.base, "quote_currency": instrument.base if option else instrument.quote,
        "counter_currency": instrument.quote, "settlement_currency": settlement,
        "settlement_period": "perpetual" if instrument.kind is Kind.PERP else "month",
        "expiration_timestamp": expiry_ms, "creation_timestamp": created_ms, "tick_size": tick,
        "contract_size": 1.0 if option else 10.0, "min_trade_amount": 0.1 if option else 10.0,
        "instrument_type": "reversed", "price_index": f"{instrument.base.lower()}_usd",
    }
    if option:
        entry.update({"strike": instrument.strike, "option_type": "call" if instrument.right == "C" else "put"})
    return entry
