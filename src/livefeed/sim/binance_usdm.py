"""``BinanceUsdmSim``: a deterministic Binance USD-M futures exchange (perpetuals and quarterlies) on loopback.

It serves the routed ``/public/stream`` (depth, bookTicker) and ``/market/stream`` (the others), and the legacy
un-routed ``/stream`` Binance retired on 2026-04-23 (for older clients and captures), each with live ``SUBSCRIBE``
as on spot (10 incoming messages/s; a stream of the other route is refused, in our wording), ``<s>@depth@100ms`` diffs
chained by ``pu``, ``aggTrade``, the futures ``bookTicker``, ``markPrice@1s`` (mark, index, funding rate and next
funding time; the rate rolls to a new value at each funding time, ``funding_interval`` s apart on the market
clock) and ``forceOrder`` liquidations (the latest per second, when one happens), and REST ``/fapi/v1/depth``,
``/fapi/v1/exchangeInfo``, ``/fapi/v1/openInterest``.

Update ids are the market's plus a per-symbol offset that grows by a seeded jump every step, so ids are not
contiguous (``U != previous u + 1``), as on Binance where ids are shared across symbols. Faults: the shared ones,
``skip_updates`` (diffs consumed, never sent: the next ``pu`` shows it) and ``break_chain`` (a diff whose ``pu``
is not the previous ``u`` although nothing was lost, as after a matching-engine restart).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

from ..naming import Kind, parse_instrument
from . import binance_usdm_wire as wire
from . import binance_wire
from .base import json_response
from .binance import BinanceSession
from .faults import Faults
from .market import MarketSim, Step
from .specs import SymbolSpec, spec_for
from .venue import VenueSim

__all__ = ["BinanceUsdmSim", "UsdmSession", "MAX_MESSAGES_PER_SECOND"]

MAX_MESSAGES_PER_SECOND = 10
_DAY_MS = 86_400_000


class UsdmSession(BinanceSession):
    """A USD-M client: Binance's control messages with the futures stream names and message limit, on one route
    (``public``, ``market``, or ``""`` for the legacy un-routed ``/stream``)."""

    max_messages_per_second = MAX_MESSAGES_PER_SECOND

    def __init__(self, ws: ServerConnection, route: str, combined: bool, streams: list[str], faults: Faults,
                 queue_size: int, on_subscribe: Callable[[BinanceSession], None] | None = None) -> None:
        super().__init__(ws, combined, [], faults, queue_size, on_subscribe)
        self.route = route
        for name in streams:
            parsed = wire.parse_stream(name)
            if parsed is not None:
                self.subscriptions[name] = parsed  # type: ignore[assignment]

    def _subscribe(self, params: list, request_id: object) -> dict:
        parsed = [wire.parse_stream(p) if isinstance(p, str) else None for p in params]
        if any(p is None or (self.route and p.route != self.route) for p in parsed):
            return binance_wire.error_reply(2, "Invalid request: invalid stream", request_id)
        if len(self.subscriptions.keys() | set(params)) > binance_wire.MAX_STREAMS:
            return binance_wire.error_reply(2, binance_wire.TOO_MANY_STREAMS, request_id)
        for stream in parsed:
            assert stream is not None
            self.subscriptions.setdefault(stream.name, stream)  # type: ignore[arg-type]
        return binance_wire.reply(None, request_id)

    def _unsubscribe(self, params: list, request_id: object) -> dict:
        if not all(isinstance(p, str) and wire.parse_stream(p) for p in params):
            return binance_wire.error_reply(2, "Invalid request: invalid stream", request_id)
        for name in params:
            self.subscriptions.pop(name, None)
        return binance_wire.reply(None, request_id)


class BinanceUsdmSim(VenueSim):
    """Simulated Binance USD-M: ``async with BinanceUsdmSim(["BTC-USDT-PERP"]) as sim: Feed([...],
    endpoints={"binance-usdm": sim})``. Symbols are canonical (``BTC-USDT-PERP``, ``BTC-USDT-20261225``).

    ``funding_interval``: seconds of market time between funding times (Binance: 8 h, aligned to 00/08/16 UTC);
    ``liquidation_prob``: chance per second and symbol of a ``forceOrder``.
    """

    sessions: list[UsdmSession]  # type: ignore[assignment]

    venue = "binance-usdm"
    default_symbols = ("BTC-USDT-PERP", "ETH-USDT-PERP")

    def __init__(self, symbols: Iterable[str] | None = None, *, funding_interval: float = 8 * 3600,
                 liquidation_prob: float = 0.3, **kwargs: Any) -> None:
        if not funding_interval > 0:
            raise ValueError(f"funding_interval must be positive seconds, got {funding_interval!r}")
        self._kinds: dict[str, tuple[str, int]] = {}  # venue symbol -> (contractType, deliveryDate ms)
        super().__init__(symbols, **kwargs)
        self.funding_interval_ms = max(1, round(funding_interval * 1000))
        self.liquidation_prob = liquidation_prob
        self._per_second = max(1, round(1.0 / self.interval))
        seed = self.seed
        self._by_stream = {key.lower(): key for key in self.markets}
        self._rng = {k: random.Random(f"{seed}:binance-usdm:{k}") for k in self.markets}
        self._offset = {k: 0 for k in self.markets}
        self._last_u = {k: m.last_update_id for k, m in self.markets.items()}
        self._agg_ids = {k: m.last_update_id // 7 for k, m in self.markets.items()}
        self._skip = dict.fromkeys(self.markets, 0)
        self._break = dict.fromkeys(self.markets, 0)
        self._rate = {k: self._new_rate(k) for k in self.markets}
        self._next_funding: dict[str, int | None] = dict.fromkeys(self.markets)
        self._open_interest = {k: self._rng[k].randrange(50_000, 150_000) * 10**m.spec.qty_decimals
                               for k, m in self.markets.items()}
        self.funding_rolls = 0
        self.faults.counts.setdefault("break_chain", 0)

    # -- the grid and names -------------------------------------------------------------------------------------
    def market_spec(self, symbol: str) -> SymbolSpec:
        """The spot pair's grid, printed unpadded; a dated future's quote carries its ``_YYMMDD`` so its market,
        key and seed are its own (its price follows the same fair price as the perpetual's). A spot pair stands
        for its perpetual."""
        instrument = parse_instrument(symbol)
        if instrument.kind is Kind.SPOT:  # ``livefeed sim BTC-USDT`` gives every simulator spot pairs
            instrument = parse_instrument(f"{instrument.pair}-PERP")
        if instrument.kind is not Kind.PERP and instrument.kind is not Kind.FUTURE:
            raise ValueError(f"{symbol!r} is not a perpetual or dated future")
        spec = replace(spec_for(instrument.pair), wire_decimals=0)
        if instrument.kind is Kind.PERP:
            self._kinds[spec.venue_symbol] = ("PERPETUAL", wire.PERPETUAL_DELIVERY_MS)
            return spec
        expiry = instrument.expiry
        assert expiry is not None
        spec = replace(spec, quote=f"{spec.quote}_{expiry:%y%m%d}")
        delivery = (expiry.toordinal() - 719163) * _DAY_MS + 8 * 3_600_000  # 08:00 UTC on the expiry date
        self._kinds[spec.venue_symbol] = ("CURRENT_QUARTER", delivery)
        return spec

    def market_key(self, spec: SymbolSpec) -> str:
        return spec.venue_symbol

    # -- market control ------------------------------------------------------------------------------------------
    def skip_updates(self, n: int = 1) -> None:
        """The next ``n`` diffs of every symbol are consumed but never sent: the diff after shows a ``pu`` gap."""
        for key in self._skip:
            self._skip[key] += n

    def break_chain(self, n: int = 1) -> None:
        """The next ``n`` diffs of every symbol carry a ``pu`` that is not the previous ``u`` (nothing lost)."""
        for key in self._break:
            self._break[key] += n

    # -- truth for tests -----------------------------------------------------------------------------------------
    def market(self, symbol: str) -> MarketSim:
        key = symbol.strip().upper()
        if key in self.markets:
            return self.markets[key]
        try:
            return self.markets[self.market_key(self.market_spec(key))]
        except (KeyError, ValueError, LookupError):
            raise KeyError(f"{symbol!r} is not simulated; known: {', '.join(self.markets)}") from None

    def _key(self, symbol: str) -> str:
        return self.market(symbol).spec.venue_symbol

    def true_book(self, symbol: str) -> dict[str, dict[float, float]]:
        return self.market(symbol).true_book()

    def last_update_id(self, symbol: str) -> int:
        """The ``u`` of the last diff (sent or not): what a caught-up client's book sequence is."""
        return self._last_u[self._key(symbol)]

    def funding_rate(self, symbol: str) -> float | None:
        key = self._key(symbol)
        return self._rate[key] if self._kinds[key][0] == "PERPETUAL" else None

    # -- the clock -----------------------------------------------------------------------------------------------
    def _tick(self) -> None:
        self._steps += 1
        event_time = self._event_time()
        each_second = self._steps % self._per_second == 0
        for key, market in self.markets.items():
            step = market.step(event_time)
            self._offset[key] += self._rng[key].randrange(1, 40)  # other symbols' ids in between
            self._open_interest[key] = max(0, self._open_interest[key] + self._rng[key].randrange(-50, 51)
                                           * 10**max(0, market.spec.qty_decimals - 2))
            self._publish(key, step)
            if each_second:
                self._publish_second(key, market, event_time)

    def _new_rate(self, key: str) -> float:
        return round(self._rng[key].gauss(1e-4, 1.5e-4), 8)

    # -- fan-out -------------------------------------------------------------------------------------------------
    def _publish(self, key: str, step: Step) -> None:
        """Trades and bookTickers in id order, then the diff, as Binance sends them."""
        sym, off, t = key.lower(), self._offset[key], step.event_time
        events: list[tuple[int, int, object]] = [(tp.update_id, 0, tp) for tp in step.trades]
        events += [(bt.update_id, 1, bt) for bt in step.tickers]
        for update_id, kind, item in sorted(events, key=lambda e: (e[0], e[1])):
            if kind == 0:
                self._agg_ids[key] += 1
                agg = self._agg_ids[key]
                self._broadcast(f"{sym}@aggTrade", lambda i=item, a=agg: wire.agg_trade(key, t, a, i))  # type: ignore[misc]
            else:
                self._broadcast(f"{sym}@bookTicker",
                                lambda i=item, u=update_id + off: wire.book_ticker(key, t, u, i))  # type: ignore[misc]
        first, last, previous = step.first_id + off, step.last_id + off, self._last_u[key]
        self._last_u[key] = last
        if self._skip[key] > 0:
            self._skip[key] -= 1
            self.faults.counts["skip_updates"] += 1
            return
        if self._break[key] > 0:
            self._break[key] -= 1
            self.faults.counts["break_chain"] += 1
            previous += 1  # an id the client never saw
        self._broadcast(f"{sym}@depth@100ms",
                        lambda: wire.depth_update(key, t, first, last, previous, step.bid_changes, step.ask_changes))

    def _publish_second(self, key: str, market: MarketSim, event_time: int) -> None:
        contract = self._kinds[key][0]
        rate: float | None = None
        next_funding = 0
        if contract == "PERPETUAL":
            interval = self.funding_interval_ms
            due = self._next_funding[key]
            if due is None:
                due = (event_time // interval + 1) * interval
            while event_time >= due:  # the funding time passed: settle and roll to the next interval's rate
                self._rate[key] = self._new_rate(key)
                self.funding_rolls += 1
                due += interval
            self._next_funding[key] = due
            rate, next_funding = self._rate[key], due
        bid, ask = market.best_bid_ask()
        index = market.reference_price
        self._broadcast(f"{key.lower()}@markPrice@1s",
                        lambda: wire.mark_price(key, event_time, (bid + ask) / 2, index, rate, next_funding))
        rng = self._rng[key]
        if rng.random() < self.liquidation_prob:
            sells = rng.random() < 0.5  # a long closed by a sell, or a short by a buy
            spec = market.spec
            price = spec.price_str(round((bid if sells else ask) * 10**spec.price_decimals))
            qty = spec.qty_str(rng.randrange(1, 500) * 10**max(0, spec.qty_decimals - 3))
            self._broadcast(f"{key.lower()}@forceOrder",
                            lambda: wire.force_order(key, event_time, "SELL" if sells else "BUY", price, qty))

    def _broadcast(self, stream: str, build: Callable[[], dict]) -> None:
        """Encode once, queue to every subscriber; while stalled the frame is lost, as in a real outage."""
        targets = [s for s in self.sessions if stream in s.subscriptions and s.open]
        self.fan_out(targets, build, lambda session, payload: session.send_stream(stream, payload))

    # -- REST ----------------------------------------------------------------------------------------------------
    def is_rest(self, path: str) -> bool:
        return path.startswith("/fapi/")

    def handle_rest(self, path: str, params: dict[str, str]) -> Response:
        if path == "/fapi/v1/depth":
            return self._depth(params)
        if path == "/fapi/v1/openInterest":
            return self._open_interest_body(params)
        if path == "/fapi/v1/exchangeInfo":
            contracts = [(k, m.spec, *self._kinds[k]) for k, m in self.markets.items()]
            body = wire.exchange_info(contracts, time.time_ns() // 1_000_000)
            return json_response(200, body, {"X-MBX-USED-WEIGHT-1M": "1"})
        if path == "/fapi/v1/ping":
            return json_response(200, {})
        if path == "/fapi/v1/time":
            return json_response(200, {"serverTime": time.time_ns() // 1_000_000})
        return json_response(404, {"code": -1, "msg": "Not found."})

    def _symbol(self, params: dict[str, str]) -> str | Response:
        name = params.get("symbol", "")
        if not name:
            return wire.rest_error(*wire.MISSING_SYMBOL)
        if name not in self.markets:
            return wire.rest_error(*wire.INVALID_SYMBOL)
        return name

    def _depth(self, params: dict[str, str]) -> Response:
        key = self._symbol(params)
        if isinstance(key, Response):
            return key
        raw = params.get("limit", "500")
        if not raw.isdigit() or int(raw) not in wire.DEPTH_LIMITS:
            return wire.rest_error(*wire.BAD_LIMIT)
        limit = int(raw)
        book = self.markets[key].snapshot(limit)
        body = wire.depth_snapshot(self._last_u[key], self._event_time(), book["bids"], book["asks"])
        weight = 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20
        return json_response(200, body, {"X-MBX-USED-WEIGHT-1M": str(weight)})

    def _open_interest_body(self, params: dict[str, str]) -> Response:
        key = self._symbol(params)
        if isinstance(key, Response):
            return key
        spec = self.markets[key].spec
        body = wire.open_interest(key, spec.qty_str(self._open_interest[key]), self._event_time())
        return json_response(200, body, {"X-MBX-USED-WEIGHT-1M": "1"})

    # -- WebSocket routes ----------------------------------------------------------------------------------------
    def route_ws(self, path: str) -> tuple[str, bool, list[str]] | Response:
        """``/public/...`` (depth, bookTicker), ``/market/...`` (the others) or the legacy un-routed path, each
        as ``/stream[?streams=a/b]`` or ``/ws[/<stream>...]``; an invalid stream, or one of the other route, is
        refused."""
        route, rest = wire.parse_route(path)
        parsed = binance_wire.parse_ws_path(rest)
        if parsed is None:
            return json_response(404, {"code": -1, "msg": "Not found."})
        streams = [wire.parse_stream(s) for s in parsed[1]]
        if any(s is None or (route and s.route != route) for s in streams):
            return json_response(400, {"code": 2, "msg": "Invalid request: invalid stream"})
        return route, *parsed

    def new_session(self, ws: ServerConnection, route: tuple[str, bool, list[str]]) -> UsdmSession:
        name, combined, streams = route
        return UsdmSession(ws, name, combined, streams, self.faults, self.send_queue, self.session_subscribed)
