"""The heatmap, ladder and multi-venue views against real feeds on the simulators: values agree with the books,
sources stay bounded, and each refresh changes each source at most once (nothing when nothing changed)."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import pytest
from bokeh.document import Document
from bokeh.models import HoverTool, Legend

from livefeed import Feed
from livefeed.sim import BinanceSim, BybitSim, CoinbaseSim
from livefeed.viz.heatmap import HeatmapView, bin_depth, bin_grid, heatmap_figure
from livefeed.viz.ladder import LadderView, ladder_figure, ladder_rows, row_step
from livefeed.viz.multivenue import ConsolidatedView, MidsView, consolidated_figure, mids_figure
from livefeed.viz.sampling import ExchangeClock, infer_tick, nice_step
from livefeed.viz.views import View
from tests.conftest import STEADY, synced, until

TICK = 0.01  # the simulators' BTC tick


class ChangeLog:
    """Every document change of the given views (each in its own document), counted by the name of the model it
    changed; views after the first add ``#<index>``, since two views of one market name their sources alike."""

    def __init__(self, *views: View) -> None:
        self.changed: Counter[str] = Counter()
        for index, view in enumerate(views):
            doc = Document()
            doc.add_root(view.layout)
            doc.on_change(lambda event, suffix=f"#{index}" if index else "": self._count(event, suffix))

    def _count(self, event: Any, suffix: str) -> None:
        model = getattr(event, "model", None)
        self.changed[f"{model.name if model is not None else type(event).__name__}{suffix}"] += 1

    def take(self) -> Counter[str]:
        changed, self.changed = self.changed, Counter()
        return changed


async def refresh_with_traffic(feed: Feed, views: list[View], log: ChangeLog, times: int) -> list[Counter[str]]:
    """Refresh ``times`` times, each after every book's top has moved; the changes made by each refresh."""
    per_refresh = []
    for _ in range(times):
        cursor = feed.top_of_book.total

        def every_book_moved(since: int = cursor) -> bool:
            rows, _ = feed.top_of_book.read_since(since)
            return set(zip(rows["venue"].tolist(), rows["symbol"].tolist(), strict=True)) >= set(feed.books)

        await until(feed, every_book_moved, what="a new top of book on every book")
        for view in views:
            await view.refresh()
        per_refresh.append(log.take())
    return per_refresh


async def pause_until_exact(feed: Feed, sims: dict[str, Any]) -> None:
    """Stop every simulated market and wait until each local book equals its simulator's."""
    await until(feed, lambda: synced(feed), what="books synced")
    for sim in sims.values():
        sim.pause()
    await until(feed, lambda: all(book.to_dict() == sims[venue].true_book(symbol)
                                  for (venue, symbol), book in feed.books.items()), what="books equal to the sims")


@contextlib.asynccontextmanager
async def market(**sims: Callable[..., Any]) -> AsyncIterator[tuple[Feed, dict[str, Any]]]:
    """A feed on one simulator per venue: ``market(binance=("BTC-USDT",))``."""
    classes = {"binance": BinanceSim, "bybit": BybitSim, "coinbase": CoinbaseSim}
    async with contextlib.AsyncExitStack() as stack:
        running = {venue: await stack.enter_async_context(classes[venue](symbols=symbols, seed=seed, interval=0.01))
                   for seed, (venue, symbols) in enumerate(sims.items(), start=3)}
        subs = [f"{venue}:{symbol}" for venue, symbols in sims.items() for symbol in symbols]
        feed = await stack.enter_async_context(
            Feed(subs, channels=["trades", "book"], endpoints=running, connection=STEADY))
        yield feed, running


# -- pure parts --------------------------------------------------------------------------------------------------


