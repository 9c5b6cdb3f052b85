"""The simulated markets look like markets: books several percent deep with a shape, one fair price that every
venue quotes around (close, rarely crossed, never identical), trade sizes that vary, all reproducible by seed."""

from __future__ import annotations

import itertools
import statistics
from typing import Any

import pytest

from livefeed.book import OrderBook
from livefeed.sim import SIMULATORS, MarketSim, spec_for
from livefeed.sim.coinbase import coinbase_spec
from livefeed.sim.kraken_wire import kraken_spec

T0 = 1_700_000_000_000
STEP_MS = 100
VENUE_SYMBOLS = {"binance": "BTC-USDT", "bybit": "BTC-USDT", "okx": "BTC-USDT", "coinbase": "BTC-USD", "kraken": "BTC-USD"}
SPEC_FOR = {"binance": spec_for, "bybit": spec_for, "okx": spec_for, "coinbase": coinbase_spec, "kraken": kraken_spec}
"""How each simulator builds its symbol's grid (Kraken's BTC tick is 0.1, Coinbase's 0.01 with 8-decimal sizes)."""
LONG_RUN = 3_000  # steps of 100 ms: five minutes of market time


def venue_markets(seed: int = 1, base: str = "BTC") -> dict[str, MarketSim]:
    """Each venue's book of ``base`` as its simulator builds it, all opened at T0 on the shared clock."""
    return {
        venue: MarketSim(SPEC_FOR[venue](f"{base}-{symbol.split('-')[1]}"), seed, venue=venue, start_ms=T0)
        for venue, symbol in VENUE_SYMBOLS.items()
    }


def step_all(markets: dict[str, MarketSim], i: int) -> dict[str, Any]:
    return {venue: market.step(T0 + STEP_MS * (i + 1)) for venue, market in markets.items()}


def order_book(market: MarketSim) -> OrderBook:
    """The library's own OrderBook holding the market's whole book (what a depth chart reads)."""
    truth = market.true_book()
    book = OrderBook()
    book.apply_snapshot(truth["bids"].items(), truth["asks"].items())
    return book


def pinned_sim(venue: str, seed: int = 1) -> Any:
    return SIMULATORS[venue](symbols=[VENUE_SYMBOLS[venue]], seed=seed, autostep=False, start_time_ms=T0)  # type: ignore[call-arg]


# -- depth and shape --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("venue", list(VENUE_SYMBOLS))
async def test_every_venue_book_spans_several_percent_of_mid(venue: str) -> None:
    sim = pinned_sim(venue)
    await sim.step(300)
    (market,) = sim.markets.values()
    book = order_book(market)
    mid = book.mid
    assert mid is not None
    deepest_bid, deepest_ask = min(market.true_book()["bids"]), max(market.true_book()["asks"])
    assert deepest_bid <= mid * 0.97 and deepest_ask >= mid * 1.03, (venue, deepest_bid, mid, deepest_ask)
    # The simulator's start price is the same for every venue, and the book sits around the shared fair price.
    assert mid == pytest.approx(60_000, rel=0.05)


@pytest.mark.parametrize("venue", list(VENUE_SYMBOLS))
def test_depth_grows_across_the_band_slider(venue: str) -> None:
    market = venue_markets()[venue]
    for i in range(300):
        market.step(T0 + STEP_MS * (i + 1))
    book = order_book(market)
    bands = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05)  # 1 bp .. 5%: the depth chart's band slider and more
    depth = [sum(book.depth_within(band)) for band in bands]
    assert all(a < b for a, b in itertools.pairwise(depth)), dict(zip(bands, depth, strict=True))
    # 10 bp holds well under half of what 1% holds: the band slider changes the picture.
    assert depth[2] < 0.5 * depth[4]


def test_levels_are_thin_at_the_touch_grow_away_from_it_and_include_walls() -> None:
    market = venue_markets()["binance"]
    for i in range(300):
        market.step(T0 + STEP_MS * (i + 1))
    truth = market.true_book()
    bids = sorted(truth["bids"].items(), reverse=True)
    mid = sum(market.best_bid_ask()) / 2
    near = [size for _, size in bids[:10]]
    far = [size for price, size in bids if mid * 0.99 <= price <= mid * 0.995]
    assert far and statistics.median(near) * 3 < statistics.median(far)
    sizes = [size for _, size in bids]
    assert max(sizes) > 8 * statistics.median(sizes)  # a wall or two
    # Dense near the touch, sparse far out: most levels sit within 50 bp of mid, yet the book reaches 3%+.
    within_50bp = sum(1 for price, _ in bids if price >= mid * 0.995)
    assert within_50bp > len(bids) / 3 and bids[-1][0] <= mid * 0.97


