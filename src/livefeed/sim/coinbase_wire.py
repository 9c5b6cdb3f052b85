"""Coinbase Advanced Trade's wire format: envelopes, channel events, control replies and REST bodies.

Pure functions from market values to the exact bytes Coinbase sends (field order as in the real 2026 capture,
numbers as shortest decimal strings: ``"65062.5"``, ``"0"``, ``"126296"``). The envelope is assembled from
pre-encoded events so the ``sequence_num`` of each connection can be spliced in without re-encoding a multi-MB
snapshot per client.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

import orjson

from .market import SymbolSpec, TradePrint

__all__ = [
    "number",
    "rfc3339",
    "envelope",
    "l2_event",
    "trades_event",
    "trade",
    "ticker_event",
    "heartbeat_event",
    "subscriptions_event",
    "error",
    "products_body",
    "CHANNELS",
    "MESSAGE_CHANNEL",
]

CHANNELS = ("heartbeats", "candles", "status", "ticker", "ticker_batch", "level2", "market_trades")
"""Public channels a client may subscribe to (``user`` and ``futures_balance_summary`` need a JWT)."""

MESSAGE_CHANNEL = {"level2": "l2_data"}
"""Subscribe name -> the ``channel`` its frames carry, where they differ."""


def number(text: str) -> str:
    """Coinbase's decimal strings carry no trailing zeros: ``"0.00583000"`` -> ``"0.00583"``, ``"0.00"`` -> ``"0"``."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def rfc3339(ns: int, digits: int = 9) -> str:
    """UTC time as Coinbase prints it: nanoseconds in envelopes (``digits=9``), microseconds in event times."""
    seconds, frac = divmod(ns, 1_000_000_000)
    head = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{head}.{frac // 10 ** (9 - digits):0{digits}d}Z"


def envelope(channel: str, timestamp_ns: int, sequence: int, events: bytes) -> bytes:
    """``{"channel","timestamp","sequence_num","events"}`` (real frames have no ``client_id``)."""
    return b"".join((
        b'{"channel":"', channel.encode(), b'","timestamp":"', rfc3339(timestamp_ns).encode(),
        b'","sequence_num":', str(sequence).encode(), b',"events":', events, b"}",
    ))


def l2_event(kind: str, product_id: str, bids: Iterable[list[str]], asks: Iterable[list[str]], event_ns: int) -> dict:
    """One ``l2_data`` event: bids then offers, absolute sizes, ``"0"`` for a removed level."""
    event_time = rfc3339(event_ns, 6)
    updates = [
        {"side": "bid", "event_time": event_time, "price_level": number(p), "new_quantity": number(q)}
        for p, q in bids
    ]
    updates += [
        {"side": "offer", "event_time": event_time, "price_level": number(p), "new_quantity": number(q)}
        for p, q in asks
    ]
    return {"type": kind, "product_id": product_id, "updates": updates}


def trade(product_id: str, t: TradePrint, trade_ns: int) -> dict:
    """One market trade; ``side`` is the MAKER's side (the taker sold into a bid -> ``"BUY"``)."""
    return {
        "product_id": product_id,
        "trade_id": str(t.trade_id),
        "price": number(t.price),
        "size": number(t.qty),
        "time": rfc3339(trade_ns, 6),
        "side": "BUY" if t.buyer_is_maker else "SELL",
    }


def trades_event(kind: str, trades: list[dict]) -> dict:
    return {"type": kind, "trades": trades}


def ticker_event(kind: str, product_id: str, price: str, top: tuple[str, str, str, str], volume: str) -> dict:
    """One ``ticker`` event; the 24 h / 52 w statistics are fixed placeholders (not modelled)."""
    bid, bid_qty, ask, ask_qty = top
    return {"type": kind, "tickers": [{
        "type": "ticker", "product_id": product_id, "price": number(price), "volume_24_h": volume,
        "low_24_h": number(price), "high_24_h": number(price), "low_52_w": number(price), "high_52_w": number(price),
        "price_percent_chg_24_h": "0", "best_bid": number(bid), "best_ask": number(ask),
        "best_bid_quantity": number(bid_qty), "best_ask_quantity": number(ask_qty),
    }]}


def heartbeat_event(now_ns: int, counter: int, uptime_s: float) -> dict:
    """``current_time`` in Go's ``time.Time.String()`` form, as the real feed prints it."""
    seconds, frac = divmod(now_ns, 1_000_000_000)
    head = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))
    return {"current_time": f"{head}.{frac:09d} +0000 UTC m=+{uptime_s:.9f}", "heartbeat_counter": counter}


def subscriptions_event(subscriptions: Mapping[str, Iterable[str]]) -> dict:
    """The ack: every channel this connection now follows (heartbeats lists ``["heartbeats"]``)."""
    return {"subscriptions": {c: list(p) for c, p in sorted(subscriptions.items()) if p}}


def error(message: str) -> bytes:
    """Error frame (shape from client code, ccxt ``handleMessage``; not in Coinbase's docs)."""
    return orjson.dumps({"type": "error", "message": message})


def products_body(specs: list[SymbolSpec], prices: Mapping[str, str]) -> dict:
    """``GET /api/v3/brokerage/market/products``: the fields adapters read, in the real response's order."""
    products = []
    for spec in specs:
        increment = number(spec.tick_size_str())
        products.append({
            "product_id": spec.canonical,
            "price": number(prices.get(spec.canonical, "0")),
            "base_increment": number(spec.step_size_str()),
            "quote_increment": increment,
            "base_name": spec.base,
            "quote_name": spec.quote,
            "status": "online",
            "trading_disabled": False,
            "product_type": "SPOT",
            "quote_currency_id": spec.quote,
            "base_currency_id": spec.base,
            "price_increment": increment,
            "display_name": spec.canonical,
        })
    return {
        "products": products,
        "num_products": len(products),
        "pagination": {"prev_cursor": "", "next_cursor": "", "has_next": False, "has_prev": False},
    }
