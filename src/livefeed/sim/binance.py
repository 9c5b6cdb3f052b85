"""``BinanceSim``: a deterministic Binance spot exchange on loopback, with faults on demand.

Adapters connect to it exactly as to Binance (same paths, payloads, replies, limits and id numbering), so the
whole local-book procedure (buffer diffs, REST snapshot, ``U``/``u`` checks, resync on a gap) runs for real in
tests, the demo and the benchmarks. The market is ``MarketSim``; this module only keeps the clock, fans steps
out as stream frames, answers REST, and holds ``BinanceSession``: one client's subscriptions and Binance's control
messages (``SUBSCRIBE`` / ``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS`` / ``SET_PROPERTY`` / ``GET_PROPERTY``, the
combined-stream envelope, 5 incoming messages per second, 1024 streams per connection). Payloads are
``binance_wire``'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

from . import binance_wire
from .base import SimSession, json_response
from .faults import Faults
from .market import MarketSim, Step
from .trade_history import SentTrade, TradeHistory
from .venue import VenueSim

__all__ = ["BinanceSim", "BinanceSession", "MAX_MESSAGES_PER_SECOND"]

MAX_MESSAGES_PER_SECOND = 5
_METHODS = "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"


class BinanceSession(SimSession):
    """A Binance client: the streams it follows and whether it wants the combined envelope."""

    max_messages_per_second = MAX_MESSAGES_PER_SECOND

    def __init__(
        self,
        ws: ServerConnection,
        combined: bool,
        streams: list[str],
        faults: Faults,
        queue_size: int,
        on_subscribe: Callable[[BinanceSession], None] | None = None,
    ) -> None:
        super().__init__(ws, faults, queue_size)
        self.combined = combined
        self.subscriptions: dict[str, binance_wire.StreamName] = {}
        for name in streams:
            parsed = binance_wire.parse_stream(name)
            if parsed is not None:
                self.subscriptions[name] = parsed
        self._on_subscribe = on_subscribe

    def send_stream(self, stream: str, payload: bytes) -> None:
        """Queue one stream event, wrapped in the combined envelope if this session is combined."""
        if self.combined:
            payload = b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"
        self.push(payload)

    def handle(self, message: str | bytes) -> None:
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError as exc:
            self._reply(binance_wire.error_reply(3, f"Invalid JSON: {exc}"))
            return
        if not isinstance(request, dict):
            self._reply(binance_wire.error_reply(2, "Invalid request: expected a JSON object"))
            return
        request_id = request.get("id")
        if not _valid_id(request_id):
            self._reply(binance_wire.error_reply(2, "Invalid request: invalid request ID"))
            return
        method, params = request.get("method"), request.get("params", [])
        handler = {
            "SUBSCRIBE": self._subscribe,
            "UNSUBSCRIBE": self._unsubscribe,
            "LIST_SUBSCRIPTIONS": self._list,
            "SET_PROPERTY": self._set_property,
            "GET_PROPERTY": self._get_property,
        }.get(method)  # type: ignore[arg-type]
        if handler is None:
            msg = f"Invalid request: unknown variant `{method}`, expected one of {_METHODS}"
            self._reply(binance_wire.error_reply(2, msg, request_id))
            return
        if not isinstance(params, list):
            msg = "Invalid request: invalid type for `params`, expected a sequence"
            self._reply(binance_wire.error_reply(2, msg, request_id))
            return
        self._reply(handler(params, request_id))
        if method == "SUBSCRIBE" and self._on_subscribe is not None:
            self._on_subscribe(self)

    def _reply(self, body: dict) -> None:
        self.push(orjson.dumps(body))

    def _subscribe(self, params: list, request_id: object) -> dict:
        parsed = [binance_wire.parse_stream(p) if isinstance(p, str) else None for p in params]
        if any(p is None for p in parsed):
            return binance_wire.error_reply(2, "Invalid request: invalid stream", request_id)
        if len(self.subscriptions.keys() | set(params)) > binance_wire.MAX_STREAMS:
            return binance_wire.error_reply(2, binance_wire.TOO_MANY_STREAMS, request_id)
        for stream in parsed:
            assert stream is not None
            self.subscriptions.setdefault(stream.name, stream)
        return binance_wire.reply(None, request_id)

    def _unsubscribe(self, params: list, request_id: object) -> dict:
        if not all(isinstance(p, str) and binance_wire.parse_stream(p) for p in params):
            return binance_wire.error_reply(2, "Invalid request: invalid stream", request_id)
        for name in params:
            self.subscriptions.pop(name, None)
        return binance_wire.reply(None, request_id)

    def _list(self, params: list, request_id: object) -> dict:
        return binance_wire.reply(list(self.subscriptions), request_id)

    def _set_property(self, params: list, request_id: object) -> dict:
        if len(params) != 2 or params[0] != "combined":
            return binance_wire.error_reply(0, "Unknown property", request_id)
        if not isinstance(params[1], bool):
            return binance_wire.error_reply(1, "Invalid value type: expected Boolean", request_id)
        self.combined = params[1]
        return binance_wire.reply(None, request_id)

    def _get_property(self, params: list, request_id: object) -> dict:
        if params != ["combined"]:
            return binance_wire.error_reply(0, "Unknown property", request_id)
        return binance_wire.reply(self.combined, request_id)




class BinanceSim(VenueSim):
    """Simulated Binance spot: ``async with BinanceSim() as sim: connect(sim.ws_url + "/stream?streams=...")``.

    With ``autostep`` one task steps every symbol each ``interval`` s; without it, ``await sim.step(n)`` drives
    the market by hand for deterministic tests. ``start_time_ms`` pins event times (``E``) to a market clock
    (``start + steps * interval``) instead of the wall clock, making every frame byte-for-byte reproducible.
    """

    sessions: list[BinanceSession]  # type: ignore[assignment]

    venue = "binance"

    def __init__(self, symbols: Iterable[str] | None = None, **kwargs: Any) -> None:
        super().__init__(symbols, **kwargs)
        self._by_stream = {m.spec.venue_symbol.lower(): m for m in self.markets.values()}
        self._by_venue = {m.spec.venue_symbol: m for m in self.markets.values()}
        self._per_second = max(1, round(1.0 / self.interval))
        self._slow_depth: dict[str, Step | None] = dict.fromkeys(self._by_stream)
        self._agg_ids = {s: m.last_update_id // 7 for s, m in self._by_stream.items()}
        self.trade_history = TradeHistory(self._by_stream)
        """Every trade printed, for ``/api/v3/historicalTrades``, ``/trades`` and ``/aggTrades``."""
        self._agg_offset = dict.fromkeys(self._by_stream, 0)  # aggregate id - trade id (one trade per aggregate)
        self._skip: dict[str, int] = dict.fromkeys(self._by_stream, 0)

    # -- lifecycle -----------------------------------------------------------------------------------------------
    # -- market control ------------------------------------------------------------------------------------------
    def skip_updates(self, n: int = 1) -> None:
        """The next ``n`` diff batches of every symbol are consumed but never sent: clients see a U/u gap."""
        for symbol in self._skip:
            self._skip[symbol] += n

    # -- truth for tests -----------------------------------------------------------------------------------------
    def market(self, symbol: str) -> MarketSim:
        key = symbol.upper().replace("/", "-").replace("_", "-")
        if key in self.markets:
            return self.markets[key]
        if key in self._by_venue:
            return self._by_venue[key]
        raise KeyError(f"{symbol!r} is not simulated; known: {', '.join(self.markets)}")

    def true_book(self, symbol: str) -> dict[str, dict[float, float]]:
        return self.market(symbol).true_book()

    def last_update_id(self, symbol: str) -> int:
        return self.market(symbol).last_update_id

    # -- the clock -----------------------------------------------------------------------------------------------
    def _tick(self) -> None:
        self._steps += 1
        event_time = self._event_time()
        flush_slow = self._steps % self._per_second == 0
        for stream_symbol, market in self._by_stream.items():
            self._publish(stream_symbol, market.step(event_time))
            if flush_slow:
                self._flush_slow_depth(stream_symbol)
                self._publish_partials(stream_symbol, fast=False)

    # -- fan-out -------------------------------------------------------------------------------------------------
    def _publish(self, sym: str, step: Step) -> None:
        """Frames in the order Binance sends them: trades and bookTickers in id order, then the diff batch."""
        if step.trades:
            if not self.trade_history.all(sym):
                self._agg_offset[sym] = self._agg_ids[sym] + 1 - step.trades[0].trade_id
            self.trade_history.record(sym, step.trades)
        events: list[tuple[int, int, object]] = [(t.update_id, 0, t) for t in step.trades]
        events += [(b.update_id, 1, b) for b in step.tickers]
        for _, kind, item in sorted(events, key=lambda e: (e[0], e[1])):
            if kind == 0:
                self._broadcast(f"{sym}@trade", lambda t=item: binance_wire.trade(step.symbol, step.event_time, t))
                self._agg_ids[sym] += 1
                agg_id = self._agg_ids[sym]
                self._broadcast(f"{sym}@aggTrade",
                                lambda t=item, a=agg_id: binance_wire.agg_trade(step.symbol, step.event_time, a, t))
            else:
                self._broadcast(f"{sym}@bookTicker", lambda b=item: binance_wire.book_ticker(step.symbol, b))
        if self._skip[sym] > 0:
            self._skip[sym] -= 1
            self.faults.counts["skip_updates"] += 1
            self._flush_slow_depth(sym)  # the 1000ms stream must show the gap too, not hide it in a merge
        else:
            self._broadcast(f"{sym}@depth@100ms", lambda: binance_wire.depth_update(step))
            self._accumulate_slow(sym, step)
        self._publish_partials(sym, fast=True)

    def _accumulate_slow(self, sym: str, step: Step) -> None:
        acc = self._slow_depth[sym]
        if acc is None:
            acc = Step(step.symbol, step.event_time, step.first_id, step.last_id)
            acc.bid_changes, acc.ask_changes = [], []
            self._slow_depth[sym] = acc
            bids: dict[str, str] = {}
            asks: dict[str, str] = {}
        else:
            bids, asks = dict(acc.bid_changes), dict(acc.ask_changes)
        bids.update(step.bid_changes)
        asks.update(step.ask_changes)
        acc.bid_changes = [[p, q] for p, q in bids.items()]
        acc.ask_changes = [[p, q] for p, q in asks.items()]
        acc.event_time, acc.last_id = step.event_time, step.last_id

    def _flush_slow_depth(self, sym: str) -> None:
        acc, self._slow_depth[sym] = self._slow_depth[sym], None
        if acc is not None:
            self._broadcast(f"{sym}@depth", lambda: binance_wire.depth_update(acc))
            self._broadcast(f"{sym}@depth@1000ms", lambda: binance_wire.depth_update(acc))

    def _publish_partials(self, sym: str, fast: bool) -> None:
        wanted = {
            s.name: s.partial_levels
            for session in self.sessions
            for s in session.subscriptions.values()
            if s.kind == "partial" and s.symbol == sym and s.fast == fast
        }
        if wanted:
            snapshot = self._by_stream[sym].snapshot(max(wanted.values()))
            for name, levels in wanted.items():
                self._broadcast(name, lambda n=levels: binance_wire.partial_depth(snapshot, n))

    def _broadcast(self, stream: str, build: Callable[[], dict]) -> None:
        """Encode once, queue to every subscriber; while stalled the frame is lost, as in a real outage."""
        targets = [s for s in self.sessions if stream in s.subscriptions and s.open]
        self.fan_out(targets, build, lambda session, payload: session.send_stream(stream, payload))

    # -- REST ----------------------------------------------------------------------------------------------------
    def handle_rest(self, path: str, params: dict[str, str]) -> Response:
        if path == "/api/v3/depth":
            return self._depth(params)
        if path == "/api/v3/exchangeInfo":
            return self._exchange_info(params)
        if path in ("/api/v3/historicalTrades", "/api/v3/trades", "/api/v3/aggTrades"):
            return self._trades(path, params)
        if path == "/api/v3/ping":
            return json_response(200, {})
        if path == "/api/v3/time":
            return json_response(200, {"serverTime": time.time_ns() // 1_000_000})
        return json_response(404, {"code": -1, "msg": "Not found."})

    def _depth(self, params: dict[str, str]) -> Response:
        symbol = params.get("symbol", "")
        if not symbol:
            return binance_wire.rest_error(*binance_wire.MISSING_SYMBOL)
        market = self._by_venue.get(symbol)
        if market is None:
            return binance_wire.rest_error(*binance_wire.INVALID_SYMBOL)
        raw_limit = params.get("limit", "100")
        if not raw_limit.isdigit():
            return binance_wire.rest_error(*binance_wire.BAD_LIMIT)
        limit = min(max(int(raw_limit), 1), 5000)
        weight = 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
        return json_response(200, market.snapshot(limit), {"X-MBX-USED-WEIGHT-1M": str(weight)})

    def _trades(self, path: str, params: dict[str, str]) -> Response:
        """``/trades`` (the newest), ``/historicalTrades`` (``fromId`` on) and ``/aggTrades`` (``fromId`` or
        ``startTime``/``endTime``; every simulated aggregate holds one trade), oldest first, as Binance answers."""
        symbol = params.get("symbol", "")
        if not symbol:
            return binance_wire.rest_error(*binance_wire.MISSING_SYMBOL)
        market = self._by_venue.get(symbol)
        if market is None:
            return binance_wire.rest_error(*binance_wire.INVALID_SYMBOL)
        numbers = {k: params[k] for k in ("limit", "fromId", "startTime", "endTime") if k in params}
        if any(not v.isdigit() for v in numbers.values()):
            return binance_wire.rest_error(*binance_wire.BAD_LIMIT)
        key = market.spec.venue_symbol.lower()
        limit = min(max(int(numbers.get("limit", "500")), 1), 1000)
        history = self.trade_history
        offset = self._agg_offset[key]
        agg = path.endswith("aggTrades")
        if "fromId" in numbers and path != "/api/v3/trades":
            first = int(numbers["fromId"]) - (offset if agg else 0)
            chosen = history.from_id(key, first, limit)
        elif agg and "startTime" in numbers:
            end = int(numbers["endTime"]) * 1_000_000 + 1 if "endTime" in numbers else None
            chosen = history.since(key, int(numbers["startTime"]) * 1_000_000, limit, end)
        else:
            chosen = history.latest(key, limit)
        if agg:
            body = [_agg_row(s, offset) for s in chosen]
            return json_response(200, body, {"X-MBX-USED-WEIGHT-1M": "4"})
        return json_response(200, [_trade_row(s) for s in chosen], {"X-MBX-USED-WEIGHT-1M": "25"})

    def _exchange_info(self, params: dict[str, str]) -> Response:
        names: list[str] | None = None
        if "symbol" in params:
            names = [params["symbol"]]
        elif "symbols" in params:
            try:
                names = orjson.loads(params["symbols"])
            except orjson.JSONDecodeError:
                return binance_wire.rest_error(*binance_wire.INVALID_SYMBOL)
        markets = list(self.markets.values())
        if names is not None:
            if any(n not in self._by_venue for n in names):
                return binance_wire.rest_error(*binance_wire.INVALID_SYMBOL)
            markets = [self._by_venue[n] for n in names]
        body = binance_wire.exchange_info([m.spec for m in markets], time.time_ns() // 1_000_000)
        return json_response(200, body, {"X-MBX-USED-WEIGHT-1M": "20"})

    def session_opened(self, session: BinanceSession) -> None:
        """Nothing to replay: a new session simply starts receiving the next step's frames."""

    # -- WebSocket routes ----------------------------------------------------------------------------------------
    def route_ws(self, path: str) -> tuple[bool, list[str]] | Response:
        """``/ws/<stream>[/...]``, ``/ws``, ``/stream?streams=a/b``, ``/stream``; an invalid stream name is refused."""
        route = binance_wire.parse_ws_path(path)
        if route is None:
            return json_response(404, {"code": -1, "msg": "Not found."})
        streams = route[1]
        if any(binance_wire.parse_stream(s) is None for s in streams):
            return json_response(400, {"code": 2, "msg": "Invalid request: invalid stream"})
        if len(set(streams)) > binance_wire.MAX_STREAMS:
            return json_response(400, {"code": 2, "msg": binance_wire.TOO_MANY_STREAMS})
        return route

    def new_session(self, ws: ServerConnection, route: tuple[bool, list[str]]) -> BinanceSession:
        combined, streams = route
        return BinanceSession(ws, combined, streams, self.faults, self.send_queue, self.session_subscribed)


def _trade_row(sent: SentTrade) -> dict:
    t = sent.trade
    quote = f"{float(t.price) * float(t.qty):.8f}"
    return {"id": t.trade_id, "price": t.price, "qty": t.qty, "quoteQty": quote, "time": t.trade_time,
            "isBuyerMaker": t.buyer_is_maker, "isBestMatch": True}


def _agg_row(sent: SentTrade, offset: int) -> dict:
    t = sent.trade
    return {"a": t.trade_id + offset, "p": t.price, "q": t.qty, "f": t.trade_id, "l": t.trade_id, "T": t.trade_time,
            "m": t.buyer_is_maker, "M": True}


def _valid_id(request_id: object) -> bool:
    """Binance accepts an int64, an alphanumeric string of up to 36 characters, or null."""
    if request_id is None:
        return True
    if isinstance(request_id, bool):
        return False
    if isinstance(request_id, int):
        return -(2**63) <= request_id < 2**63
    return isinstance(request_id, str) and len(request_id) <= 36 and request_id.isalnum()
