"""``DeribitSim``: a deterministic Deribit (JSON-RPC 2.0 API v2) on loopback: perpetuals, dated futures and
options, with faults on demand.

Clients connect to ``sim.ws_url`` (``ws://host:port/ws/api/v2``) and call ``public/subscribe`` /
``public/unsubscribe`` (answered with the channels done; unknown ones are left out), ``public/set_heartbeat``
(Deribit's least interval is 10 s; ``min_heartbeat`` lowers it for tests) and ``public/test``. After
``set_heartbeat`` the server sends a ``test_request`` heartbeat every interval and closes a client that has not
answered the previous one with ``public/test``. Channels: ``book.<inst>.<interval>`` (a snapshot on subscribe,
then changes chained by ``prev_change_id``; the market's update ids serve as ``change_id``: increasing, not
contiguous, like Deribit's), ``trades.<inst>.<interval>`` and ``ticker.<inst>.<interval>`` (funding for perpetuals,
open interest, and for options Black-76 marks, IVs and greeks on a seeded smile around the index). REST serves
``/api/v2/public/get_instruments``.

The index follows the fair price every simulator with the same seed shares; each instrument's book is a
:class:`~livefeed.sim.market.MarketSim` of its own, sized by the shared book shape rather than Deribit's contract
units (USD for perpetuals and futures, coins for options). An option's book starts at its Black-76 price and then
moves with the index; its ticker's bid and ask IVs are implied from that book.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

from ..naming import Instrument, Kind, parse_instrument
from ..venues.deribit import venue_symbol
from . import deribit_wire as wire
from .base import SimSession, json_response
from .fair import FairPrice
from .faults import Faults
from .market import MarketSim, Step
from .specs import SymbolSpec, spec_for
from .venue import VenueSim

__all__ = ["DeribitSim", "DeribitSession", "quarterly_expiries"]

_PERPETUAL_EXPIRY_MS = 32_503_708_800_000  # what Deribit lists for a perpetual (the year 3000)
_EXPIRY_HOUR = 8  # Deribit's expiries are at 08:00 UTC
_INTERVALS = ("raw", "100ms", "agg2")
_LISTED_SINCE_MS = 1_534_242_287_000


def quarterly_expiries(today: dt.date, n: int = 2) -> list[dt.date]:
    """The next ``n`` quarterly expiries after ``today`` (last Fridays of March, June, September, December)."""
    found: list[dt.date] = []
    year, month = today.year, today.month
    while len(found) < n:
        if month % 3 == 0:
            last = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
            friday = last - dt.timedelta(days=(last.weekday() - 4) % 7)
            if friday > today:
                found.append(friday)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def _default_symbols() -> tuple[str, ...]:
    expiry = quarterly_expiries(dt.datetime.now(dt.UTC).date())[0].strftime("%Y%m%d")
    return ("BTC-USD-PERP", "ETH-USD-PERP", f"BTC-USD-{expiry}",
            *(f"BTC-USD-{expiry}-{strike}-{right}" for strike in (55000, 60000, 65000) for right in ("C", "P")))


class DeribitSession(SimSession):
    """One client: its subscribed channels, its heartbeat and the ``test_request`` it owes an answer to."""

    def __init__(self, ws: ServerConnection, faults: Faults, queue_size: int, server: DeribitSim) -> None:
        super().__init__(ws, faults, queue_size)
        self.server = server
        self.channels: set[str] = set()
        self.methods: Counter[str] = Counter()
        """Requests received, by method (``public/subscribe``: 2)."""
        self.heartbeat_interval: float | None = None
        self.test_requests_sent = 0
        self.tests_received = 0
        self._owed = False
        self._beat: asyncio.Task[None] | None = None

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            if self._beat is not None:
                self._beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._beat

    def handle(self, message: str | bytes) -> None:
        try:
            request = orjson.loads(message)
        except orjson.JSONDecodeError:
            self._reply(wire.error(None, -32700, "Parse error"))
            return
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            self._reply(wire.error(None, -32600, "Invalid Request"))
            return
        request_id, method, params = request.get("id"), request["method"], request.get("params") or {}
        self.methods[method] += 1
        if method in ("public/subscribe", "public/unsubscribe"):
            channels = params.get("channels") if isinstance(params, dict) else None
            if not isinstance(channels, list) or not channels:
                self._reply(wire.error(request_id, -32602, "Invalid params"))
                return
            self._subscription(method == "public/subscribe", channels, request_id)
        elif method == "public/set_heartbeat":
            interval = params.get("interval") if isinstance(params, dict) else None
            if not isinstance(interval, int | float) or interval < self.server.min_heartbeat:
                self._reply(wire.error(request_id, -32602, "Invalid params"))
                return
            self.heartbeat_interval = float(interval)
            self._reply(wire.response(request_id, "ok"))
            if self._beat is None:
                self._beat = asyncio.get_running_loop().create_task(self._heartbeats())
        elif method == "public/test":
            self.tests_received += 1
            self._owed = False
            self._reply(wire.response(request_id, {"version": "1.2.26"}))
        else:
            self._reply(wire.error(request_id, -32601, "Method not found"))

    def _subscription(self, subscribe: bool, channels: list[Any], request_id: object) -> None:
        done = [c for c in channels if isinstance(c, str) and self.server.channel_known(c)]
        if subscribe:
            self.channels.update(done)
        else:
            self.channels.difference_update(done)
        self._reply(wire.response(request_id, done))
        if subscribe:
            for channel in done:
                if channel.startswith("book."):
                    self.push(self.server.snapshot_frame(channel))
            self.server.session_subscribed(self)

    async def _heartbeats(self) -> None:
        """Every interval: close the client if it still owes an answer, else ask for one."""
        while self.open and self.heartbeat_interval is not None:
            await asyncio.sleep(self.heartbeat_interval)
            if self._owed:
                self.server.faults.counts["heartbeat_close"] += 1
                self.close(1000, "heartbeat test_request not answered")
                return
            self._owed = True
            self.test_requests_sent += 1
            self._reply(wire.heartbeat("test_request"))

    def _reply(self, body: dict) -> None:
        self.push(orjson.dumps(body))


class DeribitSim(VenueSim):
    """Simulated Deribit: ``async with DeribitSim(["BTC-USD-PERP"]) as sim: Feed(["deribit:BTC-USD-PERP"],
    endpoints={"deribit": sim})``.

    Symbols are canonical instrument names; a spot pair stands for its base's perpetual (so ``livefeed sim
    BTC-USDT`` gives every venue a BTC market). Faults beyond the shared ones: ``skip_updates(n)`` withholds the next
    ``n`` book changes of every instrument (clients see a ``prev_change_id`` break).
    """

    sessions: list[DeribitSession]  # type: ignore[assignment]

    venue = "deribit"
    default_symbols = _default_symbols()
    default_levels = 50

    def __init__(self, symbols: Iterable[str] | None = None, *, min_heartbeat: float = 10.0, **kwargs: Any) -> None:
        super().__init__((), **kwargs)  # the instruments are built below: each has its own grid and name
        self.min_heartbeat = min_heartbeat
        self.faults.counts["heartbeat_close"] = 0
        opened_ms = self._opened_ms = self.opened_ms
        self._fair = {base: FairPrice(self.seed, base) for base in ("BTC", "ETH")}
        self._smiles: dict[str, wire.Smile] = {}
        self.instruments: dict[str, Instrument] = {}
        """Deribit name -> the instrument."""
        self.names: dict[str, str] = {}
        """Canonical symbol -> Deribit name."""
        self.expiry_ms: dict[str, int] = {}
        for symbol in self.default_symbols if symbols is None else symbols:
            instrument = _instrument(symbol)
            name = venue_symbol(str(instrument))
            if name in self.instruments:
                continue
            self.instruments[name], self.names[str(instrument)] = instrument, name
            self.expiry_ms[name] = _expiry_ms(instrument)
            spec = self._spec(instrument, name, opened_ms)
            self.markets[name] = MarketSim(spec, self.seed, self.levels, self.max_changes, self.trade_prob,
                                           venue=f"deribit:{name}", start_ms=opened_ms)
        self._change = {name: m.last_update_id for name, m in self.markets.items()}
        self._trade_seq = dict.fromkeys(self.markets, 0)
        self._skip = dict.fromkeys(self.markets, 0)

    # -- instruments ---------------------------------------------------------------------------------------------
    def index_price(self, base: str, t_ms: int) -> float:
        """The index of ``base`` at ``t_ms``: the shared fair price (BTC and ETH at their usual start prices)."""
        fair = self._fair.get(base) or self._fair.setdefault(base, FairPrice(self.seed, base))
        return spec_for(f"{base}-USD").start_price * math.exp(fair.log_offset(t_ms))

    def smile(self, base: str) -> wire.Smile:
        return self._smiles.get(base) or self._smiles.setdefault(base, wire.Smile.seeded(self.seed, base))

    def _spec(self, instrument: Instrument, name: str, t_ms: int) -> SymbolSpec:
        base, quote = instrument.base, instrument.quote
        if instrument.kind is Kind.OPTION:
            mark = self.option_greeks(name, t_ms)[0].price / self.index_price(base, t_ms)
            return SymbolSpec(base, quote, price_decimals=4, qty_decimals=1, tick=0.0001,
                              start_price=max(mark, 0.002), wire_decimals=4)
        start = spec_for(f"{base}-USD").start_price
        decimals, tick = (1, 0.5) if start >= 10_000 else (2, 0.05)
        return SymbolSpec(base, quote, price_decimals=decimals, qty_decimals=3, tick=tick, start_price=start,
                          wire_decimals=decimals)

    def option_greeks(self, name: str, t_ms: int) -> tuple[wire.Greeks, float, float]:
        """An option's Black-76 price (USD) and greeks at ``t_ms``, its smile IV and the forward (the index)."""
        instrument = self.instruments[name]
        forward = self.index_price(instrument.base, t_ms)
        strike = instrument.strike or forward
        vol = self.smile(instrument.base).iv(strike, forward)
        years = wire.years_to(self.expiry_ms[name], t_ms)
        return wire.black76(forward, strike, years, vol, instrument.right or "C"), vol, forward

    def channel_known(self, channel: str) -> bool:
        kind, _, rest = channel.partition(".")
        name, _, interval = rest.rpartition(".")
        return kind in ("book", "trades", "ticker") and name in self.markets and interval in _INTERVALS

    # -- truth for tests -----------------------------------------------------------------------------------------
    def market(self, symbol: str) -> MarketSim:
        name = self.names.get(str(parse_instrument(symbol)))
        if name is None:
            raise KeyError(f"{symbol!r} is not simulated; known: {', '.join(self.names)}")
        return self.markets[name]

    def true_book(self, symbol: str) -> dict[str, dict[float, float]]:
        return self.market(symbol).true_book()

    def last_change_id(self, symbol: str) -> int:
        """The ``change_id`` of the last book message for ``symbol`` (sent or withheld)."""
        return self._change[self.names[str(parse_instrument(symbol))]]

    # -- faults --------------------------------------------------------------------------------------------------
    def skip_updates(self, n: int = 1) -> None:
        """The next ``n`` book changes of every instrument are never sent: clients see a ``prev_change_id`` break."""
        for name in self._skip:
            self._skip[name] += n

    # -- frames --------------------------------------------------------------------------------------------------
    def snapshot_frame(self, channel: str) -> bytes:
        name = channel.partition(".")[2].rpartition(".")[0]
        snap = self.markets[name].snapshot(10_000)
        data = wire.book_data(name, True, self._event_time(), self._change[name], None, snap["bids"], snap["asks"])
        return orjson.dumps(wire.notification(channel, data))

    def _tick(self) -> None:
        self._steps += 1
        ts = self._event_time()
        for name, market in self.markets.items():
            self._publish(name, market, market.step(ts), ts)

    def _publish(self, name: str, market: MarketSim, step: Step, ts: int) -> None:
        """Trades, then the book change, then the ticker: one step's notifications in Deribit's shapes."""
        instrument = self.instruments[name]
        index = self.index_price(instrument.base, ts)
        bid, ask = market.best_bid_ask()
        mark = (bid + ask) / 2
        if step.trades:
            items = []
            for t in step.trades:
                self._trade_seq[name] += 1
                items.append(wire.trade_item(name, t.trade_id, self._trade_seq[name], t.price, t.qty,
                                             t.buyer_is_maker, ts, mark, index))
            self._broadcast("trades", name, lambda: items)
        prev, self._change[name] = self._change[name], step.last_id
        if self._skip[name] > 0:
            self._skip[name] -= 1
            self.faults.counts["skip_updates"] += 1
        else:
            self._broadcast("book", name, lambda: wire.book_data(name, False, ts, step.last_id, prev,
                                                                 step.bid_changes, step.ask_changes))
        self._broadcast("ticker", name, lambda: self._ticker(name, instrument, market, ts, index))

    def _ticker(self, name: str, instrument: Instrument, market: MarketSim, ts: int, index: float) -> dict:
        snap = market.snapshot(1)
        (bid, bid_size), (ask, ask_size) = snap["bids"][0], snap["asks"][0]
        bid_f, ask_f = float(bid), float(ask)
        data: dict[str, object] = {
            "instrument_name": name, "timestamp": ts, "state": "open", "index_price": round(index, 2),
            "best_bid_price": bid_f, "best_bid_amount": float(bid_size), "best_ask_price": ask_f,
            "best_ask_amount": float(ask_size), "open_interest": float(1_000 + 10 * (self._steps // 50 % 97)),
            "stats": {"volume": 0.0, "price_change": 0.0, "low": bid_f, "high": ask_f},
        }
        if instrument.kind is Kind.OPTION:
            greeks, vol, forward = self.option_greeks(name, ts)
            years = wire.years_to(self.expiry_ms[name], ts)
            right, strike = instrument.right or "C", instrument.strike or forward
            bid_iv = wire.implied_vol(bid_f * forward, forward, strike, years, right)
            ask_iv = wire.implied_vol(ask_f * forward, forward, strike, years, right)
            data.update({
                "mark_price": round(greeks.price / forward, 4), "mark_iv": round(vol * 100, 2),
                "bid_iv": round((bid_iv or 0.0) * 100, 2), "ask_iv": round((ask_iv or 0.0) * 100, 2),
                "underlying_price": round(forward, 2), "underlying_index": f"{instrument.base}-USD",
                "interest_rate": 0.0,
                "greeks": {"delta": round(greeks.delta, 5), "gamma": round(greeks.gamma, 7),
                           "vega": round(greeks.vega, 5), "theta": round(greeks.theta, 5), "rho": 0.0},
            })
            return data
        mark = round((bid_f + ask_f) / 2, 2)
        data["mark_price"] = mark
        if instrument.kind is Kind.PERP:
            data["current_funding"] = round(max(-0.005, min(0.005, (mark - index) / index)), 8)
            data["funding_8h"] = round(0.0001 + 0.00005 * math.sin(ts / 3_600_000), 8)
        return data

    def _broadcast(self, kind: str, name: str, build: Callable[[], object]) -> None:
        """``build()`` the data once, encode it per channel and queue it to every subscriber; while stalled the
        frame is lost, as in an outage."""
        targets: dict[str, list[DeribitSession]] = {}
        for session in self.sessions:
            if not session.open:
                continue
            for channel in session.channels:
                if channel.startswith(f"{kind}.{name}."):
                    targets.setdefault(channel, []).append(session)
        if not targets:
            return
        if self.faults.stalled:
            self.faults.counts["stall"] += sum(len(s) for s in targets.values())
            return
        data = build()
        for channel, sessions in targets.items():
            payload = orjson.dumps(wire.notification(channel, data))
            for session in sessions:
                session.push(payload)

    # -- routing and REST ----------------------------------------------------------------------------------------
    def route_ws(self, path: str) -> bool | Response:
        if urlsplit(path).path != wire.WS_PATH:
            return json_response(404, {"message": "Not Found"})
        return True

    def new_session(self, ws: ServerConnection, route: Any) -> DeribitSession:
        return DeribitSession(ws, self.faults, self.send_queue, self)

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{wire.WS_PATH}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}{wire.REST_PREFIX}"

    def handle_rest(self, path: str, params: dict[str, str]) -> Response:
        if path == f"{wire.REST_PREFIX}/public/get_instruments":
            return self._instruments(params)
        return json_response(404, {"message": "Not Found"})

    def _instruments(self, params: dict[str, str]) -> Response:
        currency, kind = params.get("currency", ""), params.get("kind")
        if not currency:
            return json_response(400, wire.error(None, -32602, "Invalid params"))
        entries = []
        for name, instrument in self.instruments.items():
            settlement = instrument.base if instrument.quote == "USD" else instrument.quote
            deribit_kind = "option" if instrument.kind is Kind.OPTION else "future"
            if currency.lower() not in ("any", settlement.lower()) or kind not in (None, deribit_kind):
                continue
            tick = self.markets[name].spec.tick
            entries.append(wire.instrument_entry(name, instrument, self.expiry_ms[name], tick, _LISTED_SINCE_MS))
        return json_response(200, wire.response(None, entries))


def _instrument(symbol: str) -> Instrument:
    instrument = parse_instrument(symbol)
    if instrument.kind is Kind.SPOT:  # a spot pair names its base's perpetual
        return Instrument(instrument.base, "USD", Kind.PERP)
    return instrument


def _expiry_ms(instrument: Instrument) -> int:
    if instrument.expiry is None:
        return _PERPETUAL_EXPIRY_MS
    moment = dt.datetime.combine(instrument.expiry, dt.time(_EXPIRY_HOUR), tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)
