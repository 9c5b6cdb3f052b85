"""``KrakenSim``: a deterministic Kraken spot WebSocket v2 exchange on loopback, with faults on demand.

It speaks v2 on ``/v2`` (status on connect, one ack per symbol, ``book`` snapshots and updates with CRC32
checksums, ``trade``, ``ticker``, ``instrument``, heartbeats, app-level ping/pong) and REST
``/0/public/AssetPairs`` on the same port. Each book subscription sees the top-``depth`` view of the seeded
``MarketSim``: updates carry what changed inside that view, levels pushed out of scope are not deleted (the
client truncates, as Kraken requires), and levels that move into scope are sent as inserts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

from . import kraken_wire as kw
from .base import SimSession, json_response
from .faults import Faults
from .market import MarketSim, Step
from .specs import SymbolSpec
from .trade_history import TradeHistory
from .venue import VenueSim

__all__ = ["KrakenSim", "KrakenSession", "BOOK_DEPTHS"]

BOOK_DEPTHS = (10, 25, 100, 500, 1000)
Levels = list[tuple[str, str]]
View = tuple[Levels, Levels]  # (bids best first, asks best first) as wire strings


class KrakenSession(SimSession):
    """One v2 client: its subscriptions and the replies to its requests."""

    def __init__(self, ws: ServerConnection, faults: Faults, queue_size: int, server: KrakenSim) -> None:
        super().__init__(ws, faults, queue_size)
        self.server = server
        self.books: dict[str, int] = {}  # pair -> depth
        self.trades: set[str] = set()
        self.tickers: dict[str, str] = {}  # pair -> event_trigger
        self.instrument = False
        self.active = False  # sent channel data since the last heartbeat check

    @property
    def subscribed(self) -> bool:
        return bool(self.books or self.trades or self.tickers or self.instrument)

    def send_data(self, frame: bytes) -> None:
        self.active = True
        self.push(frame)

    def handle(self, message: str | bytes) -> None:
        time_in = kw.iso_time()
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError:
            self.push(kw.error_ack(None, "Malformed request", None, time_in))
            return
        if not isinstance(request, dict):
            self.push(kw.error_ack(None, "Malformed request", None, time_in))
            return
        method, req_id = request.get("method"), request.get("req_id")
        params = request.get("params") or {}
        channel = params.get("channel") if isinstance(params, dict) else None
        self.server.requests[f"{method}:{channel}" if channel else str(method)] += 1
        if method == "ping":
            self.push(kw.pong(req_id, time_in))
        elif method in ("subscribe", "unsubscribe") and isinstance(params, dict):
            self.server.on_request(self, method, params, req_id, time_in)
        elif method in ("subscribe", "unsubscribe"):
            self.push(kw.error_ack(method, "Invalid params", req_id, time_in))
        else:
            self.push(kw.error_ack(method, "Method not found", req_id, time_in))


class KrakenSim(VenueSim):
    """Simulated Kraken spot v2: ``async with KrakenSim() as sim: Feed([...], endpoints={"kraken": sim})``.

    With ``autostep`` one task steps every symbol each ``interval`` s; without it ``await sim.step(n)`` drives
    the market by hand. ``true_book(symbol, depth)`` is the top-``depth`` view a correct client holds.
    """

    sessions: list[KrakenSession]  # type: ignore[assignment]

    venue = "kraken"
    default_symbols = ("BTC-USD", "ETH-USD")

    def market_spec(self, symbol: str) -> SymbolSpec:
        return kw.kraken_spec(symbol)

    def market_key(self, spec: SymbolSpec) -> str:
        return kw.pair_name(spec)

    def __init__(self, symbols: Iterable[str] | None = None, *, heartbeat_interval: float = 1.0,
                 **kwargs: Any) -> None:
        super().__init__(symbols, **kwargs)
        self.heartbeat_interval = heartbeat_interval
        self._views: dict[tuple[str, int], View] = {}
        self._skip = dict.fromkeys(self.markets, 0)
        self._corrupt = dict.fromkeys(self.markets, 0)
        self.faults.counts.setdefault("corrupt_checksum", 0)
        self._stats: dict[str, dict[str, Any]] = {pair: {} for pair in self.markets}
        self.trade_history = TradeHistory(self.markets)
        """Every trade printed with the time the ``trade`` channel showed, for ``/0/public/Trades``."""
        self._tasks: list[asyncio.Task[None]] = []
        self._connection_ids = 10**19 // 7 + self.seed
        self.requests: Counter[str] = Counter()
        """Client requests by ``method`` or ``method:channel`` (``ping``, ``unsubscribe:book``), for tests."""
        self.book_updates_sent: dict[str, int] = dict.fromkeys(self.markets, 0)
        """Book updates fanned out per pair (after skips), so tests can await progress."""

    # -- lifecycle -----------------------------------------------------------------------------------------------
    async def start(self) -> None:
        await super().start()
        if not self._tasks:
            self._tasks.append(asyncio.get_running_loop().create_task(self._run_heartbeats()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await super().stop()

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/v2"

    # -- market control ------------------------------------------------------------------------------------------
    def skip_updates(self, n: int = 1) -> None:
        """The next ``n`` book updates of every pair are never sent: clients' checksums stop matching."""
        for pair in self._skip:
            self._skip[pair] += n

    def corrupt_checksum(self, n: int = 1) -> None:
        """The next ``n`` book updates of every pair carry a wrong checksum (the levels are right)."""
        for pair in self._corrupt:
            self._corrupt[pair] += n

    # -- truth for tests -----------------------------------------------------------------------------------------
    def market(self, symbol: str) -> MarketSim:
        pair = symbol.upper().replace("-", "/")
        if pair not in self.markets:
            raise KeyError(f"{symbol!r} is not simulated; known: {', '.join(self.markets)}")
        return self.markets[pair]

    def true_book(self, symbol: str, depth: int = 10) -> dict[str, dict[float, float]]:
        """The top-``depth`` book as floats parsed from the wire strings (what a correct client holds)."""
        bids, asks = self._view(self.market(symbol), depth)
        return {"bids": {float(p): float(q) for p, q in bids}, "asks": {float(p): float(q) for p, q in asks}}

    # -- requests ------------------------------------------------------------------------------------------------
    def on_request(self, session: KrakenSession, method: str, params: dict[str, Any], req_id: object,
                   time_in: str) -> None:
        channel = params.get("channel")
        if channel == "instrument":
            session.instrument = method == "subscribe"
            session.push(kw.ack(method, {"channel": "instrument", "snapshot": True}, req_id, time_in))
            if session.instrument and params.get("snapshot", True):
                session.send_data(kw.instrument_snapshot(m.spec for m in self.markets.values()))
            return
        if channel not in ("book", "trade", "ticker"):
            session.push(kw.error_ack(method, f"Channel {channel} not supported", req_id, time_in))
            return
        symbols = params.get("symbol")
        if not isinstance(symbols, list) or not symbols:
            session.push(kw.error_ack(method, "Missing field `symbol`", req_id, time_in))
            return
        depth = params.get("depth", 10)
        if channel == "book" and depth not in BOOK_DEPTHS:
            session.push(kw.error_ack(method, f"Invalid depth {depth}", req_id, time_in))
            return
        for pair in symbols:
            if pair not in self.markets:
                session.push(kw.error_ack(method, f"Currency pair not supported {pair}", req_id, time_in, pair))
            elif method == "subscribe":
                self._subscribe(session, channel, pair, params, req_id, time_in)
            else:
                self._unsubscribe(session, channel, pair, req_id, time_in)

    def _subscribe(self, session: KrakenSession, channel: str, pair: str, params: dict[str, Any],
                   req_id: object, time_in: str) -> None:
        snapshot = bool(params.get("snapshot", channel != "trade"))
        if channel == "book":
            depth = params.get("depth", 10)
            if pair in session.books:
                session.push(kw.error_ack("subscribe", "Already subscribed", req_id, time_in, pair))
                return
            session.books[pair] = depth
            session.push(kw.ack("subscribe", {"channel": "book", "depth": depth, "snapshot": snapshot,
                                              "symbol": pair}, req_id, time_in))
            bids, asks = self._views.setdefault((pair, depth), self._view(self.markets[pair], depth))
            if snapshot:
                session.send_data(kw.book_message("snapshot", pair, bids, asks, kw.checksum(asks, bids),
                                                  time.time_ns()))
        elif channel == "trade":
            session.trades.add(pair)
            session.push(kw.ack("subscribe", {"channel": "trade", "snapshot": snapshot, "symbol": pair},
                                req_id, time_in))
        else:
            trigger = params.get("event_trigger", "trades")
            session.tickers[pair] = trigger
            session.push(kw.ack("subscribe", {"channel": "ticker", "event_trigger": trigger,
                                              "snapshot": snapshot, "symbol": pair}, req_id, time_in))
            if snapshot:
                session.send_data(kw.ticker_message(pair, self._ticker_fields(pair), time.time_ns(), "snapshot"))

    def _unsubscribe(self, session: KrakenSession, channel: str, pair: str, req_id: object, time_in: str) -> None:
        subscriptions: Any = {"book": session.books, "trade": session.trades, "ticker": session.tickers}[channel]
        if pair not in subscriptions:
            session.push(kw.error_ack("unsubscribe", "Subscription Not Found", req_id, time_in, pair))
            return
        result: dict[str, Any] = {"channel": channel, "symbol": pair}
        if channel == "book":
            result["depth"] = session.books.pop(pair)
        else:
            subscriptions.discard(pair) if channel == "trade" else subscriptions.pop(pair)
        session.push(kw.ack("unsubscribe", result, req_id, time_in))

    # -- the clock -----------------------------------------------------------------------------------------------
    async def _run_heartbeats(self) -> None:
        """``{"channel":"heartbeat"}`` about once a second to subscribed clients that got no other data."""
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            for session in self.sessions:
                if session.subscribed and not session.active and session.open and not self.faults.stalled:
                    session.push(kw.HEARTBEAT)
                session.active = False

    def _tick(self) -> None:
        self._steps += 1
        event_ms = self._event_time()
        now = time.time_ns() if self.start_time_ms is None else event_ms * 1_000_000
        for pair, market in self.markets.items():
            step = market.step(event_ms)
            self._publish_trades(pair, step, now)
            self._publish_book(pair, market, now)
            self._publish_ticker(pair, step, now)

    # -- fan-out -------------------------------------------------------------------------------------------------
    def _view(self, market: MarketSim, depth: int) -> View:
        snap = market.snapshot(depth)
        return [(p, q) for p, q in snap["bids"]], [(p, q) for p, q in snap["asks"]]

    def _publish_book(self, pair: str, market: MarketSim, now: int) -> None:
        """One update per subscribed depth whose view changed; skips and corruptions count once per step."""
        depths = {s.books[pair] for s in self.sessions if pair in s.books}
        for key in [k for k in self._views if k[0] == pair and k[1] not in depths]:
            del self._views[key]
        updates = []
        for depth in sorted(depths):
            old, new = self._views.get((pair, depth)), self._view(market, depth)
            self._views[(pair, depth)] = new
            if old is not None:
                bids, asks = _diff(old[0], new[0], market, "bids"), _diff(old[1], new[1], market, "asks")
                if bids or asks:
                    updates.append((depth, bids, asks, kw.checksum(new[1], new[0])))
        if not updates:
            return
        if self._skip[pair] > 0:
            self._skip[pair] -= 1
            self.faults.counts["skip_updates"] += 1
            return
        corrupt = self._corrupt[pair] > 0
        if corrupt:
            self._corrupt[pair] -= 1
            self.faults.counts["corrupt_checksum"] += 1
        for depth, bids, asks, crc in updates:
            frame = kw.book_message("update", pair, bids, asks, crc ^ 0x5A5A5A5A if corrupt else crc, now)
            self._broadcast([s for s in self.sessions if s.books.get(pair) == depth], frame)
        self.book_updates_sent[pair] += 1

    def _publish_trades(self, pair: str, step: Step, now: int) -> None:
        if not step.trades:
            return
        stats = self._stats[pair]
        for t in step.trades:
            price, qty = float(t.price), float(t.qty)
            stats["last"] = t.price
            stats["volume"] = stats.get("volume", 0.0) + qty
            stats["notional"] = stats.get("notional", 0.0) + price * qty
            stats["low"] = min(stats.get("low", price), price)
            stats["high"] = max(stats.get("high", price), price)
            stats.setdefault("open", price)
        self.trade_history.record(pair, step.trades, now)
        rows = [("sell" if t.buyer_is_maker else "buy", t.price, t.qty, t.trade_id) for t in step.trades]
        targets = [s for s in self.sessions if pair in s.trades]
        if targets:
            self._broadcast(targets, kw.trade_message(pair, rows, now))
        targets = [s for s in self.sessions if s.tickers.get(pair) == "trades"]
        if targets:
            self._broadcast(targets, kw.ticker_message(pair, self._ticker_fields(pair), now))

    def _trades(self, params: dict[str, str]) -> Response:
        """``/0/public/Trades?pair=&since=&count=``: up to ``count`` (1000) trades after ``since`` (ns, or seconds
        below 1e12; none: the newest), oldest first, ``[price, volume, time, b/s, m/l, misc, trade_id]`` rows
        under the pair's REST name, and ``last`` (ns) to page on."""
        wanted = params.get("pair", "").upper()
        pair = next((p for p, m in self.markets.items()
                     if wanted in (kw.ws_name(m.spec), kw.ws_name(m.spec).replace("/", ""), p, p.replace("/", ""))),
                    None)
        if pair is None:
            return json_response(200, {"error": ["EQuery:Unknown asset pair"]})
        raw_since, raw_count = params.get("since", ""), params.get("count", "1000")
        if (raw_since and not raw_since.isdigit()) or not raw_count.isdigit():
            return json_response(200, {"error": ["EGeneral:Invalid arguments"]})
        count = min(max(int(raw_count), 1), 1000)
        history = self.trade_history.all(pair)
        if raw_since:
            since = int(raw_since) if int(raw_since) >= 10**12 else int(raw_since) * 10**9
            chosen = [s for s in history if s.time_ns > since][:count]
        else:
            chosen = history[-count:]
        rows = [[s.trade.price, s.trade.qty, round(s.time_ns / 1e9, 6), "s" if s.trade.buyer_is_maker else "b",
                 "m", "", s.trade_id] for s in chosen]
        last = str(chosen[-1].time_ns if chosen else (int(raw_since) if raw_since else time.time_ns()))
        name = kw.ws_name(self.markets[pair].spec).replace("/", "")
        return json_response(200, {"error": [], "result": {name: rows, "last": last}})

    def _publish_ticker(self, pair: str, step: Step, now: int) -> None:
        targets = [s for s in self.sessions if s.tickers.get(pair) == "bbo"]
        if step.tickers and targets:
            self._broadcast(targets, kw.ticker_message(pair, self._ticker_fields(pair), now))

    def _ticker_fields(self, pair: str) -> dict[str, Any]:
        market = self.markets[pair]
        snap = market.snapshot(1)
        (bid, bid_qty), (ask, ask_qty) = snap["bids"][0], snap["asks"][0]
        stats = self._stats[pair]
        last = stats.get("last", bid)
        volume = stats.get("volume", 0.0)
        opened = stats.get("open", float(last))
        return {
            "bid": bid, "bid_qty": bid_qty, "ask": ask, "ask_qty": ask_qty, "last": last,
            "volume": round(volume, market.spec.qty_decimals),
            "vwap": round(stats["notional"] / volume, market.spec.price_decimals) if volume else float(last),
            "low": stats.get("low", float(last)), "high": stats.get("high", float(last)),
            "change": round(float(last) - opened, market.spec.price_decimals),
            "change_pct": round((float(last) - opened) / opened * 100, 2),
        }

    def _broadcast(self, targets: list[KrakenSession], frame: bytes) -> None:
        """Queue to every open target; while stalled the frame is lost, as in a real outage."""
        targets = [s for s in targets if s.open]
        if not targets:
            return
        if self.faults.stalled:
            self.faults.counts["stall"] += len(targets)
            return
        for session in targets:
            session.send_data(frame)

    # -- routing and REST ----------------------------------------------------------------------------------------
    def is_rest(self, path: str) -> bool:
        return path.startswith("/0/")

    def route_ws(self, path: str) -> Any:
        if path.split("?")[0] != "/v2":
            return json_response(404, {"error": ["EGeneral:Not found"]})
        return "v2"

    def new_session(self, ws: ServerConnection, route: Any) -> KrakenSession:
        return KrakenSession(ws, self.faults, self.send_queue, self)

    def session_opened(self, session: SimSession) -> None:
        self._connection_ids += 1
        session.push(kw.status_message(self._connection_ids))

    def handle_rest(self, path: str, params: dict[str, str]) -> Response:
        if path == "/0/public/AssetPairs":
            specs = [m.spec for m in self.markets.values()]
            body = kw.asset_pairs(specs)
            if "pair" in params:
                wanted = params["pair"].upper().split(",")
                result = {k: v for k, v in body["result"].items() if k in wanted or v["wsname"] in wanted}
                if len(result) < len(wanted):
                    return json_response(200, {"error": ["EQuery:Unknown asset pair"]})
                body["result"] = result
            return json_response(200, body)
        if path == "/0/public/Trades":
            return self._trades(params)
        if path == "/0/public/Time":
            rfc1123 = time.strftime("%a, %d %b %y %H:%M:%S +0000", time.gmtime())
            return json_response(200, {"error": [], "result": {"unixtime": int(time.time()), "rfc1123": rfc1123}})
        return json_response(404, {"error": ["EGeneral:Unknown method"]})


def _diff(old: Levels, new: Levels, market: MarketSim, side: str) -> Levels:
    """What a client holding ``old`` must apply to reach ``new`` once it truncates to the depth.

    A level that left the view but still rests in the book was pushed out by an insert: Kraken sends nothing
    for it. A level that left the book is deleted with qty 0. New and resized levels are sent with their size.
    """
    before, after = dict(old), dict(new)
    gone = [p for p in before if p not in after]
    changes = []
    if gone:
        zero = market.spec.qty_str(0)
        changes = [(p, zero) for p in gone if not market.rests(side, p)]
    changes += [(p, q) for p, q in new if before.get(p) != q]
    return changes
