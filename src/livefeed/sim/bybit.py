"""``BybitSim``: a deterministic Bybit v5 public spot exchange on loopback, with faults on demand.

Adapters connect to ``/v5/public/spot`` exactly as to ``wss://stream.bybit.com/v5/public/spot``: ``op`` requests
(subscribe / unsubscribe / ping, at most 10 args per request), a ``snapshot`` on every subscribe, then ``delta``
pushes whose per-topic update id ``u`` grows by one per message, and ``u = 1`` snapshots after a service restart.
The market is the shared ``MarketSim``; each ``orderbook.{depth}`` topic publishes the diff of its top-``depth``
view after every step (levels leaving the view are sent with size ``"0"``, as Bybit does).

Keep-alive: the docs only *recommend* a ``{"op":"ping"}`` every 20 s and state no idle limit; this simulator
closes a client that has sent nothing for ``idle_timeout`` seconds (default 60, our choice), so an adapter that
forgets its heartbeat fails here first.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

from . import bybit_wire as bw
from .base import SimSession, json_response
from .faults import Faults
from .market import MarketSim, spec_for
from .specs import SymbolSpec
from .trade_history import TradeHistory
from .venue import VenueSim

__all__ = ["BybitSim", "BybitSession", "BookView", "WS_PATH"]

WS_PATH = "/v5/public/spot"


class BookView:
    """What one ``orderbook.{depth}.{symbol}`` topic last published: the top ``depth`` levels and its ``u``."""

    def __init__(self, depth: int, u: int) -> None:
        self.depth = depth
        self.u = u
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}

    def refresh(self, snapshot: dict) -> tuple[list[list[str]], list[list[str]]]:
        """Adopt the market's new top levels; return the changes (absolute sizes, ``"0"`` = gone), best first."""
        return self.adopt(trimmed(snapshot["bids"]), trimmed(snapshot["asks"]))

    def adopt(self, top_bids: list[tuple[str, str]], top_asks: list[tuple[str, str]]) -> tuple[list, list]:
        """``refresh`` from levels already trimmed (best first); at most ``depth`` of them are kept."""
        bids = dict(top_bids[: self.depth])
        asks = dict(top_asks[: self.depth])
        bid_changes = _diff(self.bids, bids, reverse=True)
        ask_changes = _diff(self.asks, asks, reverse=False)
        self.bids, self.asks = bids, asks
        return bid_changes, ask_changes

    def levels(self) -> tuple[list[list[str]], list[list[str]]]:
        """The whole view as a snapshot's ``b`` / ``a`` (bids descending, asks ascending)."""
        bids = sorted(self.bids.items(), key=lambda kv: float(kv[0]), reverse=True)
        asks = sorted(self.asks.items(), key=lambda kv: float(kv[0]))
        return [list(kv) for kv in bids], [list(kv) for kv in asks]

    def as_floats(self) -> dict[str, dict[float, float]]:
        return {
            "bids": {float(p): float(q) for p, q in self.bids.items()},
            "asks": {float(p): float(q) for p, q in self.asks.items()},
        }


def trimmed(levels: list[list[str]]) -> list[tuple[str, str]]:
    """Wire levels as Bybit spot prints them (no trailing zeros)."""
    trim = bw.trim
    return [(trim(p), trim(q)) for p, q in levels]


def _diff(old: dict[str, str], new: dict[str, str], reverse: bool) -> list[list[str]]:
    changes = [[p, "0"] for p in old if p not in new]
    changes += [[p, q] for p, q in new.items() if old.get(p) != q]
    changes.sort(key=lambda pq: float(pq[0]), reverse=reverse)
    return changes


