"""Kraken spot WebSocket v2 and REST payloads, as pure functions of market values.

Prices and quantities go out as JSON *numbers* printed with the pair's fixed decimals (``60000.1``,
``0.00100000``), the way Kraken pushes "full precision" onto the wire; orjson cannot print trailing zeros, so
level arrays are assembled as raw JSON fragments. The checksum is computed from the same strings.
"""

from __future__ import annotations

import dataclasses
import time
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from .market import SymbolSpec, spec_for

__all__ = [
    "KRAKEN_SPECS",
    "kraken_spec",
    "pair_name",
    "ws_name",
    "iso_time",
    "checksum",
    "book_message",
    "trade_message",
    "ticker_message",
    "status_message",
    "HEARTBEAT",
    "ack",
    "error_ack",
    "pong",
    "instrument_snapshot",
    "asset_pairs",
]

Levels = Sequence[tuple[str, str]]

KRAKEN_SPECS: dict[str, SymbolSpec] = {
    # BTC/USD and ETH/USD: price_precision 1 / 2, qty_precision 8, as the instrument channel lists them.
    "BTC-USD": SymbolSpec("BTC", "USD", price_decimals=1, qty_decimals=8, tick=0.1, start_price=60000.0,
                          wire_decimals=0),
    "ETH-USD": SymbolSpec("ETH", "USD", price_decimals=2, qty_decimals=8, tick=0.01, start_price=3000.0,
                          wire_decimals=0),
}
_V1_NAMES = {"BTC": "XBT", "DOGE": "XDG"}
HEARTBEAT = b'{"channel":"heartbeat"}'


def kraken_spec(symbol: str) -> SymbolSpec:
    """The spec for a canonical symbol, printing every value with exactly the pair's decimals."""
    key = symbol.strip().upper().replace("/", "-")
    if key in KRAKEN_SPECS:
        return KRAKEN_SPECS[key]
    return dataclasses.replace(spec_for(key), wire_decimals=0)


def pair_name(spec: SymbolSpec) -> str:
    """The v2 symbol: ``BTC/USD``."""
    return f"{spec.base}/{spec.quote}"


def ws_name(spec: SymbolSpec) -> str:
    """REST ``wsname`` keeps the v1 spelling: ``XBT/USD``."""
    return f"{_V1_NAMES.get(spec.base, spec.base)}/{_V1_NAMES.get(spec.quote, spec.quote)}"


