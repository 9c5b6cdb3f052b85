"""OKX v5 public's wire format: number strings, push payloads, control replies and REST bodies.

Pure functions from market values to the exact dicts OKX sends (field order included, since orjson keeps it), so
the simulator only decides *when* to send. Numbers are printed the way OKX prints them: no padding, no trailing
zeros (``"30236"``, ``"0.0002"``, ``"30243.5"``), as in the real 2022 capture.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from .market import BookTicker, SymbolSpec, TradePrint

__all__ = [
    "WS_PATH",
    "CHANNELS",
    "okx_number",
    "book_levels",
    "book_checksum",
    "book_push",
    "trade_push",
    "ticker_push",
    "ack",
    "error",
    "envelope",
    "instruments",
    "rest_body",
]

WS_PATH = "/ws/v5/public"
CHANNELS = ("books", "trades", "tickers")
"""The public channels the simulator serves."""


def okx_number(text: str) -> str:
    """``"60000.00"`` -> ``"60000"``, ``"0.02000"`` -> ``"0.02"``: OKX strips what Binance pads."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def book_levels(levels: Sequence[Sequence[str]]) -> list[list[str]]:
    """``[px, sz]`` -> OKX's ``[px, sz, "0", orderCount]``; a deleted level is ``[px, "0", "0", "0"]``.

    The order count is made up (1..5, stable per price), since the market model has no orders, only sizes.
    """
    out = []
    for price, size in levels:
        px, sz = okx_number(price), okx_number(size)
        count = "0" if sz == "0" else str(1 + zlib.crc32(px.encode()) % 5)
        out.append([px, sz, "0", count])
    return out


def book_checksum(bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]) -> int:
    """Signed CRC32 over the best 25 levels per side, interleaved bid/ask, longer side continuing alone."""
    bids, asks = bids[:25], asks[:25]
    parts: list[str] = []
    for i in range(max(len(bids), len(asks))):
        if i < len(bids):
            parts += bids[i][:2]
        if i < len(asks):
            parts += asks[i][:2]
    value = zlib.crc32(":".join(parts).encode())
    return value - (1 << 32) if value >= 1 << 31 else value


def envelope(channel: str, inst_id: str) -> dict:
    return {"channel": channel, "instId": inst_id}


def book_push(
    inst_id: str, action: str, bids: list[list[str]], asks: list[list[str]], ts_ms: int, checksum: int,
    prev_seq_id: int, seq_id: int,
) -> dict:
    """A ``books`` snapshot or update (levels already in OKX's four-string form)."""
    return {
        "arg": envelope("books", inst_id),
        "action": action,
        "data": [{
            "asks": asks, "bids": bids, "ts": str(ts_ms), "checksum": checksum,
            "prevSeqId": prev_seq_id, "seqId": seq_id,
        }],
    }


def trade_push(inst_id: str, t: TradePrint) -> dict:
    """``side`` is the taker's side: the simulator's ``buyer_is_maker`` means the taker sold."""
    return {
        "arg": envelope("trades", inst_id),
        "data": [{
            "instId": inst_id, "tradeId": str(t.trade_id), "px": okx_number(t.price), "sz": okx_number(t.qty),
            "side": "sell" if t.buyer_is_maker else "buy", "ts": str(t.trade_time), "count": "1",
        }],
    }


def ticker_push(inst_id: str, bt: BookTicker, last: str, last_sz: str, open_px: str, ts_ms: int,
                inst_type: str = "SPOT") -> dict:
    n = okx_number
    return {
        "arg": envelope("tickers", inst_id),
        "data": [{
            "instType": inst_type, "instId": inst_id, "last": n(last), "lastSz": n(last_sz),
            "askPx": n(bt.ask_price), "askSz": n(bt.ask_qty), "bidPx": n(bt.bid_price), "bidSz": n(bt.bid_qty),
            "open24h": n(open_px), "high24h": n(open_px), "low24h": n(open_px), "sodUtc0": n(open_px),
            "sodUtc8": n(open_px), "volCcy24h": "0", "vol24h": "0", "ts": str(ts_ms),
        }],
    }


# -- control replies ---------------------------------------------------------------------------------------------
def ack(event: str, arg: dict, conn_id: str, request_id: str | None = None) -> dict:
    body: dict = {"id": request_id} if request_id is not None else {}
    body.update({"event": event, "arg": arg, "connId": conn_id})
    return body


def error(code: str, msg: str, conn_id: str, request_id: str | None = None) -> dict:
    body: dict = {"id": request_id} if request_id is not None else {}
    body.update({"event": "error", "code": code, "msg": msg, "connId": conn_id})
    return body


