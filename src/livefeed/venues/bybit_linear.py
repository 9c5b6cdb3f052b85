"""Bybit v5 public linear (USDT) perpetuals: the spot adapter's book rule and parsers on ``/v5/public/linear``,
plus ``tickers`` (top of book, mark, index, funding, open interest) and ``allLiquidation``.

``bybit:BTC-USDT-PERP`` is Bybit's ``BTCUSDT`` in category ``linear`` (a ``LinearPerpetual`` in
``/v5/market/instruments-info``). The book is ``orderbook.{depth}`` (linear depths 1, 50, 200 and 1000, pushed every
10 / 20 / 100 / 200 ms; docs ``v5/websocket/public/orderbook``), kept by :class:`~livefeed.venues.bybit.UpdateSequencer`
exactly as on spot: a snapshot on subscribe, then deltas whose ``u`` grows by one; a gap resubscribes the topic.

Linear ``tickers`` are a snapshot followed by deltas that carry only the fields that changed (docs
``v5/websocket/public/ticker``: "if a response param is not found in the message, then its value has not
changed"), so the adapter keeps each symbol's merged ticker and emits from it: a :class:`~livefeed.model.Ticker`
when ``bid1``/``ask1`` change, a :class:`~livefeed.derivatives.Funding` when mark, index, funding rate or next
funding time change, an :class:`~livefeed.derivatives.OpenInterest` when open interest changes. Sizes are in the
base asset (a linear contract is one unit of it). ``allLiquidation.{symbol}`` items become
:class:`~livefeed.derivatives.Liquidation` events; Bybit's ``S`` is the side of the *position* liquidated ("a
``Buy`` update means a long position has been liquidated"), so ``S: Buy`` is a ``sell`` liquidation order, and
``p`` is the bankruptcy price.

Funding, open interest and liquidations are always subscribed unless the feed's channels name some of
``funding`` / ``open_interest`` / ``liquidations``, which then choose among them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..derivatives import FUNDING_FRAMES, Funding, Liquidation, OpenInterest
from ..errors import LivefeedError, UnknownSymbolError
from ..model import Side, Ticker
from ..naming import Kind, parse_instrument
from .base import MalformedFrame, VenueEndpoints
from .bybit import BybitAdapter

__all__ = ["BybitLinearAdapter", "LINEAR_BOOK_DEPTHS", "DERIVATIVE_CHANNELS", "derivative_channels",
           "linear_name", "listed_perpetuals", "TickerState"]

LINEAR_BOOK_DEPTHS = (50, 200, 1000)
"""``orderbook.{depth}`` depths a linear book may use (level 1 is a top of book, served by ``tickers`` here)."""
DERIVATIVE_CHANNELS = ("funding", "open_interest", "liquidations")
_MS = 1_000_000
_FUNDING_FIELDS = ("markPrice", "indexPrice", "fundingRate", "nextFundingTime")
_OI_FIELDS = ("openInterest", "openInterestValue")
_TOP_FIELDS = ("bid1Price", "bid1Size", "ask1Price", "ask1Size")


def derivative_channels(channels: Iterable[str]) -> set[str]:
    """The derivatives streams a feed gets: those its channels name, or all of them when it names none."""
    named = set(channels) & set(DERIVATIVE_CHANNELS)
    return named or set(DERIVATIVE_CHANNELS)


def linear_name(symbol: str) -> str:
    """``BTC-USDT-PERP`` -> ``BTCUSDT``."""
    instrument = parse_instrument(symbol)
    return f"{instrument.base}{instrument.quote}"


def listed_perpetuals(body: Mapping[str, Any]) -> tuple[dict[str, str], str]:
    """One ``instruments-info?category=linear`` page -> (``{"BTC-USDT-PERP": "BTCUSDT"}`` for perpetuals in
    ``Trading`` status, the next page's cursor or ``""``)."""
    if body.get("retCode") != 0:
        raise LivefeedError(f"bybit: instruments-info failed: retCode={body.get('retCode')} {body.get('retMsg')}")
    result = body["result"]
    listed = {
        f"{item['baseCoin']}-{item['quoteCoin']}-PERP": item["symbol"]
        for item in result["list"]
        if item.get("contractType") == "LinearPerpetual" and item.get("status", "Trading") == "Trading"
    }
    return listed, result.get("nextPageCursor") or ""


def _number(value: object) -> float | None:
    return float(value) if value not in (None, "") else None  # type: ignore[arg-type]


class TickerState:
    """One symbol's linear ticker as snapshot + deltas have built it (strings as sent)."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def merge(self, message: Mapping[str, Any]) -> set[str]:
        """Apply one ``tickers`` push; returns the names of the fields it carried."""
        data = message["data"]
        if not isinstance(data, dict):
            raise MalformedFrame("tickers data is not an object")
        if message.get("type") == "snapshot":
            self.fields = {}
        elif message.get("type") != "delta":
            raise MalformedFrame(f"unknown tickers type {message.get('type')!r}")
        self.fields.update({k: v for k, v in data.items() if isinstance(v, str)})
        return set(data)

    def number(self, name: str) -> float | None:
        return _number(self.fields.get(name))


class BybitLinearAdapter(BybitAdapter):
    """Bybit linear perpetuals: ``Feed(["bybit:BTC-USDT-PERP"])``; ``venue_options={"bybit-linear": {"depth":
    200}}`` picks the book depth (50 by default)."""

    source = "bybit-linear"
    category = "linear"
    ws_path = "/v5/public/linear"
    default_endpoints = VenueEndpoints(ws="wss://stream.bybit.com/v5/public/linear", rest="https://api.bybit.com")
    frames = FUNDING_FRAMES

    @classmethod
    def normalize_target(cls, text: str) -> str:
        instrument = parse_instrument(text)
        if instrument.kind is not Kind.PERP:
            raise UnknownSymbolError(f"bybit-linear serves perpetuals ('BTC-USDT-PERP'), not {text!r}")
        return str(instrument)

    def __init__(self, *args: Any, depth: int = 50, **kwargs: Any) -> None:
        if depth not in LINEAR_BOOK_DEPTHS:
            raise ValueError(f"depth must be one of Bybit's linear book depths {LINEAR_BOOK_DEPTHS}, got {depth!r}")
        self.book_depth = depth
        super().__init__(*args, **kwargs)
        self.derivatives = derivative_channels(self.channels)
        self.tickers = {s: TickerState() for s in self.symbols}

    def venue_name(self, symbol: str) -> str:
        return linear_name(symbol)

    def topics(self, name: str) -> list[str]:
        topics = []
        if "trades" in self.channels:
            topics.append(f"publicTrade.{name}")
        if "book" in self.channels:
            topics.append(f"orderbook.{self.book_depth}.{name}")
        if "ticker" in self.channels or self.derivatives & {"funding", "open_interest"}:
            topics.append(f"tickers.{name}")
        if "liquidations" in self.derivatives:
            topics.append(f"allLiquidation.{name}")
        return topics

    async def listing(self) -> dict[str, str]:
        """Every page of the linear listing (Bybit pages it by ``cursor``, up to 1,000 a page)."""
        listed: dict[str, str] = {}
        cursor = ""
        for _ in range(100):
            params = {"category": self.category, "limit": 1000, **({"cursor": cursor} if cursor else {})}
            page, cursor = await self.list_symbols("/v5/market/instruments-info", listed_perpetuals, params)
            listed.update(page)
            if not cursor:
                break
        return listed

    # -- the derivatives topics ---------------------------------------------------------------------------------
    def on_topic(self, kind: str, message: dict[str, Any], symbol: str, receipt_ns: int) -> bool:
        if kind == "tickers":
            self._on_ticker(message, symbol, receipt_ns)
        elif kind == "allLiquidation":
            if "liquidations" in self.derivatives:
                for item in message["data"]:
                    self.emit(self._liquidation(item, symbol, receipt_ns))
        else:
            return False
        return True

    def _on_ticker(self, message: dict[str, Any], symbol: str, receipt_ns: int) -> None:
        state = self.tickers[symbol]
        carried = state.merge(message)
        ts = message["ts"] * _MS
        if "ticker" in self.channels and carried.intersection(_TOP_FIELDS):
            top = [state.number(name) for name in _TOP_FIELDS]
            if None not in top:
                bid, bid_size, ask, ask_size = (float(v) for v in top)  # type: ignore[arg-type]
                extra = {name: value for name in ("lastPrice", "volume24h")
                         if (value := state.number(name)) is not None}
                self.emit(Ticker("bybit", symbol, bid, bid_size, ask, ask_size, ts, receipt_ns, message.get("cs"),
                                 extra))
        mark = state.number("markPrice")
        if "funding" in self.derivatives and carried.intersection(_FUNDING_FIELDS) and mark is not None:
            next_funding = state.fields.get("nextFundingTime")
            self.emit(Funding("bybit", symbol, mark, state.number("indexPrice"), state.number("fundingRate"),
                              int(next_funding) * _MS if next_funding else None, ts, receipt_ns))
        oi = state.number("openInterest")
        if "open_interest" in self.derivatives and carried.intersection(_OI_FIELDS) and oi is not None:
            self.emit(OpenInterest("bybit", symbol, oi, state.number("openInterestValue"), ts, receipt_ns))

    @staticmethod
    def _liquidation(item: Mapping[str, Any], symbol: str, receipt_ns: int) -> Liquidation:
        position = item["S"]
        if position not in ("Buy", "Sell"):
            raise MalformedFrame(f"unknown liquidation side {position!r}")
        side = Side.SELL if position == "Buy" else Side.BUY  # a long (Buy) position is closed by a sell
        return Liquidation("bybit", symbol, side, float(item["p"]), float(item["v"]), int(item["T"]) * _MS,
                           receipt_ns)
