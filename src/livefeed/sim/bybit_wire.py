"""Bybit v5 public spot's wire format: topic names, stream payloads, control replies and REST bodies.

Pure functions from market values to the dicts Bybit sends, key order included (orjson keeps it), taken from real
spot frames recorded in 2026 (cryptofeed ``sample_data/BYBIT.jsonl.zst``) and the v5 docs. Spot prints decimals
without trailing zeros (``"65140"``, ``"65140.4"``, ``"0.000678"``), unlike Bybit's linear market.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .market import SymbolSpec, TradePrint

__all__ = [
    "BOOK_DEPTHS",
    "MAX_ARGS_PER_REQUEST",
    "Topic",
    "parse_topic",
    "trim",
    "book_message",
    "trade_message",
    "op_reply",
    "pong",
    "instruments_info",
    "rest_body",
]

BOOK_DEPTHS = (1, 50, 200)
"""Spot ``orderbook.{depth}`` depths: 1 and 50 in the docs, 200 seen in the 2026 spot capture."""
MAX_ARGS_PER_REQUEST = 10
"""Docs (v5 "Connect"): "Spot can input up to 10 args for each subscription request sent to one connection"."""

_TOPIC = re.compile(r"^(?:orderbook\.(?P<depth>\d+)|(?P<trade>publicTrade))\.(?P<symbol>[A-Z0-9]+)$")


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed public topic: ``kind`` is ``orderbook`` or ``publicTrade``; ``depth`` 0 for trades."""

    name: str
    kind: str
    symbol: str
    depth: int = 0


def parse_topic(name: str) -> Topic | None:
    """``orderbook.50.BTCUSDT`` -> Topic; ``None`` for anything the simulator does not serve."""
    match = _TOPIC.match(name) if isinstance(name, str) else None
    if match is None:
        return None
    if match["trade"]:
        return Topic(name, "publicTrade", match["symbol"])
    depth = int(match["depth"])
    if depth not in BOOK_DEPTHS:
        return None
    return Topic(name, "orderbook", match["symbol"], depth)


def trim(number: str) -> str:
    """Bybit spot's spelling of a fixed-point string: ``"65140.00"`` -> ``"65140"``, ``"0.0100"`` -> ``"0.01"``."""
    if "." in number:
        number = number.rstrip("0").rstrip(".")
    return number


def book_message(
    topic: str, kind: str, ts: int, symbol: str, bids: list[list[str]], asks: list[list[str]], u: int, seq: int,
) -> dict:
    """One ``orderbook`` push (``kind`` = snapshot / delta), in the key order of real spot frames."""
    return {
        "topic": topic,
        "ts": ts,
        "type": kind,
        "data": {"s": symbol, "b": bids, "a": asks, "u": u, "seq": seq},
        "cts": ts,
    }


def trade_message(symbol: str, ts: int, trades: list[TradePrint], spec: SymbolSpec,
                  number: Callable[[str], str] = trim) -> dict:
    """One ``publicTrade`` push; ``S`` is the taker side (the market's ``buyer_is_maker`` means the taker sold).
    ``number`` prints prices and sizes (spot trims them; linear keeps the grid's decimals)."""
    return {
        "topic": f"publicTrade.{symbol}",
        "ts": ts,
        "type": "snapshot",
        "data": [
            {
                "i": str(t.trade_id),
                "T": t.trade_time,
                "p": number(t.price),
                "v": number(t.qty),
                "S": "Sell" if t.buyer_is_maker else "Buy",
                "seq": t.update_id,
                "s": symbol,
                "BT": False,
                "RPI": False,
            }
            for t in trades
        ],
    }


def op_reply(op: str, conn_id: str, req_id: object, success: bool = True, ret_msg: str | None = None) -> dict:
    """Spot's reply to subscribe / unsubscribe: ``ret_msg`` echoes the op on success; ``req_id`` only if sent."""
    body: dict = {"success": success, "ret_msg": op if ret_msg is None else ret_msg, "conn_id": conn_id}
    if req_id is not None:
        body["req_id"] = req_id
    body["op"] = op
    return body


def pong(conn_id: str, req_id: object) -> dict:
    """Spot's answer to ``{"op":"ping"}`` (docs' spot example has no ``req_id``; echoed here only when sent)."""
    return op_reply("ping", conn_id, req_id, ret_msg="pong")