class BybitSession(SimSession):
    """One spot client: its topics, Bybit's ``op`` requests and the idle rule."""

    def __init__(self, ws: ServerConnection, faults: Faults, queue_size: int, server: BybitSim) -> None:
        super().__init__(ws, faults, queue_size)
        self.server = server
        self.conn_id = str(uuid.UUID(int=server.rng.getrandbits(128)))
        self.subscriptions: dict[str, bw.Topic] = {}
        self.last_heard = asyncio.get_running_loop().time()

    async def run(self) -> None:
        watchdog = asyncio.get_running_loop().create_task(self._watch_idle())
        try:
            await super().run()
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    async def _watch_idle(self) -> None:
        loop = asyncio.get_running_loop()
        limit = self.server.idle_timeout
        while True:
            silent = loop.time() - self.last_heard
            if silent >= limit:
                self.faults.counts["idle_timeout"] = self.faults.counts.get("idle_timeout", 0) + 1
                self.close(1000, "idle timeout: no ping")
                return
            await asyncio.sleep(limit - silent)

    def handle(self, message: str | bytes) -> None:
        self.last_heard = asyncio.get_running_loop().time()
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError:
            self._reply(bw.op_reply("", self.conn_id, None, False, "error:request not json"))
            return
        if not isinstance(request, dict):
            self._reply(bw.op_reply("", self.conn_id, None, False, "error:request not an object"))
            return
        op, req_id, args = request.get("op"), request.get("req_id"), request.get("args")
        if op == "ping":
            self.server.pings_received += 1
            self._reply(bw.pong(self.conn_id, req_id))
            self.server.notify()
        elif op in ("subscribe", "unsubscribe"):
            self._change(op, req_id, args)
        else:
            self._reply(bw.op_reply(str(op), self.conn_id, req_id, False, f"error:unsupported op {op!r}"))

    def _change(self, op: str, req_id: object, args: object) -> None:
        error = self._check_args(op, args)
        if error:
            self._reply(bw.op_reply(op, self.conn_id, req_id, False, error))
            return
        assert isinstance(args, list)
        topics = [self.server.parse_topic(a) for a in args]
        if op == "unsubscribe":
            for name in args:
                self.subscriptions.pop(name, None)
            self._reply(bw.op_reply(op, self.conn_id, req_id))
            return
        for topic in topics:
            assert topic is not None
            self.subscriptions[topic.name] = topic
        self._reply(bw.op_reply(op, self.conn_id, req_id))
        self.server.subscribed(self, [t for t in topics if t is not None])

    def _check_args(self, op: str, args: object) -> str:
        """Bybit's refusal text for a bad request, or "" (wording ours: the docs publish no error examples)."""
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            return "error:args must be a non-empty list of topics"
        if len(args) > bw.MAX_ARGS_PER_REQUEST:
            return f"args size >{bw.MAX_ARGS_PER_REQUEST}"
        for name in args:
            topic = self.server.parse_topic(name)
            if topic is None or topic.symbol not in self.server.by_venue:
                return f"Invalid symbol :[{name}]"
            if op == "subscribe" and name in self.subscriptions:
                return f"already subscribed,topic:{name}"
            if op == "unsubscribe" and name not in self.subscriptions:
                return f"not subscribed,topic:{name}"
        return ""

    def _reply(self, body: dict) -> None:
        self.push(orjson.dumps(body))


