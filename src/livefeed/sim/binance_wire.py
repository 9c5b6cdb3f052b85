"""Binance spot's wire format: stream names, URL paths, payloads, control replies and REST bodies.

Pure functions from market values to the exact dicts Binance sends (field order included, since orjson keeps
it), for the Binance simulator (``binance.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from websockets.http11 import Response

from .base import json_response, query_params
from .market import BookTicker, Step, SymbolSpec, TradePrint

__all__ = [
    "MAX_STREAMS",
    "StreamName",
    "parse_stream",
    "parse_ws_path",
    "depth_update",
    "trade",
    "agg_trade",
    "book_ticker",
    "partial_depth",
    "wrap",
    "reply",
    "error_reply",
    "rest_error",
    "exchange_info",
]

MAX_STREAMS = 1024
"""Binance: "A single connection can listen to a maximum of 1024 streams"."""
TOO_MANY_STREAMS = f"Invalid request: too many streams (max {MAX_STREAMS})"
"""Our wording: the limit is documented, the exact message Binance sends for it is not."""

_STREAM = re.compile(
    r"^(?P<symbol>[a-z0-9]+)@(?:(?P<simple>trade|aggTrade|bookTicker)"
    r"|(?P<depth>depth(?P<partial>5|10|20)?)(?:@(?P<speed>100ms|1000ms))?)$"
)


@dataclass(frozen=True, slots=True)
class StreamName:
    """A parsed stream name: ``kind`` is trade / aggTrade / bookTicker / depth / partial; ``fast`` = ``@100ms``."""

    name: str
    symbol: str
    kind: str
    partial_levels: int = 0
    fast: bool = False


def parse_stream(name: str) -> StreamName | None:
    """Parse a stream name, or ``None`` if Binance would call it an invalid stream (symbols must be lowercase)."""
    m = _STREAM.match(name)
    if m is None:
        return None
    if m["simple"]:
        return StreamName(name, m["symbol"], m["simple"])
    partial = int(m["partial"]) if m["partial"] else 0
    return StreamName(name, m["symbol"], "partial" if partial else "depth", partial, m["speed"] == "100ms")


def parse_ws_path(path: str) -> tuple[bool, list[str]] | None:
    """``(combined, stream names)`` for ``/stream?streams=a/b``, ``/stream``, ``/ws/<a>[/<b>]``, ``/ws``; else None."""
    parts = urlsplit(path)
    if parts.path == "/stream":
        streams = query_params(path).get("streams", "")
        return True, [s for s in streams.split("/") if s]
    if parts.path == "/ws" or parts.path.startswith("/ws/"):
        return False, [s for s in parts.path[len("/ws") :].split("/") if s]
    return None


# -- stream payloads ---------------------------------------------------------------------------------------------
def depth_update(step: Step) -> dict:
    return {
        "e": "depthUpdate",
        "E": step.event_time,
        "s": step.symbol,
        "U": step.first_id,
        "u": step.last_id,
        "b": step.bid_changes,
        "a": step.ask_changes,
    }


def trade(symbol: str, event_time: int, t: TradePrint) -> dict:
    return {
        "e": "trade",
        "E": event_time,
        "s": symbol,
        "t": t.trade_id,
        "p": t.price,
        "q": t.qty,
        "T": t.trade_time,
        "m": t.buyer_is_maker,
        "M": True,
    }


def agg_trade(symbol: str, event_time: int, agg_id: int, t: TradePrint) -> dict:
    """One aggregate per trade: the simulator's taker orders fill one price level each."""
    return {
        "e": "aggTrade",
        "E": event_time,
        "s": symbol,
        "a": agg_id,
        "p": t.price,
        "q": t.qty,
        "f": t.trade_id,
        "l": t.trade_id,
        "T": t.trade_time,
        "m": t.buyer_is_maker,
        "M": True,
    }


def book_ticker(symbol: str, bt: BookTicker) -> dict:
    """Spot bookTicker has no ``e``/``E``; ``u`` is the update id of the change that moved the top."""
    return {"u": bt.update_id, "s": symbol, "b": bt.bid_price, "B": bt.bid_qty, "a": bt.ask_price, "A": bt.ask_qty}


def partial_depth(snapshot: dict, levels: int) -> dict:
    """``<symbol>@depth<N>``: the top N, no event type, time or symbol (the stream name carries it)."""
    return {
        "lastUpdateId": snapshot["lastUpdateId"],
        "bids": snapshot["bids"][:levels],
        "asks": snapshot["asks"][:levels],
    }


def wrap(stream: str, data: dict) -> dict:
    """The combined-stream envelope."""
    return {"stream": stream, "data": data}


# -- control replies ---------------------------------------------------------------------------------------------
def reply(result: object, request_id: object) -> dict:
    return {"result": result, "id": request_id}


def error_reply(code: int, msg: str, request_id: object = None) -> dict:
    return {"error": {"code": code, "msg": msg}, "id": request_id}


# -- REST ----------------------------------------------------------------------------------------------------------
def rest_error(status: int, code: int, msg: str) -> Response:
    return json_response(status, {"code": code, "msg": msg})


def exchange_info(specs: list[SymbolSpec], server_time: int) -> dict:
    """The subset of ``/api/v3/exchangeInfo`` adapters read: status, assets, tick and step sizes."""
    symbols = []
    for spec in specs:
        symbols.append(
            {
                "symbol": spec.venue_symbol,
                "status": "TRADING",
                "baseAsset": spec.base,
                "baseAssetPrecision": 8,
                "quoteAsset": spec.quote,
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
                "isSpotTradingAllowed": True,
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": spec.tick_size_str(),
                        "maxPrice": spec.price_str(1_000_000 * 10**spec.price_decimals),
                        "tickSize": spec.tick_size_str(),
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": spec.step_size_str(),
                        "maxQty": spec.qty_str(9000 * 10**spec.qty_decimals),
                        "stepSize": spec.step_size_str(),
                    },
                ],
                "permissions": [],
                "permissionSets": [["SPOT"]],
            }
        )
    return {
        "timezone": "UTC",
        "serverTime": server_time,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        ],
        "exchangeFilters": [],
        "symbols": symbols,
    }


# Binance's error bodies for the REST calls the adapters make.
INVALID_SYMBOL = (400, -1121, "Invalid symbol.")
MISSING_SYMBOL = (400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
BAD_LIMIT = (400, -1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.")