def instruments_info(specs: list[SymbolSpec]) -> dict:
    """``GET /v5/market/instruments-info?category=spot`` ``result``, with the fields a real 2026 reply carries."""
    return {
        "category": "spot",
        "list": [
            {
                "symbolId": index + 1,
                "symbol": spec.venue_symbol,
                "baseCoin": spec.base,
                "quoteCoin": spec.quote,
                "innovation": "0",
                "status": "Trading",
                "marginTrading": "utaOnly",
                "stTag": "0",
                "lotSizeFilter": {
                    "basePrecision": trim(spec.step_size_str()),
                    "quotePrecision": "0.0000001",
                    "minOrderQty": trim(spec.step_size_str()),
                    "maxOrderQty": "1000000",
                    "minOrderAmt": "5",
                    "maxOrderAmt": "8000000",
                },
                "priceFilter": {"tickSize": trim(spec.tick_size_str())},
                "riskParameters": {"priceLimitRatioX": "0.005", "priceLimitRatioY": "0.01"},
                "symbolType": "",
            }
            for index, spec in enumerate(specs)
        ],
        "nextPageCursor": "",
    }


def rest_body(result: object, now_ms: int, ret_code: int = 0, ret_msg: str = "OK") -> dict:
    """Bybit's REST envelope: application errors come back as HTTP 200 with a non-zero ``retCode``."""
    return {"retCode": ret_code, "retMsg": ret_msg, "result": result, "retExtInfo": {}, "time": now_ms}


# -- linear (USDT perpetuals) -----------------------------------------------------------------------------------
LINEAR_BOOK_DEPTHS = (1, 50, 200, 1000)
"""Linear ``orderbook.{depth}`` depths (docs: 1, 50, 200 and 1000)."""

_LINEAR_TOPIC = re.compile(r"^(?P<kind>tickers|allLiquidation)\.(?P<symbol>[A-Z0-9]+)$")


def parse_linear_topic(name: str) -> Topic | None:
    """A linear topic: the spot kinds at linear depths, plus ``tickers.X`` and ``allLiquidation.X``."""
    match = _LINEAR_TOPIC.match(name) if isinstance(name, str) else None
    if match is not None:
        return Topic(name, match["kind"], match["symbol"])
    depth = re.match(r"^orderbook\.(\d+)\.([A-Z0-9]+)$", name) if isinstance(name, str) else None
    if depth is not None:
        return Topic(name, "orderbook", depth[2], int(depth[1])) if int(depth[1]) in LINEAR_BOOK_DEPTHS else None
    topic = parse_topic(name)
    return topic if topic is not None and topic.kind == "publicTrade" else None


def ticker_message(symbol: str, kind: str, fields: dict[str, str], cs: int, ts: int) -> dict:
    """A linear ``tickers`` push: ``snapshot`` with every field, or ``delta`` with ``symbol`` and what changed."""
    return {"topic": f"tickers.{symbol}", "type": kind, "data": {"symbol": symbol, **fields}, "cs": cs, "ts": ts}


def liquidation_message(symbol: str, ts: int, time_ms: int, position_side: str, size: str, price: str) -> dict:
    """An ``allLiquidation`` push; ``S`` is the side of the position liquidated (``Buy``: a long)."""
    return {"topic": f"allLiquidation.{symbol}", "type": "snapshot", "ts": ts,
            "data": [{"T": time_ms, "s": symbol, "S": position_side, "v": size, "p": price}]}


def linear_instruments_info(specs: list[SymbolSpec]) -> dict:
    """``GET /v5/market/instruments-info?category=linear`` ``result`` (one page), perpetuals only."""
    return {
        "category": "linear",
        "list": [
            {
                "symbol": spec.venue_symbol, "contractType": "LinearPerpetual", "status": "Trading",
                "baseCoin": spec.base, "quoteCoin": spec.quote, "launchTime": "1584230400000", "deliveryTime": "0",
                "deliveryFeeRate": "", "priceScale": str(spec.price_decimals),
                "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
                "priceFilter": {"minPrice": spec.tick_size_str(), "maxPrice": "1999999.80",
                                "tickSize": spec.tick_size_str()},
                "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": spec.step_size_str(),
                                  "qtyStep": spec.step_size_str(), "postOnlyMaxOrderQty": "1190.000",
                                  "maxMktOrderQty": "500.000", "minNotionalValue": "5"},
                "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": spec.quote,
                "copyTrading": "both", "upperFundingRate": "0.005", "lowerFundingRate": "-0.005",
            }
            for spec in specs
        ],
        "nextPageCursor": "",
    }
