"""Binance USD-M futures' wire format: stream names, payloads and REST bodies, as pure functions.

Field order as Binance sends it (orjson keeps it). Futures payloads differ from spot's: ``depthUpdate`` carries
``T`` and ``pu`` (the previous diff's ``u``), ``bookTicker`` has ``e``/``E``/``T``, prices print without spot's
8-decimal padding (``"7.6110"``). For the simulator in ``binance_usdm.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from websockets.http11 import Response

from .base import json_response
from .market import BookTicker, TradePrint
from .specs import SymbolSpec

__all__ = [
    "StreamName",
    "PUBLIC_KINDS",
    "parse_stream",
    "parse_route",
    "depth_update",
    "agg_trade",
    "book_ticker",
    "mark_price",
    "force_order",
    "depth_snapshot",
    "open_interest",
    "exchange_info",
    "rest_error",
    "DEPTH_LIMITS",
    "PERPETUAL_DELIVERY_MS",
]

DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
PERPETUAL_DELIVERY_MS = 4133404800000
"""The ``deliveryDate`` Binance lists for perpetuals (2100-12-25)."""

_STREAM = re.compile(r"^(?P<symbol>[a-z0-9_]+)@(?P<kind>aggTrade|bookTicker|forceOrder|depth@100ms|markPrice@1s)$")


PUBLIC_KINDS = frozenset({"depth@100ms", "bookTicker"})
"""Streams served on the ``/public`` route (high-frequency); every other market stream is on ``/market``."""


@dataclass(frozen=True, slots=True)
class StreamName:
    """A stream this simulator serves: ``kind`` is aggTrade / bookTicker / forceOrder / depth@100ms / markPrice@1s."""

    name: str
    symbol: str
    kind: str

    @property
    def route(self) -> str:
        return "public" if self.kind in PUBLIC_KINDS else "market"


def parse_stream(name: str) -> StreamName | None:
    """A stream name, or ``None`` for one Binance would call invalid (symbols are lowercase)."""
    m = _STREAM.match(name)
    return None if m is None else StreamName(name, m["symbol"], m["kind"])


def parse_route(path: str) -> tuple[str, str]:
    """``/public/stream?...`` -> ``("public", "/stream?...")``; a legacy path (no route) -> ``("", path)``."""
    for route in ("public", "market"):
        prefix = f"/{route}"
        rest = path[len(prefix):]
        if path.startswith(prefix) and (rest.startswith(("/stream", "/ws"))):
            return route, rest
    return "", path


def depth_update(symbol: str, event_time: int, first: int, last: int, previous: int, bids: list[list[str]],
                 asks: list[list[str]]) -> dict:
    return {"e": "depthUpdate", "E": event_time, "T": event_time, "s": symbol, "U": first, "u": last,
            "pu": previous, "b": bids, "a": asks}


def agg_trade(symbol: str, event_time: int, agg_id: int, t: TradePrint) -> dict:
    return {"e": "aggTrade", "E": event_time, "a": agg_id, "s": symbol, "p": t.price, "q": t.qty,
            "f": t.trade_id, "l": t.trade_id, "T": t.trade_time, "m": t.buyer_is_maker}


def book_ticker(symbol: str, event_time: int, update_id: int, bt: BookTicker) -> dict:
    return {"e": "bookTicker", "u": update_id, "s": symbol, "b": bt.bid_price, "B": bt.bid_qty, "a": bt.ask_price,
            "A": bt.ask_qty, "T": event_time, "E": event_time}


def mark_price(symbol: str, event_time: int, mark: float, index: float, rate: float | None,
               next_funding_ms: int) -> dict:
    """A dated future sends ``"r": ""`` and ``"T": 0``."""
    return {"e": "markPriceUpdate", "E": event_time, "s": symbol, "p": f"{mark:.8f}", "P": f"{index:.8f}",
            "i": f"{index:.8f}", "r": "" if rate is None else f"{rate:.8f}", "T": next_funding_ms}


def force_order(symbol: str, event_time: int, side: str, price: str, qty: str) -> dict:
    return {"e": "forceOrder", "E": event_time, "o": {
        "s": symbol, "S": side, "o": "LIMIT", "f": "IOC", "q": qty, "p": price, "ap": price, "X": "FILLED",
        "l": qty, "z": qty, "T": event_time}}


def depth_snapshot(last_update_id: int, event_time: int, bids: list[list[str]], asks: list[list[str]]) -> dict:
    return {"lastUpdateId": last_update_id, "E": event_time, "T": event_time, "bids": bids, "asks": asks}


def open_interest(symbol: str, amount: str, time_ms: int) -> dict:
    return {"symbol": symbol, "openInterest": amount, "time": time_ms}


def exchange_info(contracts: list[tuple[str, SymbolSpec, str, int]], server_time: int) -> dict:
    """``contracts``: (venue symbol, spec, contractType, deliveryDate ms) of each listed contract."""
    symbols = []
    for name, spec, contract, delivery in contracts:
        symbols.append({
            "symbol": name,
            "pair": f"{spec.base}{spec.quote.split('_')[0]}",
            "contractType": contract,
            "deliveryDate": delivery,
            "onboardDate": 1569398400000,
            "status": "TRADING",
            "baseAsset": spec.base,
            "quoteAsset": spec.quote.split("_")[0],
            "marginAsset": spec.quote.split("_")[0],
            "pricePrecision": spec.price_decimals,
            "quantityPrecision": spec.qty_decimals,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": spec.tick_size_str(),
                 "maxPrice": spec.price_str(1_000_000 * 10**spec.price_decimals), "tickSize": spec.tick_size_str()},
                {"filterType": "LOT_SIZE", "minQty": spec.step_size_str(),
                 "maxQty": spec.qty_str(9000 * 10**spec.qty_decimals), "stepSize": spec.step_size_str()},
            ],
            "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        })
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        ],
        "exchangeFilters": [],
        "symbols": symbols,
    }


def rest_error(status: int, code: int, msg: str) -> Response:
    return json_response(status, {"code": code, "msg": msg})


INVALID_SYMBOL = (400, -1121, "Invalid symbol.")
MISSING_SYMBOL = (400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
BAD_LIMIT = (400, -1130, "Data sent for parameter 'limit' is not valid.")