# -- one fair price across venues -------------------------------------------------------------------------------------
def test_venues_quote_one_fair_price_close_differing_and_rarely_crossed() -> None:
    markets = venue_markets(seed=1)
    pairs = list(itertools.combinations(markets, 2))
    crossed = dict.fromkeys(pairs, 0)
    streak = dict.fromkeys(pairs, 0)
    longest = dict.fromkeys(pairs, 0)
    identical = 0
    deviations: list[float] = []
    binance_mids: list[float] = []
    for i in range(LONG_RUN):
        step_all(markets, i)
        quotes = {venue: market.best_bid_ask() for venue, market in markets.items()}
        identical += quotes["binance"] == quotes["bybit"]
        binance_mids.append(sum(quotes["binance"]) / 2)
        for a, b in pairs:
            (bid_a, ask_a), (bid_b, ask_b) = quotes[a], quotes[b]
            deviations.append(abs((bid_a + ask_a) - (bid_b + ask_b)) / (bid_a + ask_a) * 1e4)
            is_crossed = bid_a > ask_b or bid_b > ask_a
            crossed[(a, b)] += is_crossed
            streak[(a, b)] = streak[(a, b)] + 1 if is_crossed else 0
            longest[(a, b)] = max(longest[(a, b)], streak[(a, b)])
    # Close: mids of any two venues within 6 bp at every step, typically a fraction of a basis point.
    assert max(deviations) < 6.0 and statistics.median(deviations) < 0.6
    # Rarely and briefly crossed: under 1% of the steps of any pair, never for more than half a second.
    assert all(count < LONG_RUN / 100 for count in crossed.values()), crossed
    assert max(longest.values()) <= 5, longest
    # Not copies of one another, and the shared price does move over five minutes.
    assert identical < LONG_RUN / 20
    assert (max(binance_mids) - min(binance_mids)) / binance_mids[0] > 5e-4


def test_every_simulator_quotes_the_shared_price() -> None:
    """The servers themselves (not just MarketSim) pass their venue and clock: their mids agree after stepping."""
    sims = {venue: pinned_sim(venue) for venue in VENUE_SYMBOLS}
    for _ in range(50):
        for sim in sims.values():
            sim._tick()  # what `await sim.step()` does, without needing a running server
    mids = {venue: sum(next(iter(sim.markets.values())).best_bid_ask()) / 2 for venue, sim in sims.items()}
    assert max(mids.values()) - min(mids.values()) < 6e-4 * min(mids.values()), mids
    assert len({next(iter(sim.markets.values())).best_bid_ask() for sim in sims.values()}) == len(sims)


def test_other_assets_share_their_own_fair_price() -> None:
    markets = venue_markets(base="ETH")
    for i in range(300):
        step_all(markets, i)
    mids = [sum(m.best_bid_ask()) / 2 for m in markets.values()]
    assert min(mids) > 2_500 and max(mids) - min(mids) < 6e-4 * min(mids)


# -- trades -----------------------------------------------------------------------------------------------------------
def test_trade_sizes_vary_with_a_heavy_tail() -> None:
    market = venue_markets()["binance"]
    sizes = [float(t.qty) for i in range(LONG_RUN) for t in market.step(T0 + STEP_MS * (i + 1)).trades]
    assert len(sizes) > 500
    assert len(set(sizes)) > 0.5 * len(sizes)
    assert statistics.pstdev(sizes) / statistics.fmean(sizes) > 0.8  # coefficient of variation
    assert max(sizes) > 8 * statistics.median(sizes)


# -- determinism ------------------------------------------------------------------------------------------------------
def test_same_seed_same_markets_and_another_seed_another_price_path() -> None:
    def run(seed: int) -> tuple[list[tuple], list[float]]:
        markets = venue_markets(seed)
        steps, mids = [], []
        for i in range(300):
            for venue, step in step_all(markets, i).items():
                trades = [(t.trade_id, t.price, t.qty, t.buyer_is_maker) for t in step.trades]
                steps.append((venue, step.first_id, step.last_id, step.bid_changes, step.ask_changes, trades))
            mids.append(sum(markets["okx"].best_bid_ask()) / 2)
        return steps, mids

    steps_a, mids_a = run(7)
    steps_b, mids_b = run(7)
    steps_c, mids_c = run(8)
    assert steps_a == steps_b and mids_a == mids_b
    assert steps_a != steps_c
    assert max(abs(a - c) for a, c in zip(mids_a, mids_c, strict=True)) > 1.0  # a different fair-price path


@pytest.mark.parametrize("venue", list(VENUE_SYMBOLS))
def test_each_simulator_repeats_itself_on_a_pinned_clock(venue: str) -> None:
    def run(seed: int) -> tuple[int, dict]:
        sim = pinned_sim(venue, seed)
        for _ in range(30):
            sim._tick()
        (market,) = sim.markets.values()
        return market.last_update_id, market.snapshot(5000)

    assert run(3) == run(3)
    assert run(3) != run(4)
