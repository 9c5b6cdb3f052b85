"""``OkxSwapSim``: OKX v5 public perpetual swaps on loopback, the spot simulator's protocol and faults for
``BTC-USDT-SWAP`` instruments, plus ``mark-price``, ``funding-rate``, ``open-interest`` and ``liquidation-orders``.

``books`` (snapshot on subscribe, ``prevSeqId``/``seqId`` chain, CRC32 checksum), ``trades`` and ``tickers`` are the
spot simulator's, with sizes read as contracts (``ctVal`` in the instrument listing: 0.01 BTC, 0.1 ETH, 1 of any
other base). ``mark-price``, ``funding-rate`` and ``open-interest`` push their current value to a new subscriber
at once, then ``mark-price`` whenever the mark moves, ``funding-rate`` every ``funding_every`` steps and at a roll,
``open-interest`` when it changes; ``liquidation-orders`` (subscribed by ``instType: SWAP``) carries the forced orders
of :class:`~livefeed.sim.perp_state.PerpState`. Faults beyond spot's: :meth:`OkxSwapSim.roll_funding` and
:meth:`OkxSwapSim.liquidate`. ``BTC-USDT-PERP`` (or ``BTC-USDT``) is served as ``BTC-USDT-SWAP``.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import orjson

from . import okx_wire
from .market import MarketSim, Step, spec_for
from .okx import OkxSession, OkxSim
from .perp_state import ForcedOrder, PerpState
from .specs import SymbolSpec

__all__ = ["OkxSwapSim", "CONTRACT_VALUES"]

CONTRACT_VALUES = {"BTC": "0.01", "ETH": "0.1"}
"""Base units per contract by base asset (OKX's ``ctVal`` for the USDT swaps); ``"1"`` for any other."""


def _pair(symbol: str) -> str:
    text = symbol.strip().upper().replace("/", "-").replace("_", "-")
    for suffix in ("-PERP", "-SWAP"):
        if text.endswith(suffix):
            return text[: -len(suffix)]
    return text


class OkxSwapSim(OkxSim):
    """Simulated OKX swaps: ``Feed(["okx:BTC-USDT-PERP"], endpoints={"okx-swap": sim})``."""

    venue = "okx-swap"
    inst_type = "SWAP"
    channels = okx_wire.SWAP_CHANNELS
    default_symbols = ("BTC-USDT-PERP", "ETH-USDT-PERP")

    def __init__(self, symbols: Iterable[str] | None = None, *, liquidation_prob: float = 0.05,
                 funding_every: int = 50, **kwargs: Any) -> None:
        super().__init__(symbols, **kwargs)
        self.funding_every = funding_every
        self.perps = {inst: PerpState(m, self.seed, self.venue, liquidation_prob=liquidation_prob)
                      for inst, m in self.markets.items()}
        self.faults.counts.update({"funding_roll": 0, "liquidation": 0})

    def market_spec(self, symbol: str) -> SymbolSpec:
        return spec_for(_pair(symbol))

    def market_key(self, spec: SymbolSpec) -> str:
        return f"{spec.canonical}-SWAP"

    def contract_value(self, symbol: str) -> str:
        return CONTRACT_VALUES.get(self.market(symbol).spec.base, "1")

    # -- truth for tests -----------------------------------------------------------------------------------------
    def market(self, symbol: str) -> MarketSim:
        return super().market(f"{_pair(symbol)}-SWAP")

    def perp(self, symbol: str) -> PerpState:
        return self.perps[self.market_key(self.market(symbol).spec)]

    # -- faults --------------------------------------------------------------------------------------------------
    def roll_funding(self) -> None:
        """Funding settles now on every swap: a new rate and funding time, pushed at once."""
        ts = self._event_time()
        for inst, perp in self.perps.items():
            perp.roll_funding()
            self.faults.counts["funding_roll"] += 1
            self._broadcast("funding-rate", inst, lambda i=inst: self._funding_body(i, ts))

    def liquidate(self, symbol: str, side: str = "sell") -> None:
        """One forced order now on ``symbol`` (``side`` of the order: ``sell`` liquidates a long)."""
        inst = self.market_key(self.market(symbol).spec)
        ts = self._event_time()
        self._publish_liquidation(inst, self.perps[inst].force_order(ts, side))

    # -- subscriptions -------------------------------------------------------------------------------------------
    def subscription_key(self, arg: dict) -> tuple[str, str] | None:
        if arg.get("channel") == "liquidation-orders":
            return ("liquidation-orders", "SWAP") if arg.get("instType") == "SWAP" and "instId" not in arg else None
        return super().subscription_key(arg)

    def on_subscribe(self, session: OkxSession, key: tuple[str, str]) -> None:
        super().on_subscribe(session, key)
        channel, inst = key
        ts = self._event_time()
        body = {"mark-price": lambda: okx_wire.mark_price_push(inst, self.perps[inst].mark, ts),
                "funding-rate": lambda: self._funding_body(inst, ts),
                "open-interest": lambda: self._open_interest_body(inst, ts)}.get(channel)
        if body is not None:
            session.push(orjson.dumps(body()))

    # -- the clock -----------------------------------------------------------------------------------------------
    def _publish(self, inst: str, market: MarketSim, step: Step, ts: int) -> None:
        super()._publish(inst, market, step, ts)
        perp = self.perps[inst]
        change = perp.step(step, ts)
        if change.mark:
            self._broadcast("mark-price", inst, lambda: okx_wire.mark_price_push(inst, perp.mark, ts))
        if change.funding or self._steps % self.funding_every == 0:
            self.faults.counts["funding_roll"] += change.funding
            self._broadcast("funding-rate", inst, lambda: self._funding_body(inst, ts))
        if change.open_interest:
            self._broadcast("open-interest", inst, lambda: self._open_interest_body(inst, ts))
        if change.liquidation is not None:
            self._publish_liquidation(inst, change.liquidation)

    def _funding_body(self, inst: str, ts: int) -> dict:
        perp = self.perps[inst]
        return okx_wire.funding_rate_push(inst, perp.funding_rate_str, perp.next_funding(ts), perp.funding_interval_ms,
                                          ts)

    def _open_interest_body(self, inst: str, ts: int) -> dict:
        perp = self.perps[inst]
        ct_val = Decimal(CONTRACT_VALUES.get(perp.spec.base, "1"))
        oi_ccy = Decimal(perp.open_interest) * ct_val
        oi_usd = (oi_ccy * Decimal(perp.mark)).quantize(Decimal("0.01"))
        return okx_wire.open_interest_push(inst, perp.open_interest, str(oi_ccy), str(oi_usd), ts)

    def _publish_liquidation(self, inst: str, order: ForcedOrder) -> None:
        self.faults.counts["liquidation"] += 1
        self._broadcast("liquidation-orders", "SWAP", lambda: okx_wire.liquidation_push(
            inst, order.side, order.price, order.size, order.time_ms))

    def instruments(self, listed: dict[str, SymbolSpec]) -> list[dict]:
        return okx_wire.swap_instruments(
            {inst: (spec, CONTRACT_VALUES.get(spec.base, "1")) for inst, spec in listed.items()},
            1_573_557_408_000)