def iso_time(ns: int | None = None) -> str:
    """RFC 3339 with microseconds, as Kraken prints ``timestamp``, ``time_in`` and ``time_out``."""
    ns = time.time_ns() if ns is None else ns
    moment = datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(microsecond=ns // 1000 % 1_000_000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digits(text: str) -> str:
    return text.replace(".", "").lstrip("0")


def checksum(asks: Levels, bids: Levels) -> int:
    """Kraken's CRC32 over the top 10 asks (low->high) then bids (high->low), from the wire strings."""
    text = "".join(_digits(p) + _digits(q) for p, q in asks[:10])
    text += "".join(_digits(p) + _digits(q) for p, q in bids[:10])
    return zlib.crc32(text.encode())


def _levels(levels: Levels) -> orjson.Fragment:
    body = ",".join(f'{{"price":{p},"qty":{q}}}' for p, q in levels)
    return orjson.Fragment(f"[{body}]")


def book_message(kind: str, pair: str, bids: Levels, asks: Levels, crc: int, ts_ns: int) -> bytes:
    """A ``book`` snapshot or update for one pair."""
    data = {"symbol": pair, "bids": _levels(bids), "asks": _levels(asks), "checksum": crc,
            "timestamp": iso_time(ts_ns)}
    return orjson.dumps({"channel": "book", "type": kind, "data": [data]})


def trade_message(pair: str, trades: Iterable[tuple[str, str, str, int]], ts_ns: int, kind: str = "update") -> bytes:
    """``trade`` with ``(side, price, qty, trade_id)`` rows; ``side`` is the taker's."""
    data = [
        {"symbol": pair, "side": side, "price": orjson.Fragment(price), "qty": orjson.Fragment(qty),
         "ord_type": "market", "trade_id": trade_id, "timestamp": iso_time(ts_ns)}
        for side, price, qty, trade_id in trades
    ]
    return orjson.dumps({"channel": "trade", "type": kind, "data": data})


def ticker_message(pair: str, fields: dict[str, Any], ts_ns: int, kind: str = "update") -> bytes:
    """``ticker``: strings in ``fields`` are printed as raw JSON numbers, floats as they are."""
    data: dict[str, Any] = {"symbol": pair}
    for key, value in fields.items():
        data[key] = orjson.Fragment(value) if isinstance(value, str) else value
    data["timestamp"] = iso_time(ts_ns)
    return orjson.dumps({"channel": "ticker", "type": kind, "data": [data]})


def status_message(connection_id: int) -> bytes:
    """Sent once on connect."""
    return orjson.dumps({"channel": "status", "type": "update", "data": [
        {"api_version": "v2", "connection_id": connection_id, "system": "online", "version": "2.0.0"}]})


def _stamp(body: dict[str, Any], req_id: object, time_in: str) -> dict[str, Any]:
    if req_id is not None:
        body["req_id"] = req_id
    body["time_in"] = time_in
    body["time_out"] = iso_time()
    return body


def ack(method: str, result: dict[str, Any], req_id: object, time_in: str) -> bytes:
    """One successful subscribe / unsubscribe reply (Kraken sends one per symbol)."""
    return orjson.dumps(_stamp({"method": method, "result": result, "success": True}, req_id, time_in))


def error_ack(method: str | None, error: str, req_id: object, time_in: str, symbol: str | None = None) -> bytes:
    """A failed request: ``success`` false with a plain-text ``error`` (Kraken has no error codes here)."""
    body: dict[str, Any] = {"error": error}
    if method is not None:
        body["method"] = method
    body["success"] = False
    if symbol is not None:
        body["symbol"] = symbol
    return orjson.dumps(_stamp(body, req_id, time_in))


def pong(req_id: object, time_in: str) -> bytes:
    return orjson.dumps(_stamp({"method": "pong"}, req_id, time_in))


def _increment(decimals: int) -> orjson.Fragment:
    return orjson.Fragment(f"{10.0**-decimals:.{decimals}f}" if decimals else "1")


def instrument_snapshot(specs: Iterable[SymbolSpec]) -> bytes:
    """The ``instrument`` channel snapshot: assets and pairs with the precisions the checksum needs."""
    specs = list(specs)
    assets = sorted({s.base for s in specs} | {s.quote for s in specs})
    pairs = [
        {"symbol": pair_name(s), "base": s.base, "quote": s.quote, "status": "online",
         "qty_precision": s.qty_decimals, "qty_increment": _increment(s.qty_decimals),
         "price_precision": s.price_decimals, "cost_precision": s.price_decimals, "marginable": False,
         "has_index": True, "cost_min": orjson.Fragment("0.5"),
         "tick_size": orjson.Fragment(s.tick_size_str()), "price_increment": orjson.Fragment(s.tick_size_str()),
         "qty_min": _increment(s.qty_decimals)}
        for s in specs
    ]
    data = {"assets": [{"id": a, "status": "enabled", "precision": 8, "precision_display": 5,
                        "borrowable": False, "collateral_value": 0.0, "margin_rate": 0.0} for a in assets],
            "pairs": pairs}
    return orjson.dumps({"channel": "instrument", "type": "snapshot", "data": data})


def asset_pairs(specs: Iterable[SymbolSpec]) -> dict[str, Any]:
    """REST ``/0/public/AssetPairs``: ``{"error": [], "result": {altname: info}}`` (subset of fields)."""
    result = {}
    for s in specs:
        base, quote = ws_name(s).split("/")
        result[base + quote] = {
            "altname": base + quote, "wsname": ws_name(s), "aclass_base": "currency", "base": base,
            "aclass_quote": "currency", "quote": quote, "lot": "unit", "cost_decimals": s.price_decimals,
            "pair_decimals": s.price_decimals, "lot_decimals": s.qty_decimals, "lot_multiplier": 1,
            "fee_volume_currency": "ZUSD", "ordermin": s.step_size_str(), "costmin": "0.5",
            "tick_size": s.tick_size_str(), "status": "online",
        }
    return {"error": [], "result": result}