# -- REST ----------------------------------------------------------------------------------------------------------
def instruments(specs: Sequence[SymbolSpec], list_time_ms: int) -> list[dict]:
    """The ``/api/v5/public/instruments?instType=SPOT`` entries (the fields spot listings carry)."""
    return [
        {
            "instType": "SPOT", "instId": spec.canonical, "uly": "", "instFamily": "", "baseCcy": spec.base,
            "quoteCcy": spec.quote, "settleCcy": "", "ctVal": "", "ctMult": "", "ctValCcy": "", "optType": "",
            "stk": "", "listTime": str(list_time_ms), "expTime": "", "lever": "10",
            "tickSz": okx_number(spec.tick_size_str()), "lotSz": okx_number(spec.step_size_str()),
            "minSz": okx_number(spec.step_size_str()), "ctType": "", "alias": "", "state": "live",
        }
        for spec in specs
    ]


def rest_body(data: list, code: str = "0", msg: str = "") -> dict:
    """OKX's REST envelope: ``code`` ``"0"`` on success, the payload always a list."""
    return {"code": code, "msg": msg, "data": data}


# -- perpetual swaps -----------------------------------------------------------------------------------------------
SWAP_CHANNELS = (*CHANNELS, "mark-price", "funding-rate", "open-interest")
"""Per-instrument channels the swap simulator serves (``liquidation-orders`` is keyed by ``instType``)."""


def mark_price_push(inst_id: str, mark: str, ts_ms: int) -> dict:
    return {"arg": envelope("mark-price", inst_id),
            "data": [{"instType": "SWAP", "instId": inst_id, "markPx": okx_number(mark), "ts": str(ts_ms)}]}


def funding_rate_push(inst_id: str, rate: str, funding_time_ms: int, interval_ms: int, ts_ms: int) -> dict:
    """``fundingRate`` is the rate that settles at ``fundingTime``; ``nextFundingTime`` is the settlement after."""
    return {"arg": envelope("funding-rate", inst_id), "data": [{
        "formulaType": "noRate", "fundingRate": rate, "fundingTime": str(funding_time_ms), "impactValue": "",
        "instId": inst_id, "instType": "SWAP", "interestRate": "0.0001", "maxFundingRate": "0.0075",
        "method": "current_period", "minFundingRate": "-0.0075", "nextFundingRate": "",
        "nextFundingTime": str(funding_time_ms + interval_ms), "premium": "0.0000", "settFundingRate": rate,
        "settState": "settled", "ts": str(ts_ms),
    }]}


def open_interest_push(inst_id: str, oi: str, oi_ccy: str, oi_usd: str, ts_ms: int) -> dict:
    return {"arg": envelope("open-interest", inst_id), "data": [{
        "instId": inst_id, "instType": "SWAP", "oi": okx_number(oi), "oiCcy": okx_number(oi_ccy),
        "oiUsd": okx_number(oi_usd), "ts": str(ts_ms),
    }]}


def liquidation_push(inst_id: str, side: str, price: str, size: str, ts_ms: int) -> dict:
    """One ``liquidation-orders`` push (the channel is keyed by ``instType``); ``sz`` is in contracts."""
    family = inst_id[: -len("-SWAP")]
    return {"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": [{
        "details": [{"bkLoss": "0", "bkPx": okx_number(price), "ccy": "",
                     "posSide": "long" if side == "sell" else "short", "side": side, "sz": okx_number(size),
                     "ts": str(ts_ms)}],
        "instFamily": family, "instId": inst_id, "instType": "SWAP", "uly": family,
    }]}


def swap_instruments(listed: dict[str, tuple[SymbolSpec, str]], list_time_ms: int) -> list[dict]:
    """``/api/v5/public/instruments?instType=SWAP`` entries: ``{instId: (spec, ctVal)}``, linear swaps."""
    return [
        {
            "alias": "", "baseCcy": "", "category": "1", "ctMult": "1", "ctType": "linear", "ctVal": ct_val,
            "ctValCcy": spec.base, "expTime": "", "instFamily": spec.canonical, "instId": inst_id,
            "instType": "SWAP", "lever": "100", "listTime": str(list_time_ms),
            "lotSz": okx_number(spec.step_size_str()), "maxLmtSz": "100000000", "maxMktSz": "12000",
            "minSz": okx_number(spec.step_size_str()), "optType": "", "quoteCcy": "", "settleCcy": spec.quote,
            "state": "live", "stk": "", "tickSz": okx_number(spec.tick_size_str()), "uly": spec.canonical,
        }
        for inst_id, (spec, ct_val) in listed.items()
    ]
