"""``BybitLinearSim``: Bybit v5 public linear (USDT perpetuals) on loopback, the spot simulator's protocol and faults
on ``/v5/public/linear`` with linear's topics.

Books (``orderbook.{1,50,200,1000}``) and trades work as on spot, with linear's number printing: prices and sizes
keep the grid's decimals (``"65114.20"``, ``"5.954"``). ``tickers.{symbol}`` sends a ``snapshot`` of every field to
each new subscriber, then ``delta`` pushes carrying ``symbol`` and only the fields that changed (top of book, mark,
index, funding rate and next funding time, open interest), stamped with the cross sequence ``cs``.
``allLiquidation.{symbol}`` pushes the forced orders of :class:`~livefeed.sim.perp_state.PerpState`. Faults beyond the
spot ones: :meth:`BybitLinearSim.roll_funding` (funding settles now) and :meth:`BybitLinearSim.liquidate`.
``BTC-USDT-PERP`` (or ``BTC-USDT``) is served as ``BTCUSDT``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from . import bybit_wire as bw
from .bybit import BybitSession, BybitSim
from .market import MarketSim, spec_for
from .perp_state import PerpState
from .specs import SymbolSpec

__all__ = ["BybitLinearSim", "LINEAR_WS_PATH"]

LINEAR_WS_PATH = "/v5/public/linear"


def _pair(symbol: str) -> str:
    text = symbol.strip().upper().replace("/", "-").replace("_", "-")
    return text[: -len("-PERP")] if text.endswith("-PERP") else text


class BybitLinearSim(BybitSim):
    """Simulated Bybit linear: ``Feed(["bybit:BTC-USDT-PERP"], endpoints={"bybit-linear": sim})``."""

    venue = "bybit-linear"
    ws_path = LINEAR_WS_PATH
    category = "linear"
    book_depths = bw.LINEAR_BOOK_DEPTHS
    default_symbols = ("BTC-USDT-PERP", "ETH-USDT-PERP")

    @staticmethod
    def number(text: str) -> str:
        return text  # linear keeps the grid's decimals

    def market_spec(self, symbol: str) -> SymbolSpec:
        return dataclasses.replace(spec_for(_pair(symbol)), wire_decimals=0)

    def parse_topic(self, name: str) -> bw.Topic | None:
        return bw.parse_linear_topic(name)

    def __init__(self, symbols: Iterable[str] | None = None, *, liquidation_prob: float = 0.05,
                 **kwargs: Any) -> None:
        super().__init__(symbols, **kwargs)
        self.perps = {sym: PerpState(m, self.seed, self.venue, liquidation_prob=liquidation_prob)
                      for sym, m in self.by_venue.items()}
        self.tickers: dict[str, dict[str, str]] = {}
        now = self._event_time()
        for sym in self.by_venue:
            self.tickers[sym] = self._ticker_fields(sym, now)
        self.faults.counts.update({"funding_roll": 0, "liquidation": 0})

    # -- truth for tests -----------------------------------------------------------------------------------------
    def market(self, symbol: str) -> MarketSim:
        return super().market(_pair(symbol))

    def perp(self, symbol: str) -> PerpState:
        return self.perps[self.market(symbol).spec.venue_symbol]

    def ticker(self, symbol: str) -> dict[str, str]:
        """The merged ticker a perfect client holds now (every field, as strings)."""
        return dict(self.tickers[self.market(symbol).spec.venue_symbol])

    # -- faults --------------------------------------------------------------------------------------------------
    def roll_funding(self) -> None:
        """Funding settles now on every symbol: a new rate and next funding time, pushed as a ticker delta."""
        ts = self._event_time()
        for sym, perp in self.perps.items():
            perp.roll_funding()
            self.faults.counts["funding_roll"] += 1
            self._publish_ticker(sym, ts)

    def liquidate(self, symbol: str, side: str = "sell") -> None:
        """One forced order now on ``symbol`` (``side`` of the order: ``sell`` liquidates a long)."""
        sym = self.market(symbol).spec.venue_symbol
        ts = self._event_time()
        self._publish_liquidation(sym, self.perps[sym].force_order(ts, side), ts)

    # -- the clock -----------------------------------------------------------------------------------------------
    def _tick(self) -> None:
        self._steps += 1
        ts = self._event_time()
        for sym, market in self.by_venue.items():
            step = market.step(ts)
            if step.trades:
                self._broadcast(f"publicTrade.{sym}", lambda s=step, m=market, n=sym: bw.trade_message(
                    n, s.event_time, s.trades, m.spec, self.number))
            self._publish_books(sym, market, ts)
            change = self.perps[sym].step(step, ts)
            if change.funding:
                self.faults.counts["funding_roll"] += 1
            if change.liquidation is not None:
                self._publish_liquidation(sym, change.liquidation, ts)
            self._publish_ticker(sym, ts)

    def _ticker_fields(self, sym: str, now_ms: int) -> dict[str, str]:
        perp = self.perps[sym]
        view = self.views[(sym, 1)]
        (bid, bid_size), (ask, ask_size) = view.levels()[0][0], view.levels()[1][0]
        return {
            "markPrice": perp.mark, "indexPrice": perp.index, "openInterest": perp.open_interest,
            "openInterestValue": perp.open_interest_value, "nextFundingTime": str(perp.next_funding(now_ms)),
            "fundingRate": perp.funding_rate_str, "bid1Price": bid, "bid1Size": bid_size, "ask1Price": ask,
            "ask1Size": ask_size,
        }

    def _publish_ticker(self, sym: str, ts: int) -> None:
        fields = self._ticker_fields(sym, ts)
        old = self.tickers[sym]
        changed = {k: v for k, v in fields.items() if old.get(k) != v}
        if not changed:
            return
        self.tickers[sym] = fields
        cs = self.by_venue[sym].last_update_id
        self._broadcast(f"tickers.{sym}", lambda: bw.ticker_message(sym, "delta", changed, cs, ts))

    def _publish_liquidation(self, sym: str, order: Any, ts: int) -> None:
        self.faults.counts["liquidation"] += 1
        position = "Buy" if order.side == "sell" else "Sell"  # a sell closes a long (Buy) position
        self._broadcast(f"allLiquidation.{sym}", lambda: bw.liquidation_message(
            sym, ts, order.time_ms, position, order.size, order.price))

    def subscribed(self, session: BybitSession, topics: list[bw.Topic]) -> None:
        """Right after the ack: a snapshot of each new book and ticker topic, to that client only."""
        ts = self._event_time()
        for topic in topics:
            if topic.kind == "tickers":
                fields = self.tickers[topic.symbol]
                cs = self.by_venue[topic.symbol].last_update_id
                self._broadcast(topic.name, lambda f=fields, t=topic, c=cs: bw.ticker_message(
                    t.symbol, "snapshot", dict(f), c, ts), session)
        super().subscribed(session, topics)

    def instruments_info(self, specs: list[SymbolSpec]) -> dict:
        return bw.linear_instruments_info(specs)