class BybitSim(VenueSim):
    """Simulated Bybit spot: ``async with BybitSim() as sim: Feed([...], endpoints={"bybit": sim})``.

    With ``autostep`` one task steps every symbol each ``interval`` s; without it ``await sim.step(n)`` drives the
    market by hand. ``start_time_ms`` pins ``ts`` to a market clock for byte-for-byte reproducible frames.
    """

    venue = "bybit"
    ws_path = WS_PATH
    category = "spot"
    book_depths: tuple[int, ...] = bw.BOOK_DEPTHS
    number: Callable[[str], str] = staticmethod(bw.trim)
    """How the market prints a number string: spot trims trailing zeros."""

    def market_spec(self, symbol: str) -> SymbolSpec:
        # Spot trims trailing zeros: print with no padding, then trim (see bybit_wire.trim).
        return dataclasses.replace(spec_for(symbol), wire_decimals=0)

    def parse_topic(self, name: str) -> bw.Topic | None:
        """A topic this market serves, parsed; ``None`` for any other."""
        return bw.parse_topic(name)

    def __init__(self, symbols: Iterable[str] | None = None, *, idle_timeout: float = 60.0,
                 **kwargs: Any) -> None:
        super().__init__(symbols, **kwargs)
        self.idle_timeout = idle_timeout
        self.rng = random.Random(f"bybit:{self.seed}")
        self.pings_received = 0
        self.by_venue = {m.spec.venue_symbol: m for m in self.markets.values()}
        self.trade_history = TradeHistory(self.by_venue)
        """Every trade printed, for ``/v5/market/recent-trade``."""
        self.views: dict[tuple[str, int], BookView] = {}
        for sym, market in self.by_venue.items():
            for depth in self.book_depths:
                view = BookView(depth, random.Random(f"{self.seed}:{sym}:{depth}").randrange(10**6, 10**8))
                snap = market.snapshot(depth)
                view.adopt(self._wire_levels(snap["bids"]), self._wire_levels(snap["asks"]))
                self.views[(sym, depth)] = view
        self._skip: dict[tuple[str, int], int] = dict.fromkeys(self.views, 0)
        """(symbol, depth) -> deltas still to withhold: per topic, so a step that leaves one view unchanged does not
        use up another's skip."""

    # -- lifecycle -----------------------------------------------------------------------------------------------
    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{self.ws_path}"

    # -- market control ------------------------------------------------------------------------------------------
    def skip_updates(self, n: int = 1) -> None:
        """The next ``n`` deltas of every symbol's deep book topics take their ``u`` but are never sent: a gap."""
        for key in self._skip:
            self._skip[key] += n

    def restart_books(self) -> None:
        """A Bybit service restart: every book topic starts over at ``u = 1`` with a snapshot."""
        for (sym, depth), view in self.views.items():
            view.u = 1
            self._broadcast_book(sym, depth, "snapshot", *view.levels())

    # -- truth for tests -----------------------------------------------------------------------------------------
    def market(self, symbol: str) -> MarketSim:
        key = symbol.upper().replace("/", "-").replace("_", "-")
        market = self.markets.get(key) or self.by_venue.get(key)
        if market is None:
            raise KeyError(f"{symbol!r} is not simulated; known: {', '.join(self.markets)}")
        return market

    def _wire_levels(self, levels: list[list[str]]) -> list[tuple[str, str]]:
        number = self.number
        return [(number(p), number(q)) for p, q in levels]

    def true_book(self, symbol: str, depth: int = 50) -> dict[str, dict[float, float]]:
        """What a perfect ``orderbook.{depth}`` client holds now (the top ``depth`` levels), as floats."""
        return self.views[(self.market(symbol).spec.venue_symbol, depth)].as_floats()

    def last_update_id(self, symbol: str, depth: int = 50) -> int:
        return self.views[(self.market(symbol).spec.venue_symbol, depth)].u

    async def wait_for_pings(self, n: int) -> None:
        await self._wait_until(lambda: self.pings_received >= n)

    def notify(self) -> None:
        self._notify()

    # -- the clock -----------------------------------------------------------------------------------------------
    def _tick(self) -> None:
        self._steps += 1
        ts = self._event_time()
        for sym, market in self.by_venue.items():
            step = market.step(ts)
            if step.trades:
                self.trade_history.record(sym, step.trades)
                self._broadcast(f"publicTrade.{sym}", lambda s=step, m=market, n=sym: bw.trade_message(
                    n, s.event_time, s.trades, m.spec, self.number))
            self._publish_books(sym, market, ts)

    def _publish_books(self, sym: str, market: MarketSim, ts: int) -> None:
        # One snapshot of the deepest view serves every depth: each view is a prefix of it.
        deepest = market.snapshot(max(self.book_depths))
        top_bids, top_asks = self._wire_levels(deepest["bids"]), self._wire_levels(deepest["asks"])
        for depth in self.book_depths:
            view = self.views[(sym, depth)]
            bids, asks = view.adopt(top_bids, top_asks)
            if not bids and not asks:
                continue
            view.u += 1
            if depth == 1:  # level 1 pushes the whole top each time (Bybit: "snapshot" resent for level 1)
                self._broadcast_book(sym, depth, "snapshot", *view.levels(), ts=ts)
            elif self._skip[(sym, depth)] > 0:
                self._skip[(sym, depth)] -= 1
                self.faults.counts["skip_updates"] += 1
            else:
                self._broadcast_book(sym, depth, "delta", bids, asks, ts=ts)

    # -- fan-out -------------------------------------------------------------------------------------------------
    def _broadcast_book(
        self, sym: str, depth: int, kind: str, bids: list, asks: list, ts: int | None = None,
        only: BybitSession | None = None,
    ) -> None:
        view = self.views[(sym, depth)]
        seq = self.by_venue[sym].last_update_id
        stamp = self._event_time() if ts is None else ts
        topic = f"orderbook.{depth}.{sym}"
        self._broadcast(topic, lambda: bw.book_message(topic, kind, stamp, sym, bids, asks, view.u, seq), only)

    def _broadcast(self, topic: str, build: Callable[[], dict], only: BybitSession | None = None) -> None:
        """Encode once, queue to every subscriber; while stalled the frame is lost, as in a real outage."""
        sessions = [only] if only is not None else self.sessions
        targets = [s for s in sessions if topic in s.subscriptions and s.open]  # type: ignore[attr-defined]
        self.fan_out(targets, build, BybitSession.push)

    def subscribed(self, session: BybitSession, topics: list[bw.Topic]) -> None:
        """Right after the ack: a snapshot of each new book topic, to that client only."""
        for topic in topics:
            if topic.kind == "orderbook":
                view = self.views[(topic.symbol, topic.depth)]
                self._broadcast_book(topic.symbol, topic.depth, "snapshot", *view.levels(), only=session)
        self.session_subscribed(session)

    # -- REST ----------------------------------------------------------------------------------------------------
    def is_rest(self, path: str) -> bool:
        return path.startswith("/v5/market/")

    def handle_rest(self, path: str, params: dict[str, str]) -> Response:
        now = time.time_ns() // 1_000_000
        if path == "/v5/market/time":
            result = {"timeSecond": str(now // 1000), "timeNano": str(time.time_ns())}
            return json_response(200, bw.rest_body(result, now))
        if path == "/v5/market/instruments-info":
            if params.get("category") != self.category:
                return json_response(200, bw.rest_body({}, now, 10001, "params error: category invalid"))
            specs = [m.spec for m in self.markets.values()]
            if "symbol" in params:
                specs = [s for s in specs if s.venue_symbol == params["symbol"]]
            return json_response(200, bw.rest_body(self.instruments_info(specs), now))
        if path == "/v5/market/recent-trade":
            return self._recent_trades(params, now)
        return json_response(404, {"retCode": 404, "retMsg": "Not Found"})

    def _recent_trades(self, params: dict[str, str], now: int) -> Response:
        """``/v5/market/recent-trade``: the newest ``limit`` trades, newest first (spot: 1..60, default 60;
        derivatives: 1..1000, default 500), as Bybit answers."""
        if params.get("category") != self.category:
            return json_response(200, bw.rest_body({}, now, 10001, "params error: category invalid"))
        sym = params.get("symbol", "")
        if sym not in self.trade_history:
            return json_response(200, bw.rest_body({}, now, 10001, "params error: symbol invalid"))
        most, default = (60, 60) if self.category == "spot" else (1000, 500)
        raw = params.get("limit", str(default))
        if not raw.isdigit() or not 1 <= int(raw) <= most:
            return json_response(200, bw.rest_body({}, now, 10001, "params error: limit invalid"))
        rows = [
            {"execId": str(s.trade_id), "symbol": sym, "price": self.number(s.trade.price),
             "size": self.number(s.trade.qty), "side": "Sell" if s.trade.buyer_is_maker else "Buy",
             "time": str(s.trade.trade_time), "isBlockTrade": False, "isRPITrade": False}
            for s in reversed(self.trade_history.latest(sym, int(raw)))
        ]
        return json_response(200, bw.rest_body({"category": self.category, "list": rows}, now))

    def instruments_info(self, specs: list[SymbolSpec]) -> dict:
        return bw.instruments_info(specs)

    # -- WebSocket routing ---------------------------------------------------------------------------------------
    def route_ws(self, path: str) -> bool | Response:
        if urlsplit(path).path != self.ws_path:
            return json_response(404, {"retCode": 404, "retMsg": "Not Found"})
        return True

    def new_session(self, ws: ServerConnection, route: object) -> BybitSession:
        return BybitSession(ws, self.faults, self.send_queue, self)
