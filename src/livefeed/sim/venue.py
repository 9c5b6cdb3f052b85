"""``VenueSim``: what every venue simulator shares: its seeded markets, the market clock and one loopback server.

A venue simulator subclasses it with its ``venue`` name, how it spells a symbol's grid (``market_spec``) and the key
its wire uses for a market (``market_key``); everything it adds is its own protocol. Every simulator so takes the
same arguments (``symbols``, ``seed``, ``interval``, ``levels``, ``autostep``, ...), which is what ``livefeed sim``,
the demo and the tests rely on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from .base import MarketClock, SimServer
from .fair import opening_time_ms
from .market import MarketSim
from .specs import SymbolSpec, spec_for

__all__ = ["VenueSim"]


class VenueSim(MarketClock, SimServer):
    """A simulated venue: ``async with XSim(symbols, seed=1) as sim: Feed([...], endpoints={"x": sim})``.

    With ``autostep`` one task steps every market each ``interval`` s; without it ``await sim.step(n)`` drives
    the markets by hand. ``levels`` is the depth of each simulated side (the venue's own default when ``None``).
    """

    venue: ClassVar[str] = ""
    default_symbols: ClassVar[tuple[str, ...]] = ("BTC-USDT", "ETH-USDT")
    default_levels: ClassVar[int] = 200

    def __init__(
        self,
        symbols: Iterable[str] | None = None,
        seed: int = 0,
        interval: float = 0.1,
        levels: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 60.0,
        autostep: bool = True,
        *,
        send_queue: int = 4096,
        max_changes: int = 10,
        trade_prob: float = 0.3,
        start_time_ms: int | None = None,
    ) -> None:
        super().__init__(host, port, ping_interval, ping_timeout, send_queue)
        self.seed = seed
        self.interval = interval
        self.autostep = autostep
        self.start_time_ms = start_time_ms
        self.levels = self.default_levels if levels is None else levels
        self.max_changes = max_changes
        self.trade_prob = trade_prob
        self.opened_ms = opening_time_ms(start_time_ms)
        """When the initial books are quoted (see ``fair.opening_time_ms``)."""
        self.markets: dict[str, MarketSim] = {}
        for symbol in self.default_symbols if symbols is None else symbols:
            spec = self.market_spec(symbol)
            self.markets[self.market_key(spec)] = MarketSim(
                spec, seed, self.levels, max_changes, trade_prob, venue=self.venue, start_ms=self.opened_ms,
            )

    def skip_trade_ids(self, n: int = 1) -> None:
        """Every market's next trade gets an id ``n`` past the one due: clients see ``n`` trade ids missing."""
        for market in self.markets.values():
            market.skip_trade_ids(n)
            self.faults.counts["skip_trade_ids"] += n

    def market_spec(self, symbol: str) -> SymbolSpec:
        """The tick and lot grid of ``symbol`` on this venue."""
        return spec_for(symbol)

    def market_key(self, spec: SymbolSpec) -> str:
        """How this venue's wire names the market (the key of ``self.markets``)."""
        return spec.canonical
