"""``CoinbaseSim``: a deterministic Coinbase Advanced Trade market-data feed on loopback, with faults on demand.

Adapters connect to it exactly as to ``wss://advanced-trade-ws.coinbase.com``: one channel per subscribe
message, snapshots on subscribe (level2 is the FULL book in one frame), ``subscriptions`` acks, heartbeats every
second, one ``sequence_num`` counter per connection across every channel, and the products listing over REST.
The market is the shared seeded ``MarketSim``; this module keeps the per-connection numbering and fans steps out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

from . import coinbase_wire as cw
from .base import SimSession, json_response
from .market import MarketSim, Step, SymbolSpec, spec_for
from .trade_history import TradeHistory
from .venue import VenueSim

__all__ = ["CoinbaseSim", "CoinbaseSession", "COINBASE_SPECS", "coinbase_spec"]

COINBASE_SPECS: dict[str, SymbolSpec] = {
    "BTC-USD": SymbolSpec("BTC", "USD", price_decimals=2, qty_decimals=8, tick=0.01, start_price=60000.0,
                          wire_decimals=0),
    "ETH-USD": SymbolSpec("ETH", "USD", price_decimals=2, qty_decimals=8, tick=0.01, start_price=3000.0,
                          wire_decimals=0),
}
"""BTC-USD / ETH-USD grids as listed (``quote_increment`` 0.01, ``base_increment`` 0.00000001)."""

SUBSCRIBE_WITHIN = 5.0
"""Coinbase closes a connection that has not subscribed within 5 seconds."""
MAX_MESSAGES_PER_SECOND = 8
"""Unauthenticated messages per second (coinbase-app rate-limit page; another doc copy says 750)."""
RECENT_TRADES = 50


def coinbase_spec(symbol: str) -> SymbolSpec:
    """The grid for ``symbol``; unknown pairs get the shared made-up spec, printed the Coinbase way."""
    spec = COINBASE_SPECS.get(symbol.upper())
    return spec if spec is not None else dataclasses.replace(spec_for(symbol), wire_decimals=0)


class CoinbaseSession(SimSession):
    """One client: its subscriptions by channel and its own ``sequence_num`` counter (from 0)."""

    max_messages_per_second = MAX_MESSAGES_PER_SECOND

    def __init__(self, ws: ServerConnection, sim: CoinbaseSim) -> None:
        super().__init__(ws, sim.faults, sim.send_queue)
        self.sim = sim
        self.sequence = 0
        self.subscriptions: dict[str, set[str]] = {}
        self.skip_left = 0
        self._deadline: asyncio.TimerHandle | None = None

    def follows(self, channel: str, product_id: str) -> bool:
        return product_id in self.subscriptions.get(channel, ())

    def send_event(self, channel: str, events: bytes, timestamp_ns: int | None = None) -> None:
        """Number and queue one frame; while stalled it is numbered but lost, as frames are in a real outage."""
        sequence = self.sequence
        self.sequence += 1
        if self.faults.stalled:
            self.faults.counts["stall"] += 1
            return
        self.push(cw.envelope(channel, timestamp_ns or time.time_ns(), sequence, events))

    def send_update(self, events: bytes, timestamp_ns: int) -> None:
        """An ``l2_data`` update, unless updates are being skipped (the number is still used: a gap)."""
        if self.skip_left > 0:
            self.skip_left -= 1
            self.sequence += 1
            self.faults.counts["skip_updates"] += 1
            return
        self.send_event("l2_data", events, timestamp_ns)

    async def run(self) -> None:
        within = self.sim.subscribe_within
        self._deadline = asyncio.get_running_loop().call_later(within, self._require_subscription)
        try:
            await super().run()
        finally:
            self._deadline.cancel()

    def _require_subscription(self) -> None:
        if not self.subscriptions:
            self.close(1000, "subscription timeout")  # reason text is ours; the 5 s rule is documented

    def handle(self, message: str | bytes) -> None:
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError:
            self.push(cw.error("Failure to parse request"))
            return
        problem = _request_problem(request, self.sim.markets)
        if problem:
            self.push(cw.error(problem))
            return
        channel, products = request["channel"], list(dict.fromkeys(request.get("product_ids") or []))
        if request["type"] == "unsubscribe":
            current = self.subscriptions.get(channel, set())
            current.difference_update(products if channel != "heartbeats" else current)
        else:
            self._subscribe(channel, products)
        acked = {channel: sorted(products) for channel, products in self.subscriptions.items()}
        self.send_event("subscriptions", orjson.dumps([cw.subscriptions_event(acked)]))

    def _subscribe(self, channel: str, products: list[str]) -> None:
        if channel == "heartbeats":
            self.subscriptions["heartbeats"] = {"heartbeats"}  # product_ids are ignored
            return
        current = self.subscriptions.setdefault(channel, set())
        for product in products:
            if product not in current:
                current.add(product)
                self.sim.send_snapshot(self, channel, product)


def _request_problem(request: Any, markets: dict[str, MarketSim]) -> str:
    """Why Coinbase would refuse this (un)subscribe request; '' when it is fine. Wording is ours."""
    if not isinstance(request, dict) or request.get("type") not in ("subscribe", "unsubscribe"):
        return "Failure to parse request: type must be subscribe or unsubscribe"
    channel = request.get("channel")
    if not isinstance(channel, str):
        return "Failure to parse request: channel is required (one channel per message)"
    if channel not in cw.CHANNELS:
        return f"Failure to subscribe: unknown channel {channel}"
    products = request.get("product_ids") or []
    if not isinstance(products, list):
        return "Failure to parse request: product_ids must be a list"
    if channel != "heartbeats":
        if not products:
            return f"Failure to subscribe: product_ids required for {channel}"
        unknown = [p for p in products if p not in markets]
        if unknown:
            return f"Failure to subscribe: unknown product_ids {unknown}"
    return ""


class CoinbaseSim(VenueSim):
    """Simulated Coinbase Advanced Trade: ``Feed([...], endpoints={"coinbase": sim})``.

    With ``autostep`` one task steps every product each ``interval`` s; without it ``await sim.step(n)`` drives
    the market by hand. ``levels`` per side sets the snapshot size (25,000 gives a ~5 MB frame, like the real one).
    """

    sessions: list[CoinbaseSession]  # type: ignore[assignment]

    venue = "coinbase"
    default_symbols = ("BTC-USD", "ETH-USD")

    def market_spec(self, symbol: str) -> SymbolSpec:
        return coinbase_spec(symbol)

    def __init__(self, symbols: Iterable[str] | None = None, *,
                 subscribe_within: float = SUBSCRIBE_WITHIN, **kwargs: Any) -> None:
        super().__init__(symbols, **kwargs)
        self.subscribe_within = subscribe_within
        self._recent: dict[str, deque[dict]] = {p: deque(maxlen=RECENT_TRADES) for p in self.markets}
        self.trade_history = TradeHistory(self.markets)
        """Every trade printed with the time ``market_trades`` showed, for the public ``.../ticker`` trades."""
        self._last_price = {p: m.spec.price_str(round(m.spec.start_price * 10**m.spec.price_decimals))
                            for p, m in self.markets.items()}
        self._volume = dict.fromkeys(self.markets, 0.0)
        self._per_second = max(1, round(1.0 / self.interval))
        self._beats = 0
        self._heartbeats = 0
        self._started_ns = time.time_ns()

    # -- lifecycle -----------------------------------------------------------------------------------------------
    # -- market control and faults -------------------------------------------------------------------------------
    def skip_updates(self, n: int = 1) -> None:
        """Each connection's next ``n`` level2 updates take their ``sequence_num`` but are never sent: a gap."""
        for session in self.sessions:
            session.skip_left += n

    def heartbeat(self) -> None:
        """Send one heartbeat to every subscriber now (the clock does this once a second)."""
        self._heartbeats += 1
        now = time.time_ns()
        event = orjson.dumps([cw.heartbeat_event(now, self._heartbeats, (now - self._started_ns) / 1e9)])
        for session in self._followers("heartbeats", "heartbeats"):
            session.send_event("heartbeats", event, now)

    # -- truth for tests -----------------------------------------------------------------------------------------
    def market(self, symbol: str) -> MarketSim:
        key = symbol.upper().replace("/", "-").replace("_", "-")
        if key not in self.markets:
            raise KeyError(f"{symbol!r} is not simulated; known: {', '.join(self.markets)}")
        return self.markets[key]

    def true_book(self, symbol: str) -> dict[str, dict[float, float]]:
        return self.market(symbol).true_book()

    def recent_trades(self, symbol: str) -> list[dict]:
        """The last trades as sent on ``market_trades`` (newest first, maker side), for checking clients."""
        return list(self._recent[self.market(symbol).spec.canonical])

    # -- the clock -----------------------------------------------------------------------------------------------
    def on_beat(self) -> None:
        self._beats += 1
        if self._beats % self._per_second == 0:  # heartbeats go on while the market is paused
            self.heartbeat()

    def _tick(self) -> None:
        self._steps += 1
        event_ms = self._event_time()
        now = time.time_ns() if self.start_time_ms is None else event_ms * 1_000_000
        for product, market in self.markets.items():
            self._publish(product, market.step(event_ms), now)

    # -- fan-out -------------------------------------------------------------------------------------------------
    def _followers(self, channel: str, product: str) -> list[CoinbaseSession]:
        return [s for s in self.sessions if s.open and s.follows(channel, product)]

    def _publish(self, product: str, step: Step, now: int) -> None:
        """One step as Coinbase would send it: the level2 update, then the trades, then the new top of book."""
        followers = self._followers("level2", product)
        if followers and (step.bid_changes or step.ask_changes):
            event = orjson.dumps([cw.l2_event("update", product, step.bid_changes, step.ask_changes, now)])
            for session in followers:
                session.send_update(event, now)
        if step.trades:
            trades = [cw.trade(product, t, now) for t in reversed(step.trades)]  # newest first, as Coinbase
            self._recent[product].extendleft(reversed(trades))
            self.trade_history.record(product, step.trades, now)
            self._last_price[product] = step.trades[-1].price
            self._volume[product] += sum(float(t.qty) for t in step.trades)
            event = orjson.dumps([cw.trades_event("update", trades)])
            for session in self._followers("market_trades", product):
                session.send_event("market_trades", event, now)
        if step.tickers:
            event = orjson.dumps([self._ticker("update", product)])
            for session in self._followers("ticker", product):
                session.send_event("ticker", event, now)

    def _ticker(self, kind: str, product: str) -> dict:
        top = self.market(product).snapshot(1)
        (bid, bid_qty), (ask, ask_qty) = top["bids"][0], top["asks"][0]
        volume = cw.number(f"{self._volume[product]:.8f}")
        return cw.ticker_event(kind, product, self._last_price[product], (bid, bid_qty, ask, ask_qty), volume)

    def _market_trades(self, product: str, params: dict[str, str]) -> Response:
        """``GET /api/v3/brokerage/market/products/{id}/ticker``: the newest ``limit`` trades (newest first) in
        ``[start, end)`` (UNIX seconds), with the best bid and ask, as Coinbase's public market endpoint."""
        if product not in self.markets:
            return json_response(404, {"error": "NOT_FOUND", "message": "product not found"})
        numbers = {k: params[k] for k in ("limit", "start", "end") if params.get(k)}
        if "limit" not in numbers or any(not v.isdigit() for v in numbers.values()):
            return json_response(400, {"error": "INVALID_ARGUMENT", "message": "limit is required"})
        limit = min(int(numbers["limit"]), 1000)
        start = int(numbers.get("start", "0")) * 10**9
        end = int(numbers["end"]) * 10**9 if "end" in numbers else None
        chosen = [s for s in self.trade_history.all(product)
                  if s.time_ns >= start and (end is None or s.time_ns < end)][-limit:]
        top = self.market(product).snapshot(1)
        return json_response(200, {
            "trades": [cw.trade(product, s.trade, s.time_ns) for s in reversed(chosen)],
            "best_bid": top["bids"][0][0], "best_ask": top["asks"][0][0],
        })

    def send_snapshot(self, session: CoinbaseSession, channel: str, product: str) -> None:
        """What Coinbase sends a new subscriber first: the full book, recent trades, or the current ticker."""
        if channel == "level2":
            book = self.market(product).snapshot(10**9)
            event = cw.l2_event("snapshot", product, book["bids"], book["asks"], time.time_ns())
            session.send_event("l2_data", orjson.dumps([event]))
        elif channel == "market_trades":
            event = cw.trades_event("snapshot", list(self._recent[product]))
            session.send_event("market_trades", orjson.dumps([event]))
        elif channel == "ticker":
            session.send_event("ticker", orjson.dumps([self._ticker("snapshot", product)]))

    # -- routing and REST ----------------------------------------------------------------------------------------
    def route_ws(self, path: str) -> bool | Response:
        if path.split("?")[0] in ("", "/"):
            return True
        return json_response(404, {"error": "NOT_FOUND", "message": "Not Found"})

    def new_session(self, ws: ServerConnection, route: Any) -> CoinbaseSession:
        return CoinbaseSession(ws, self)

    def handle_rest(self, path: str, params: dict[str, str]) -> Response:
        if path == "/api/v3/brokerage/market/products":
            specs = [m.spec for m in self.markets.values()]
            return json_response(200, cw.products_body(specs, self._last_price))
        prefix, _, product = path.rpartition("/products/")
        if prefix == "/api/v3/brokerage/market" and product.endswith("/ticker"):
            return self._market_trades(product.removesuffix("/ticker"), params)
        return json_response(404, {"error": "NOT_FOUND", "message": "Not Found"})

