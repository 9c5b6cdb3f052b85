"""A seeded, evolving order book that numbers its changes the way Binance does.

Pure state and arithmetic, no I/O: the servers in this package only format and send what ``MarketSim.step``
returns, so determinism (same seed -> same steps) holds however many clients connect and whatever the clock says.
Prices and sizes are kept as integers (ticks of ``10**-price_decimals``, lots of ``10**-qty_decimals``) so the
book is exact and every string on the wire is the one Binance would print.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field

from sortedcontainers import SortedDict

__all__ = ["SymbolSpec", "TradePrint", "BookTicker", "Step", "MarketSim", "spec_for", "DEFAULT_SPECS"]


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """What a symbol trades at: the grid of prices and sizes, and where the price starts.

    ``wire_decimals`` is how many decimals the strings carry: Binance spot pads every price and quantity to 8
    (``"61837.63000000"``, ``"0.02000000"``) whatever the tick or step size, so values live on the tick / step grid
    and are printed with 8 decimals.
    """

    base: str
    quote: str
    price_decimals: int
    qty_decimals: int
    tick: float
    start_price: float
    wire_decimals: int = 8

    @property
    def venue_symbol(self) -> str:
        return f"{self.base}{self.quote}".upper()

    @property
    def canonical(self) -> str:
        return f"{self.base}-{self.quote}".upper()

    @property
    def tick_units(self) -> int:
        """The tick in units of ``10**-price_decimals`` (0.01 with 2 decimals -> 1; 0.05 -> 5)."""
        return max(1, round(self.tick * 10**self.price_decimals))

    def price_str(self, units: int) -> str:
        return _fixed(units, self.price_decimals, self.wire_decimals)

    def qty_str(self, lots: int) -> str:
        return _fixed(lots, self.qty_decimals, self.wire_decimals)

    def step_size_str(self) -> str:
        return _fixed(1, self.qty_decimals, self.wire_decimals)

    def tick_size_str(self) -> str:
        return _fixed(self.tick_units, self.price_decimals, self.wire_decimals)


DEFAULT_SPECS: dict[str, SymbolSpec] = {
    "BTC-USDT": SymbolSpec("BTC", "USDT", price_decimals=2, qty_decimals=5, tick=0.01, start_price=60000.0),
    "ETH-USDT": SymbolSpec("ETH", "USDT", price_decimals=2, qty_decimals=4, tick=0.01, start_price=3000.0),
    "SOL-USDT": SymbolSpec("SOL", "USDT", price_decimals=2, qty_decimals=3, tick=0.01, start_price=150.0),
}


def spec_for(symbol: str) -> SymbolSpec:
    """The spec for a canonical ``BASE-QUOTE`` symbol; unknown pairs get a stable made-up price from their name."""
    text = symbol.strip().upper().replace("/", "-").replace("_", "-")
    if text in DEFAULT_SPECS:
        return DEFAULT_SPECS[text]
    base, sep, quote = text.partition("-")
    if not sep or not base.isalnum() or not quote.isalnum():
        raise ValueError(f"symbol {symbol!r} is not in the canonical BASE-QUOTE form, e.g. 'BTC-USDT'")
    # crc32, not hash(): the made-up price must not change with PYTHONHASHSEED.
    start = 1.0 + (zlib.crc32(text.encode()) % 50_000) / 100
    return SymbolSpec(base, quote, price_decimals=4, qty_decimals=2, tick=0.0001, start_price=start)


def _fixed(units: int, decimals: int, wire: int) -> str:
    whole, frac = divmod(units, 10**decimals)
    if decimals == 0:
        return f"{whole}." + "0" * wire if wire else str(whole)
    return f"{whole}.{frac:0{decimals}d}" + "0" * max(0, wire - decimals)


@dataclass(frozen=True, slots=True)
class TradePrint:
    """One taker trade against the resting book; ``buyer_is_maker`` is Binance's ``m`` (true = taker sold)."""

    trade_id: int
    price: str
    qty: str
    buyer_is_maker: bool
    trade_time: int
    update_id: int