def test_builders_name_sources_fill_the_width_and_keep_legends_off_the_data() -> None:
    built = {
        "heatmap": heatmap_figure("binance", "BTC-USDT"),
        "ladder": ladder_figure("binance", "BTC-USDT"),
        "mids": mids_figure("BTC", [("binance", "BTC-USDT"), ("coinbase", "BTC-USD")]),
        "consolidated": consolidated_figure("BTC-USD", ["binance", "coinbase"]),
    }
    names = {source.name for b in built.values() for source in b.sources.values()}
    assert names == {"heatmap:binance:BTC-USDT", "heatmap-trades:binance:BTC-USDT", "ladder:binance:BTC-USDT",
                     "mids:multi:BTC", "consolidated:multi:BTC-USD"}
    for kind, b in built.items():
        Document().add_root(b.layout)  # each builds its own models
        assert b.layout.sizing_mode == "stretch_width", kind
        for source in b.sources.values():
            assert b.layout.document.get_model_by_name(source.name) is source
        tooltips = [str(t.tooltips) for t in b.layout.document.select({"type": HoverTool})]
        assert tooltips and all("{0,0." in t for t in tooltips), kind  # thousands separators, fixed decimals
    for kind in ("heatmap", "mids", "consolidated"):
        figures = [built[kind].layout] if kind != "consolidated" else built[kind].layout.children
        for fig in figures:
            assert any(isinstance(r, Legend) for r in fig.right) and not any(isinstance(c, Legend) for c in fig.center)
    assert "mid_coinbase_btc_usd" in built["mids"].sources["mids"].data


def test_heatmap_bins_sit_on_a_grid_aligned_to_the_bin_width() -> None:
    low = bin_grid(60_000.37, 0.5, 10)
    assert low == 59_997.5  # floor(60000.37 / 0.5) = 120000 bins up, 5 below the mid's bin
    prices = np.array([59_997.4, 59_997.5, 59_997.99, 60_000.0, 60_002.49, 60_002.5])
    sizes = np.array([100.0, 1.0, 2.0, 4.0, 8.0, 100.0])
    column = bin_depth(prices, sizes, low, 0.5, 10)
    # below the grid and on its top edge are left out; an exact edge belongs to the bin above it
    assert column.tolist() == [3.0, 0, 0, 0, 0, 4.0, 0, 0, 0, 8.0]


def test_ladder_rows_round_bids_down_asks_up_and_trades_to_the_nearest_row() -> None:
    bids = (np.array([100.4, 100.0, 99.2, 97.0]), np.array([1.0, 2.0, 4.0, 8.0]))
    asks = (np.array([100.6, 101.0, 103.9]), np.array([16.0, 32.0, 64.0]))
    trades = (np.array([100.4, 100.6, 100.6, 50.0]), np.array([0.5, 0.25, 0.125, 9.0]), np.array([False, True, True, True]))
    rows = ladder_rows(bids, asks, trades, step=1.0, levels=2)
    assert rows["price"].tolist() == [102.0, 101.0, 100.0, 99.0]  # two rows each side, none between (no gap)
    assert rows["bid"].tolist() == [0, 0, 3.0, 4.0]  # 100.4 and 100.0 round down into 100
    assert rows["ask"].tolist() == [0, 48.0, 0, 0]  # 100.6 and 101 round up into 101; 103.9 is beyond 2 rows
    assert rows["sell"].tolist() == [0, 0, 0.5, 0] and rows["buy"].tolist() == [0, 0.375, 0, 0]  # 50.0 is off-ladder
    assert rows["role"].tolist() == ["", "best ask", "best bid", ""]
    assert (rows["neg_bid"] == -rows["bid"]).all()
    wide = ladder_rows((np.array([100.0]), np.array([1.0])), (np.array([103.0]), np.array([1.0])),
                       trades, step=1.0, levels=2)
    assert wide["price"].tolist() == [104.0, 103.0, 102.0, 101.0, 100.0, 99.0]  # the spread's rows shown
    assert ladder_rows((np.array([]), np.array([])), asks, trades, step=1.0, levels=2)["price"].tolist() == []
    assert np.allclose(rows["height"], 0.9)  # bars as tall as 90% of a row, in price units


