"""The simulated markets look like markets: books several percent deep with a shape, one fair price that every
venue quotes around (close, rarely crossed, never identical), trade sizes that vary, all reproducible by seed."""

from __future__ import annotations

import itertools
import statistics
from typing import Any

import pytest

from livefeed.book import OrderBook
from livefeed.sim import SIMULATORS, MarketSim
from livefeed.sim.fair import FairPrice
from livefeed.sim.realism import STEP_MS, T0, VENUE_QUOTES, run, venue_markets

VENUE_SYMBOLS = {venue: f"BTC-{quote}" for venue, quote in VENUE_QUOTES.items()}
LONG_RUN = 3_000  # steps of 100 ms: five minutes of market time


def step_all(markets: dict[str, MarketSim], i: int) -> dict[str, Any]:
    return {venue: market.step(T0 + STEP_MS * (i + 1)) for venue, market in markets.items()}


def order_book(market: MarketSim) -> OrderBook:
    """The library's own OrderBook holding the market's whole book (what a depth chart reads)."""
    truth = market.true_book()
    book = OrderBook()
    book.apply_snapshot(truth["bids"].items(), truth["asks"].items())
    return book


def pinned_sim(venue: str, seed: int = 1) -> Any:
    return SIMULATORS[venue](symbols=[VENUE_SYMBOLS[venue]], seed=seed, autostep=False, start_time_ms=T0)


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
    stats = run(venue_markets(seed=1), LONG_RUN)
    gaps = [gap for pair in stats.pairs.values() for gap in pair.mid_gaps_bp]
    # Close: mids of any two venues within 6 bp at every step, typically a fraction of a basis point.
    assert max(gaps) < 6.0 and statistics.median(gaps) < 0.6
    # Rarely and briefly crossed: under 1% of the steps of any pair, never for more than half a second.
    crossed = {pair: p.crossed for pair, p in stats.pairs.items()}
    assert all(count < LONG_RUN / 100 for count in crossed.values()), crossed
    assert max(p.longest for p in stats.pairs.values()) <= 5
    # Not copies of one another (binance and bybit list the same grid), and the shared price moves in five minutes.
    assert stats.identical_quotes[("binance", "bybit")] < LONG_RUN / 20
    binance_mids = stats.mids["binance"]
    assert (max(binance_mids) - min(binance_mids)) / binance_mids[0] > 5e-4


def test_the_fair_price_moves_like_a_random_walk_yet_stays_near_its_start() -> None:
    fair = FairPrice(seed=1, base="BTC")

    def move_bp(lag_s: int) -> float:
        starts = [T0 + k * 997_000 for k in range(1500)]
        return statistics.pstdev(fair.log_offset(t + lag_s * 1000) - fair.log_offset(t) for t in starts) * 1e4

    one, ten, hundred = move_bp(1), move_bp(10), move_bp(100)
    assert 0.4 < one < 2.0  # about a basis point a second, as BTC moves
    assert 2.0 < ten / one < 4.5 and 2.0 < hundred / ten < 4.5  # ~sqrt(10) per decade of lag
    hourly = [fair.log_offset(T0 + k * 3_600_000) for k in range(2000)]  # ~three months
    assert max(map(abs, hourly)) < 0.08


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
    markets = venue_markets()
    sizes = run({"binance": markets["binance"]}, LONG_RUN).trade_sizes["binance"]
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