@dataclass(frozen=True, slots=True)
class BookTicker:
    """The top of book right after the change with id ``update_id`` moved it (Binance's bookTicker ``u``)."""

    update_id: int
    bid_price: str
    bid_qty: str
    ask_price: str
    ask_qty: str


@dataclass(slots=True)
class Step:
    """What one market tick changed: ids ``first_id..last_id`` (Binance's ``U``/``u``), each price once per side."""

    symbol: str
    event_time: int
    first_id: int
    last_id: int
    bid_changes: list[list[str]] = field(default_factory=list)
    ask_changes: list[list[str]] = field(default_factory=list)
    trades: list[TradePrint] = field(default_factory=list)
    tickers: list[BookTicker] = field(default_factory=list)


class MarketSim:
    """One symbol's book, evolved by a seeded RNG; every level change takes the next update id.

    A step makes 1..``max_changes`` changes (size changes, removals, new levels, more often near the top) and,
    with probability ``trade_prob``, a taker order that trades at the best level and shrinks or removes it in the
    same step's diff. The book is never crossed and holds about ``levels`` prices per side.
    """

    def __init__(
        self, spec: SymbolSpec, seed: int, levels: int = 200, max_changes: int = 10, trade_prob: float = 0.3
    ) -> None:
        if levels < 10:
            raise ValueError("levels must be at least 10")
        self.spec = spec
        self.levels = levels
        self.max_changes = max(1, max_changes)
        self.trade_prob = trade_prob
        # str seed keeps symbols independent and stable across runs (random.Random hashes str with sha512).
        self._rng = random.Random(f"{seed}:{spec.canonical}")
        rng = self._rng
        # Sorted by price ascending: best bid is the last key, best ask the first.
        self._bids: SortedDict = SortedDict()
        self._asks: SortedDict = SortedDict()
        self._update_id = rng.randrange(10**9, 5 * 10**9)
        self._trade_id = rng.randrange(10**8, 10**9)
        self._pending: dict[str, dict[int, int]] = {}
        tick = spec.tick_units
        mid = round(spec.start_price * 10**spec.price_decimals / tick) * tick
        for i in range(levels):
            self._bids[mid - tick * (1 + i + rng.randrange(2) * i // 4)] = self._random_lots()
            self._asks[mid + tick * (1 + i + rng.randrange(2) * i // 4)] = self._random_lots()

    # -- queries -------------------------------------------------------------------------------------------------
    @property
    def last_update_id(self) -> int:
        return self._update_id

    def best_bid_ask(self) -> tuple[float, float]:
        scale = 10**self.spec.price_decimals
        return self._bids.peekitem(-1)[0] / scale, self._asks.peekitem(0)[0] / scale

    def snapshot(self, limit: int = 100) -> dict:
        """Binance's REST ``/api/v3/depth`` body: best first, at most ``limit`` levels per side."""
        spec = self.spec
        bids = list(reversed(self._bids.keys()[-limit:]))
        asks = self._asks.keys()[:limit]
        return {
            "lastUpdateId": self._update_id,
            "bids": [[spec.price_str(p), spec.qty_str(self._bids[p])] for p in bids],
            "asks": [[spec.price_str(p), spec.qty_str(self._asks[p])] for p in asks],
        }

    def true_book(self) -> dict[str, dict[float, float]]:
        """The whole book as floats parsed from the wire strings (what a perfect client would hold)."""
        spec = self.spec
        return {
            "bids": {float(spec.price_str(p)): float(spec.qty_str(q)) for p, q in self._bids.items()},
            "asks": {float(spec.price_str(p)): float(spec.qty_str(q)) for p, q in self._asks.items()},
        }

    # -- evolution -----------------------------------------------------------------------------------------------
    def step(self, event_time_ms: int) -> Step:
        """Advance the book once; the result is a function of the seed and the number of earlier steps only."""
        rng = self._rng
        step = Step(self.spec.venue_symbol, event_time_ms, self._update_id + 1, self._update_id)
        self._pending = {"bids": {}, "asks": {}}
        changes = rng.randint(1, self.max_changes)
        trade_at = rng.randrange(changes) if rng.random() < self.trade_prob else -1
        for i in range(changes):
            if i == trade_at:
                self._take(step)
            else:
                self._change_level(step)
        spec = self.spec
        step.bid_changes = [[spec.price_str(p), spec.qty_str(q)] for p, q in self._pending["bids"].items()]
        step.ask_changes = [[spec.price_str(p), spec.qty_str(q)] for p, q in self._pending["asks"].items()]
        step.last_id = self._update_id
        return step

    def _random_lots(self) -> int:
        # Lognormal sizes around ~10k quote per level, on the lot grid, never zero.
        typical = 10_000 / self.spec.start_price * 10**self.spec.qty_decimals
        return max(1, round(typical * self._rng.lognormvariate(0.0, 1.0)))

    def _near_top_index(self, n: int) -> int:
        if self._rng.random() < 0.6:
            return min(n - 1, int(self._rng.expovariate(1 / 3)))
        return self._rng.randrange(n)

    def _change_level(self, step: Step) -> None:
        rng = self._rng
        side = "bids" if rng.random() < 0.5 else "asks"
        book = self._bids if side == "bids" else self._asks
        n = len(book)
        fill = n / self.levels
        roll = rng.random()
        if n < self.levels // 2 or roll < 0.4 - 0.5 * (fill - 1):
            self._add_level(step, side)
            return
        index = self._near_top_index(n)
        price = book.keys()[-1 - index] if side == "bids" else book.keys()[index]
        if roll < 0.8 and n > 10:
            self._set(step, side, price, 0)
        else:
            self._set(step, side, price, self._random_lots())

    def _add_level(self, step: Step, side: str) -> None:
        rng = self._rng
        tick = self.spec.tick_units
        best_bid, best_ask = self._bids.keys()[-1], self._asks.keys()[0]
        for _ in range(8):
            if rng.random() < 0.2 and best_ask - best_bid > tick:
                # Improve the top inside the spread without ever touching the other side.
                price = rng.randrange(best_bid + tick, best_ask, tick)
            else:
                offset = int(rng.expovariate(1 / 4)) if rng.random() < 0.6 else rng.randrange(self.levels * 3)
                price = best_bid - offset * tick if side == "bids" else best_ask + offset * tick
            book = self._bids if side == "bids" else self._asks
            if price not in book and price > 0:
                self._set(step, side, price, self._random_lots())
                return
        # Crowded near the top: widen an existing level instead, still one change.
        book = self._bids if side == "bids" else self._asks
        price = book.keys()[-1] if side == "bids" else book.keys()[0]
        self._set(step, side, price, book[price] + self._random_lots())

    def _take(self, step: Step) -> None:
        """A taker order that trades at the best level: the trade and the level's new size share one update id."""
        rng = self._rng
        taker_sells = rng.random() < 0.5
        side = "bids" if taker_sells else "asks"
        book = self._bids if taker_sells else self._asks
        if len(book) <= 10:
            self._change_level(step)
            return
        price = book.keys()[-1] if taker_sells else book.keys()[0]
        resting = book[price]
        qty = resting if rng.random() < 0.3 else max(1, min(resting, round(resting * rng.random())))
        self._set(step, side, price, resting - qty)
        self._trade_id += 1
        step.trades.append(
            TradePrint(
                trade_id=self._trade_id,
                price=self.spec.price_str(price),
                qty=self.spec.qty_str(qty),
                buyer_is_maker=taker_sells,
                trade_time=step.event_time,
                update_id=self._update_id,
            )
        )

    def _set(self, step: Step, side: str, price: int, lots: int) -> None:
        book = self._bids if side == "bids" else self._asks
        top_before = self._top()
        if lots:
            book[price] = lots
        else:
            book.pop(price, None)
        self._update_id += 1
        self._pending[side][price] = lots
        top_after = self._top()
        if top_after != top_before:
            spec = self.spec
            bid, bid_qty, ask, ask_qty = top_after
            step.tickers.append(
                BookTicker(
                    self._update_id,
                    spec.price_str(bid),
                    spec.qty_str(bid_qty),
                    spec.price_str(ask),
                    spec.qty_str(ask_qty),
                )
            )

    def _top(self) -> tuple[int, int, int, int]:
        return (*self._bids.peekitem(-1), *self._asks.peekitem(0))
