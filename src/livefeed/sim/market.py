"""A seeded, evolving order book that numbers its changes the way Binance does.

Pure state and arithmetic, no I/O: the servers in this package only format and send what ``MarketSim.step``
returns, so determinism (same seed and event times -> same steps) holds however many clients connect. The book
follows one venue's view of a fair price shared by every venue simulator with the same seed (``fair``) and keeps a
realistic shape (``shape``). Prices and sizes are kept as integers (ticks of ``10**-price_decimals``, lots of
``10**-qty_decimals``) so the book is exact and every string on the wire is the one Binance would print.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from sortedcontainers import SortedDict

from .fair import VenueQuote, venue_profile
from .shape import BookShape
from .specs import DEFAULT_SPECS, SymbolSpec, spec_for  # re-exported: the wire modules import them from here

__all__ = ["SymbolSpec", "TradePrint", "BookTicker", "Step", "MarketSim", "spec_for", "DEFAULT_SPECS"]


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
    """One symbol's book on one venue, evolved by a seeded RNG around the venue's view of a shared fair price;
    every level change takes the next update id.

    A step makes 1..``max_changes`` changes and, with probability ``trade_prob``, a taker order of log-normal
    size that trades at the best levels (one change and one print per level it reaches) in the same step's diff.
    The other changes keep the touch around the venue's view of the fair price (a quote past it is hit or
    pulled, a spread wider than the venue keeps is improved) or churn the book within its shape
    (``shape.BookShape``: dense and thin near the touch, ~4% deep, some walls). The book is never crossed and
    holds about ``levels`` prices per side.

    ``venue`` picks the venue's latency, noise, spread and sizes (``fair.VENUE_PROFILES``) and keeps venues
    apart under one seed. ``start_ms`` is the time the initial book is quoted at on the clock that every venue
    with the same seed shares, so their prices agree; ``None`` makes a market of its own whose price is
    ``spec.start_price`` at its first step. Either way the steps are a function of the seed and the event times.
    """

    def __init__(
        self,
        spec: SymbolSpec,
        seed: int,
        levels: int = 200,
        max_changes: int = 10,
        trade_prob: float = 0.3,
        *,
        venue: str = "",
        start_ms: int | None = None,
    ) -> None:
        if levels < 10:
            raise ValueError("levels must be at least 10")
        self.spec = spec
        self.levels = levels
        self.max_changes = max(1, max_changes)
        self.trade_prob = trade_prob
        self.venue = venue
        profile = venue_profile(venue)
        # str seed keeps symbols and venues independent and stable across runs (random.Random hashes str with sha512).
        self._rng = random.Random(f"{seed}:{venue}:{spec.canonical}" if venue else f"{seed}:{spec.canonical}")
        rng = self._rng
        self._quote = VenueQuote(seed, spec.base, venue, profile)
        self._shape = BookShape(spec, profile, levels)
        self._half_spread = profile.half_spread_bp * 1e-4
        self._tick = spec.tick_units
        self._price_texts: dict[int, str] = {}
        self._start_units = spec.start_price * 10**spec.price_decimals
        self._anchor: float | None = None if start_ms is None else 0.0
        # Sorted by price ascending: best bid is the last key, best ask the first.
        self._bids: SortedDict = SortedDict()
        self._asks: SortedDict = SortedDict()
        self._bid_prices = self._bids.keys()  # live views: the cheapest way to the best and nth prices
        self._ask_prices = self._asks.keys()
        self._update_id = rng.randrange(10**9, 5 * 10**9)
        self._trade_id = rng.randrange(10**8, 10**9)
        self._pending: dict[str, dict[int, int]] = {}
        self._set_reference(start_ms)
        tick = self._tick
        for offset in self._shape.initial_offsets(rng):
            bid = self._target_bid - offset * tick
            if bid > 0:
                self._bids[bid] = self._initial_lots(offset)
            self._asks[self._target_ask + offset * tick] = self._initial_lots(offset)
        self._best_bid, self._best_ask = self._bid_prices[-1], self._ask_prices[0]  # kept up to date by _set

    # -- queries -------------------------------------------------------------------------------------------------
    @property
    def last_update_id(self) -> int:
        return self._update_id

    @property
    def reference_price(self) -> float:
        """The venue's view of the fair price at the last step: its touch sits around it."""
        return self._ref / 10**self.spec.price_decimals

    def best_bid_ask(self) -> tuple[float, float]:
        scale = 10**self.spec.price_decimals
        return self._bids.peekitem(-1)[0] / scale, self._asks.peekitem(0)[0] / scale

    def snapshot(self, limit: int = 100) -> dict:
        """Binance's REST ``/api/v3/depth`` body: best first, at most ``limit`` levels per side."""
        spec = self.spec
        price_text = self._price_text if limit <= 1_000 else spec.price_str  # a full-depth dump would churn the cache
        bids = list(reversed(self._bid_prices[-limit:]))
        asks = self._ask_prices[:limit]
        return {
            "lastUpdateId": self._update_id,
            "bids": [[price_text(p), spec.qty_str(self._bids[p])] for p in bids],
            "asks": [[price_text(p), spec.qty_str(self._asks[p])] for p in asks],
        }

    def true_book(self) -> dict[str, dict[float, float]]:
        """The whole book as floats parsed from the wire strings (what a perfect client would hold)."""
        spec = self.spec
        return {
            "bids": {float(spec.price_str(p)): float(spec.qty_str(q)) for p, q in self._bids.items()},
            "asks": {float(spec.price_str(p)): float(spec.qty_str(q)) for p, q in self._asks.items()},
        }

    def rests(self, side: str, price: str) -> bool:
        """Whether a level rests at ``price`` (a wire string) on ``side`` ("bids" / "asks"), without a copy."""
        units = round(float(price) * 10**self.spec.price_decimals)
        return units in (self._bids if side == "bids" else self._asks)

    # -- evolution -----------------------------------------------------------------------------------------------
    def skip_trade_ids(self, n: int) -> None:
        """The next trade's id is ``n`` past the one due (a fault: those ids are never printed)."""
        self._trade_id += n

    def step(self, event_time_ms: int) -> Step:
        """Advance the book once; the result is a function of the seed and the event times of this and every
        earlier step only."""
        rng = self._rng
        step = Step(self.spec.venue_symbol, event_time_ms, self._update_id + 1, self._update_id)
        self._pending = {"bids": {}, "asks": {}}
        self._set_reference(event_time_ms)
        # Stale quotes left behind by a price move are cleared within the change budget, so more changes then.
        changes = max(rng.randint(1, self.max_changes), min(self.max_changes, self._stale_count() + 1))
        trade_at = rng.randrange(changes) if rng.random() < self.trade_prob else -1
        done = 0
        while done < changes:
            if done == trade_at:
                done += self._take(step, budget=changes - done)
            else:
                self._change_level(step)
                done += 1
        spec = self.spec
        price_text = self._price_text
        step.bid_changes = [[price_text(p), spec.qty_str(q)] for p, q in self._pending["bids"].items()]
        step.ask_changes = [[price_text(p), spec.qty_str(q)] for p, q in self._pending["asks"].items()]
        step.last_id = self._update_id
        return step

    def _set_reference(self, t_ms: int | None) -> None:
        """The venue's view of the fair price at ``t_ms`` and the touch it aims for around it (in price units)."""
        ref = self._start_units
        if t_ms is not None:
            offset = self._quote.log_offset(t_ms)
            if self._anchor is None:
                self._anchor = offset  # a market of its own starts at spec.start_price
            ref *= math.exp(offset - self._anchor)
        tick = self._tick
        half = max(tick / 2, ref * self._half_spread)
        self._ref = ref
        self._stale_bid, self._stale_ask = ref - half / 2, ref + half / 2
        self._target_bid = max(tick, math.floor((ref - half) / tick) * tick)
        self._target_ask = max(self._target_bid + tick, math.ceil((ref + half) / tick) * tick)

    def _initial_lots(self, offset: int) -> int:
        shape, rng = self._shape, self._rng
        return shape.wall_lots(rng, offset) if shape.is_wall(rng, offset) else shape.level_lots(rng, offset)

    def _offset(self, price: int, bids: bool) -> int:
        """Ticks from the touch this venue aims for, away from the spread (0 at or inside it)."""
        distance = self._target_bid - price if bids else price - self._target_ask
        return max(0, distance // self._tick)

    def _near_top_index(self, n: int) -> int:
        if self._rng.random() < 0.6:
            return min(n - 1, int(self._rng.expovariate(1 / 3)))
        return self._rng.randrange(n)

    def _change_level(self, step: Step) -> None:
        rng = self._rng
        if self._pull_stale(step):
            return
        bids = rng.random() < 0.5
        if self._improve_touch(step, bids):
            return
        side = "bids" if bids else "asks"
        book = self._bids if bids else self._asks
        n = len(book)
        farthest = self._bid_prices[0] if bids else self._ask_prices[-1]
        if n > 10 and self._offset(farthest, bids) > self._shape.span_ticks * 5 // 4:
            self._set(step, side, farthest, 0)  # left behind by the price: pulled
            return
        fill = n / self.levels
        roll = rng.random()
        if n < self.levels // 2 or roll < 0.4 - 0.5 * (fill - 1):
            self._add_level(step, bids)
            return
        index = self._near_top_index(n)
        price = self._bid_prices[-1 - index] if bids else self._ask_prices[index]
        if roll < 0.8 and n > 10:
            self._set(step, side, price, 0)
        else:
            self._set(step, side, price, self._shape.level_lots(rng, self._offset(price, bids)))

    def _stale_count(self) -> int:
        """How many quotes sit past the venue's stale prices (see ``_pull_stale``)."""
        return len(self._bids) - self._bids.bisect_right(self._stale_bid) + self._asks.bisect_left(self._stale_ask)

    def _pull_stale(self, step: Step) -> bool:
        """One change that clears a stale best quote, if there is one.

        A quote more than half-way from the touch the venue aims for to its fair price is stale: a taker hits it
        (with ``trade_prob``, an arbitrage trade) or its owner pulls it.
        """
        for bids in (True, False):
            book = self._bids if bids else self._asks
            best = self._best_bid if bids else self._best_ask
            stale = best > self._stale_bid if bids else best < self._stale_ask
            if stale and len(book) > 10:
                if self._rng.random() < self.trade_prob:
                    self._take(step, budget=1, taker_sells=bids, whole=True)
                else:
                    self._set(step, "bids" if bids else "asks", best, 0)
                return True
        return False

    def _improve_touch(self, step: Step, bids: bool) -> bool:
        """Usually one change that brings a best quote behind the touch the venue aims for up to it: a new thin
        level at (or a tick or two behind) that touch, never crossing the other side."""
        rng = self._rng
        tick = self._tick
        best_bid, best_ask = self._best_bid, self._best_ask
        if bids:
            limit = min(self._target_bid, best_ask - tick)
            behind = best_bid < limit
        else:
            limit = max(self._target_ask, best_bid + tick)
            behind = best_ask > limit
        if not behind or rng.random() >= 0.8:
            return False
        inside = tick * int(rng.expovariate(1.0))
        price = max(best_bid + tick, limit - inside) if bids else min(best_ask - tick, limit + inside)
        self._set(step, "bids" if bids else "asks", price, self._shape.level_lots(rng, 0))
        return True

    def _add_level(self, step: Step, bids: bool) -> None:
        rng, shape = self._rng, self._shape
        tick = self._tick
        side = "bids" if bids else "asks"
        book = self._bids if bids else self._asks
        for _ in range(4):
            offset = shape.sample_offset(rng)
            wall = shape.is_wall(rng, offset)
            price = self._target_bid - offset * tick if bids else self._target_ask + offset * tick
            if wall:
                price = shape.round_price(price, bids)
            crossing = price >= self._best_ask if bids else price <= self._best_bid
            if price <= 0 or crossing:
                continue
            if wall:
                self._set(step, side, price, book.get(price, 0) + shape.wall_lots(rng, offset))
                return
            if price not in book:
                self._set(step, side, price, shape.level_lots(rng, offset))
                return
        # Crowded where the shape wants levels: thicken the best level instead, still one change.
        price = self._best_bid if bids else self._best_ask
        self._set(step, side, price, book[price] + shape.level_lots(rng, 0))

    def _lean(self) -> float:
        """How much more likely a taker buys than sells: buyers lift when the mid sits below the venue's price."""
        mid = (self._best_bid + self._best_ask) / 2
        half = (self._target_ask - self._target_bid) / 2
        return max(-0.3, min(0.3, 0.3 * (self._ref - mid) / half))

    def _take(self, step: Step, budget: int, taker_sells: bool | None = None, whole: bool = False) -> int:
        """A taker order against the best levels; returns the changes it used (one per level it reached).

        Each level it reaches is one print and one change with the same update id. Its size is log-normal
        (``shape.BookShape.taker_lots``), so it usually takes part of the best level and now and then sweeps
        several (at most ``budget``); ``whole`` takes exactly the best level.
        """
        rng = self._rng
        if taker_sells is None:
            taker_sells = rng.random() >= 0.5 + self._lean()
        side = "bids" if taker_sells else "asks"
        book = self._bids if taker_sells else self._asks
        if len(book) <= 10:
            self._change_level(step)
            return 1
        wanted = 0 if whole else self._shape.taker_lots(rng)
        used = 0
        while used < budget and len(book) > 10:
            price = self._best_bid if taker_sells else self._best_ask
            resting = book[price]
            qty = resting if whole else min(wanted, resting)
            self._set(step, side, price, resting - qty)
            used += 1
            self._trade_id += 1
            step.trades.append(
                TradePrint(
                    trade_id=self._trade_id,
                    price=self._price_text(price),
                    qty=self.spec.qty_str(qty),
                    buyer_is_maker=taker_sells,
                    trade_time=step.event_time,
                    update_id=self._update_id,
                )
            )
            wanted -= qty
            if whole or wanted <= 0:
                break
        return used

    def _set(self, step: Step, side: str, price: int, lots: int) -> None:
        bids = side == "bids"
        book = self._bids if bids else self._asks
        # Only a change at or beyond this side's best price moves the top (price or size).
        moves_top = price >= self._best_bid if bids else price <= self._best_ask
        if lots:
            book[price] = lots
        else:
            book.pop(price, None)
        if moves_top:
            if bids:
                self._best_bid = price if lots else self._bid_prices[-1]
            else:
                self._best_ask = price if lots else self._ask_prices[0]
        self._update_id += 1
        self._pending[side][price] = lots
        if moves_top:
            spec = self.spec
            bid, bid_qty, ask, ask_qty = self._top()
            step.tickers.append(
                BookTicker(
                    self._update_id,
                    self._price_text(bid),
                    spec.qty_str(bid_qty),
                    self._price_text(ask),
                    spec.qty_str(ask_qty),
                )
            )

    def _price_text(self, price: int) -> str:
        """``spec.price_str``, remembered: the same few prices near the touch are printed over and over."""
        text = self._price_texts.get(price)
        if text is None:
            if len(self._price_texts) > 20_000:
                self._price_texts.clear()
            text = self._price_texts[price] = self.spec.price_str(price)
        return text

    def _top(self) -> tuple[int, int, int, int]:
        bid, ask = self._best_bid, self._best_ask
        return bid, self._bids[bid], ask, self._asks[ask]