def test_ladder_step_is_the_tick_unless_the_top_levels_are_sparse() -> None:
    dense = (np.array([100.05, 100.04, 100.02]), np.array([100.06, 100.07, 100.09]))
    assert row_step(*dense, levels=3) == 0.01  # 3 ticks deep: within 2 x 3 rows
    sparse = (np.array([100.05, 99.5, 98.0]), np.array([100.06, 100.5, 101.3]))
    assert row_step(*sparse, levels=3) == 1.0  # 2.05 deep over 3 rows -> the next 1-2-5 step up from 0.68


def test_tick_bin_width_and_exchange_clock() -> None:
    assert infer_tick(np.array([60_000.01, 59_999.9, 60_000.0])) == 0.01
    assert infer_tick(np.array([1_234.0, 1_240.0])) == 1.0
    assert [nice_step(x) for x in (0.3, 1.0, 2.4, 7.0)] == [0.5, 1.0, 5.0, 10.0]
    clock = ExchangeClock()
    clock.observe({"ts": np.array([1_000, 0, 5_000]), "receipt_ts": np.array([1_400, 9_999, 5_250])})
    assert clock.offset_ns == 250  # the least delayed row; a row without exchange time teaches nothing


def test_bad_options_fail_at_the_call() -> None:
    feed = Feed(["binance:BTC-USDT", "coinbase:BTC-USD", "binance:ETH-USDT"], validate=False)
    for bad in ({"bins": 1}, {"band": 2}, {"bin_size": 0}, {"columns": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            HeatmapView(feed, "binance", "BTC-USDT", **bad)
    for bad in ({"levels": 0}, {"tick": -0.01}, {"window": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            LadderView(feed, "binance", "BTC-USDT", **bad)
    with pytest.raises(ValueError, match="no DOGE market"):
        MidsView(feed, "DOGE")
    with pytest.raises(ValueError, match="counts as ETH-USD"):
        ConsolidatedView(feed, "ETH-USD")  # USDT is not USD unless mapped
    assert ConsolidatedView(feed, "ETH-USD", quote_map={"usdt": "usd"}).markets == [("binance", "ETH-USDT")]
    assert MidsView(feed, "btc", quotes=["USD"]).markets == [("coinbase", "BTC-USD")]


# -- against the simulators ---------------------------------------------------------------------------------------


async def test_heatmap_columns_hold_the_book_depth_per_bin_and_stay_bounded() -> None:
    async with market(binance=("BTC-USDT",)) as (feed, sims):
        view = HeatmapView(feed, "binance", "BTC-USDT", bins=40, bin_size=0.5, columns=5, rollover=30,
                           max_gap=60.0)  # a loaded test machine must not turn a slow refresh into a gap
        log = ChangeLog(view)
        changes = await refresh_with_traffic(feed, [view], log, times=8)
        data, trades = view.sources["heatmap"].data, view.sources["trades"].data
        assert len(data["image"]) == 5 and 0 < len(trades["ts"]) <= 30  # rollover bounds both
        sources = {s.name for s in view.sources.values()}
        assert all(n == 1 for c in changes for name, n in c.items() if name in sources)  # one per source at most
        assert all(c["heatmap:binance:BTC-USDT"] == 1 for c in changes)  # one column per refresh
        # the colour scale is set by the first column (low, high) and after that only ever widened, rarely
        scale = [c["heatmap-colour:binance:BTC-USDT"] for c in changes]
        assert scale[0] == 2 and sum(scale[1:]) <= 2
        assert all(set(c) <= sources | {"heatmap-colour:binance:BTC-USDT"} for c in changes)
        ends = np.array(data["x"]) + np.array(data["dw"])
        assert np.allclose(ends, data["ts"]) and np.all(np.diff(data["ts"]) > 0)  # columns tile the time axis
        assert np.allclose(np.array(data["x"][1:]), np.array(data["ts"][:-1]))
        assert data["ts"][-1] >= max(trades["ts"])  # stamped on the exchange clock, after what it has seen
        assert set(trades["side"]) <= {"buy", "sell"}

        await pause_until_exact(feed, sims)
        await view.refresh()
        book = feed.book("binance", "BTC-USDT")
        column = view.sources["heatmap"].data["image"][-1].ravel()
        low, step = view.sources["heatmap"].data["y"][-1], view.bin_size
        assert view.sources["heatmap"].data["dh"][-1] == 40 * step and low <= book.mid < low + 40 * step
        # the expected column in whole ticks, independently of the view's float arithmetic
        expected = np.zeros(40)
        low_ticks, step_ticks = round(low / TICK), round(step / TICK)
        for price, size in book.bids() + book.asks():
            k = (round(price / TICK) - low_ticks) // step_ticks
            if 0 <= k < 40:
                expected[k] += size
        assert np.allclose(np.nan_to_num(column), expected) and expected.sum() > 0
        assert np.isnan(column[expected == 0]).all()  # empty bins are clear, not the lowest colour
        assert view.sources["heatmap"].data["bid"][-1] == book.best_bid[0]
        assert view.sources["heatmap"].data["ask"][-1] == book.best_ask[0]
        assert view.mapper.high >= column[~np.isnan(column)].max() and view.mapper.low > 0
        view.follow()  # the trailing window ends at the newest column, on the market's shared clock
        assert view.x_range.end == view.sources["heatmap"].data["ts"][-1]
        assert view.x_range.end - view.x_range.start == view.window * 1e3 and view.status == ""
    last = view.sources["heatmap"].data["ts"][-1]
    await view.refresh()
    view.follow()
    assert view.sources["heatmap"].data["ts"][-1] == last  # a stopped feed adds no columns
    assert view.status == "feed stopped" and all(label.visible for label in view.built.labels)


async def test_ladder_sizes_equal_the_book_levels_and_a_quiet_book_sends_nothing() -> None:
    async with market(binance=("BTC-USDT",)) as (feed, sims):
        fine = LadderView(feed, "binance", "BTC-USDT", levels=8, tick=TICK)
        coarse = LadderView(feed, "binance", "BTC-USDT", levels=10, tick=5.0)
        auto = LadderView(feed, "binance", "BTC-USDT", levels=10)
        log = ChangeLog(fine, coarse, auto)
        changes = await refresh_with_traffic(feed, [fine, coarse, auto], log, times=5)
        # without a tick: the venue's, or a 1-2-5 multiple of it when the top levels are sparse
        assert auto.tick is not None and round(auto.tick / TICK) * TICK == pytest.approx(auto.tick)
        assert round(auto.tick / 10 ** np.floor(np.log10(auto.tick))) in (1, 2, 5)
        assert all(n == 1 for c in changes for n in c.values()) and any(changes)
        assert len(fine.sources["ladder"].data["price"]) <= 8 * 3

        await pause_until_exact(feed, sims)
        for view in (fine, coarse, auto):
            await view.refresh()
        log.take()
        book = feed.book("binance", "BTC-USDT")
        levels = book.to_dict()
        rows = fine.sources["ladder"].data
        best = {role: price for role, price in zip(rows["role"], rows["price"], strict=True) if role}
        assert best == {"best bid": book.best_bid[0], "best ask": book.best_ask[0]}
        lowest, highest = rows["price"][-1], rows["price"][0]
        for side, column in (("bids", "bid"), ("asks", "ask")):
            shown = {p: s for p, s in zip(rows["price"], rows[column], strict=True) if s}
            in_range = {p: s for p, s in levels[side].items() if lowest <= p <= highest}
            assert shown.keys() == in_range.keys()
            assert all(shown[p] == pytest.approx(s) for p, s in in_range.items())
        # one row per tick: eight down from the best bid, eight up from the best ask (the spread's ticks between
        # only when they fit in eight rows)
        prices = np.array(rows["price"])
        bid_rows, ask_rows = prices[prices <= book.best_bid[0]], prices[prices >= book.best_ask[0]]
        assert len(bid_rows) == 8 == len(ask_rows)
        assert np.allclose(-np.diff(bid_rows), TICK) and np.allclose(-np.diff(ask_rows), TICK)
        spread_ticks = round(book.spread / TICK)
        assert len(prices) == 16 + (spread_ticks - 1 if spread_ticks - 1 <= 8 else 0)
        # traded volume at each row: every trade so far (well inside the 60 s window) whose tick is on the ladder
        tape = feed.trades.to_pandas()
        on_ladder = tape[np.isin(np.round(tape["price"] / TICK), np.round(prices / TICK))]
        assert sum(rows["buy"]) + sum(rows["sell"]) == pytest.approx(on_ladder["size"].sum())
        assert sum(rows["buy"]) == pytest.approx(on_ladder.loc[on_ladder["side"] == "buy", "size"].sum())
        # coarse rows aggregate: each bid row holds every level rounded down into it, each ask row every level
        # rounded up into it, and each row the trades nearest to it (the rows span +-50, so every trade so far)
        coarse_rows = coarse.sources["ladder"].data
        for price, bid, ask in zip(coarse_rows["price"], coarse_rows["bid"], coarse_rows["ask"], strict=True):
            assert bid == pytest.approx(sum(s for p, s in levels["bids"].items() if price <= p < price + 5.0))
            assert ask == pytest.approx(sum(s for p, s in levels["asks"].items() if price - 5.0 < p <= price))
        nearest = np.floor(tape["price"] / 5.0 + 0.5) * 5.0
        volume = np.array(coarse_rows["buy"]) + np.array(coarse_rows["sell"])
        for price, traded in zip(coarse_rows["price"], volume, strict=True):
            assert traded == pytest.approx(tape.loc[nearest == price, "size"].sum())
        assert volume.sum() == pytest.approx(tape["size"].sum()) and len(tape) > 0

        for view in (fine, coarse, auto):
            await view.refresh()
        assert log.take() == Counter()  # the book did not change: nothing is sent


async def test_multi_venue_mids_and_consolidated_quote_follow_each_book() -> None:
    async with market(binance=("BTC-USDT",), bybit=("BTC-USDT",), coinbase=("BTC-USD",)) as (feed, sims):
        mids = MidsView(feed, "BTC", rollover=4)
        mapped = ConsolidatedView(feed, "BTC-USD", quote_map={"USDT": "USD"}, rollover=4)
        dollars = ConsolidatedView(feed, "BTC-USD", rollover=4)
        views: list[View] = [mids, mapped, dollars]
        log = ChangeLog(*views)
        await until(feed, lambda: synced(feed), what="books synced")
        changes = await refresh_with_traffic(feed, views, log, times=6)
        assert all(n == 1 for c in changes for n in c.values())
        assert all(len(v.sources[v.kind].data["ts"]) == 4 for v in views)  # rollover
        assert mapped.venues == ["binance", "bybit", "coinbase"] and dollars.venues == ["coinbase"]

        await pause_until_exact(feed, sims)
        for view in views:
            await view.refresh()
        log.take()
        row = {name: values[-1] for name, values in mids.sources["mids"].data.items()}
        for venue, symbol in mids.markets:
            assert row[f"mid_{venue}_{symbol.lower().replace('-', '_')}"] == feed.book(venue, symbol).mid
        for view, quote in ((mapped, feed.consolidated("BTC-USD", quote_map={"USDT": "USD"})),
                            (dollars, feed.consolidated("BTC-USD"))):
            last = {name: values[-1] for name, values in view.sources["consolidated"].data.items()}
            assert (last["bid"], last["bid_venue"], last["ask"], last["ask_venue"]) == (
                quote.bid, quote.bid_venue, quote.ask, quote.ask_venue)
            assert last["bid_size"] == quote.bid_size and last["ask_size"] == quote.ask_size
            assert last["spread_bp"] == pytest.approx(quote.spread / quote.mid * 1e4)
        assert len(set(mids.sources["mids"].data["ts"])) == 4  # one sample per change, each at its own time

        for view in views:
            await view.refresh()
        assert log.take() == Counter()  # no book moved: no new row
        for view in views:  # the window ends at the newest sample of any view of the same market (shared clock)
            view.follow()
            newest = max(v.sources[v.kind].data["ts"][-1] for v in views if v.symbol == view.symbol)
            assert view.status == "" and view.x_range.end == newest
    for view in views:
        view.follow()
        assert {label.text for label in view.built.labels} == {"FEED STOPPED"}
