"""The derivatives views against real feeds on the simulators: basis, funding, liquidations, smile and term structure
show exactly what the frames say, each refresh changes each source at most once, and nothing is sent when nothing
changed."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pytest
from bokeh.document import Document
from bokeh.models import Legend

from livefeed import Feed
from livefeed.sim import BinanceSim, BinanceUsdmSim, BybitLinearSim, DeribitSim, OkxSwapSim
from livefeed.sim.deribit import quarterly_expiries
from livefeed.viz.derivatives import (
    YEAR_S,
    BasisView,
    FundingView,
    LiquidationsView,
    annual_rate,
    derivatives_views,
    expiry_ns,
    forward_fill,
    market_derivatives_views,
    thin,
)
from livefeed.viz.derivatives_figures import (
    basis_figure,
    funding_figure,
    liquidations_figure,
    smile_figure,
    term_structure_figure,
)
from livefeed.viz.derivatives_options import OptionQuote, SmileView, TermStructureView, atm_iv, smile_columns
from livefeed.viz.server import dashboard_document
from livefeed.viz.views import View
from tests.conftest import STEADY, synced, until

from .test_new_views import ChangeLog

EXPIRIES = [d.strftime("%Y%m%d") for d in quarterly_expiries(dt.datetime.now(dt.UTC).date(), 2)]
STRIKES = (55000, 60000, 65000)
OPTIONS = [f"BTC-USD-{e}-{k}-{r}" for e in EXPIRIES for k in STRIKES for r in "CP"]


def shown(source: Any) -> pd.DataFrame:
    """A streamed source's rows without the NaN rows that break lines at gaps."""
    frame = pd.DataFrame({name: list(values) for name, values in source.data.items()})
    return frame.dropna(subset=[c for c in frame if c != "next_funding"]).reset_index(drop=True)


def at_most_once(changed: Counter[str], views: list[View]) -> None:
    names = {src.name for view in views for src in view.sources.values()}
    assert all(count == 1 for name, count in changed.items() if name in names), changed


# -- pure parts --------------------------------------------------------------------------------------------------


def test_forward_fill_thin_and_annual_rates() -> None:
    nan = math.nan
    np.testing.assert_array_equal(forward_fill(np.array([nan, 2.0, nan, 3.0]), 1.0), [1.0, 2.0, 2.0, 3.0])
    assert np.isnan(forward_fill(np.array([nan, nan]), nan)).all()
    rate = np.array([1.0, 1.0, 2.0, 2.0, 2.0])
    following = np.array([5.0, 5.0, 5.0, 6.0, 6.0])
    assert thin([rate, following], None).tolist() == [True, False, True, True, True]  # changes, and the last row
    assert thin([rate, following], (1.0, 5.0)).tolist() == [False, False, True, True, True]
    assert thin([np.array([nan, nan])], (nan,)).tolist() == [False, True]  # a missing value stays "unchanged"
    # 0.01% every 8 h is 10.95% a year; 1% over a quarter of a year is 4% a year
    assert annual_rate(np.array([0.0001]), 8 * 3600)[0] == pytest.approx(10.9575)
    assert annual_rate(np.array([0.01]), YEAR_S / 4)[0] == pytest.approx(4.0)
    assert expiry_ns(dt.date(2026, 12, 25)) == pd.Timestamp("2026-12-25 08:00", tz="UTC").value


def quote(strike: float, right: str, iv: float, underlying: float = 60_000.0, ts: int = 1) -> OptionQuote:
    return OptionQuote(f"BTC-USD-20261225-{strike:g}-{right}", strike, right, dt.date(2026, 12, 25), underlying,
                       iv, iv - 0.01, iv + 0.01, 0.5, ts)


def test_smile_takes_the_out_of_the_money_option_and_atm_interpolates_at_the_forward() -> None:
    quotes = [quote(55_000, "C", 0.60), quote(55_000, "P", 0.58), quote(65_000, "C", 0.52),
              quote(65_000, "P", 0.54), quote(70_000, "C", 0.55)]
    smile = smile_columns(quotes, 60_000.0)
    assert smile["strike"] == [55_000, 65_000, 70_000]
    assert smile["option"] == ["BTC-USD-20261225-55000-P", "BTC-USD-20261225-65000-C", "BTC-USD-20261225-70000-C"]
    assert smile["mark_iv"] == pytest.approx([58.0, 52.0, 55.0]) and smile["bid_iv"] == pytest.approx([57, 51, 54])
    assert smile["call_iv"][0] == pytest.approx(60.0) and math.isnan(smile["put_iv"][2])
    assert smile["moneyness"][1] == pytest.approx(65 / 60)
    assert atm_iv(smile["strike"], smile["mark_iv"], 60_000.0) == pytest.approx(55.0)  # halfway from 58 to 52
    assert atm_iv(smile["strike"], smile["mark_iv"], 50_000.0) == pytest.approx(58.0)  # beyond: the end value
    assert math.isnan(atm_iv([1.0], [math.nan], 1.0))


def test_builders_name_sources_fill_the_width_and_keep_legends_off_the_data() -> None:
    built = {
        "basis": basis_figure("binance", "BTC-USDT-PERP", "binance", "BTC-USDT", dated=False),
        "future": basis_figure("binance", "BTC-USDT-20261225", "binance", "BTC-USDT", dated=True),
        "funding": funding_figure([("binance", "BTC-USDT-PERP"), ("okx", "BTC-USDT-PERP")]),
        "liquidations": liquidations_figure("okx", "BTC-USDT-PERP"),
        "smile": smile_figure("deribit", "BTC-20261225"),
        "term": term_structure_figure("deribit", "BTC"),
    }
    names = {kind: {s.name for s in b.sources.values()} for kind, b in built.items()}
    assert names == {
        "basis": {"basis:binance:BTC-USDT-PERP", "basis-funding:binance:BTC-USDT-PERP"},
        "future": {"basis:binance:BTC-USDT-20261225"},  # a future has no funding
        "funding": {"funding:binance:BTC-USDT-PERP", "funding:okx:BTC-USDT-PERP"},
        "liquidations": {"liquidations:okx:BTC-USDT-PERP", "liquidations-price:okx:BTC-USDT-PERP"},
        "smile": {"smile:deribit:BTC-20261225", "smile-meta:deribit:BTC-20261225"},
        "term": {"term:deribit:BTC"},
    }
    for kind, b in built.items():
        Document().add_root(b.layout)
        assert b.layout.sizing_mode == "stretch_width", kind
        figures = b.layout.children if hasattr(b.layout, "children") else [b.layout]
        for fig in figures:
            assert not any(isinstance(c, Legend) for c in fig.center), kind


# -- against the simulators --------------------------------------------------------------------------------------


async def test_basis_of_a_perpetual_is_the_two_mids_and_its_funding_the_frame() -> None:
    async with BinanceSim(["BTC-USDT"], seed=4, interval=0.01) as spot, \
            BinanceUsdmSim(["BTC-USDT-PERP"], seed=4, interval=0.01, funding_interval=1.0) as perp:
        feed = Feed(["binance:BTC-USDT", "binance:BTC-USDT-PERP"], channels=["book"], connection=STEADY,
                    endpoints={"binance": spot, "binance-usdm": perp})
        async with feed:
            view = BasisView(feed, "binance", "BTC-USDT-PERP")
            assert view.spot == ("binance", "BTC-USDT")
            log = ChangeLog(view)
            await until(feed, lambda: synced(feed) and len(feed.funding.to_pandas()["funding_rate"].unique()) >= 3,
                        timeout=30, what="books synced and two funding rolls")
            for _ in range(3):
                cursor = feed.top_of_book.total
                await until(feed, lambda c=cursor: feed.top_of_book.total > c + 5, what="new tops")
                await view.refresh()
                at_most_once(log.take(), [view])
            await view.refresh()  # nothing new since the last refresh (the feed runs on this loop): nothing sent
            assert log.take() == Counter()
            tops = feed.top_of_book.to_pandas()
            funding = feed.funding.to_pandas()
    # The expected basis, recomputed with pandas: each market's mid carried forward, from the first row with both.
    mids = pd.DataFrame({"perp": tops["mid"].where(tops["symbol"] == "BTC-USDT-PERP"),
                         "spot": tops["mid"].where(tops["symbol"] == "BTC-USDT")}).ffill().dropna()
    rows = shown(view.sources["basis"])
    np.testing.assert_allclose(rows["derivative"], mids["perp"])
    np.testing.assert_allclose(rows["spot"], mids["spot"])
    np.testing.assert_allclose(rows["basis"], mids["perp"] - mids["spot"])
    premium = (mids["perp"] - mids["spot"]) / mids["spot"]
    np.testing.assert_allclose(rows["annual"], premium * 3 * 365.25 * 100)
    assert (np.diff(rows["ts"]) >= 0).all()
    # Funding: every change of rate or next funding time is kept, the newest row last, annualised per 8 h.
    paid = shown(view.sources["funding"])
    changes = funding[(funding["funding_rate"].diff() != 0) | (funding["next_funding"].diff() != pd.Timedelta(0))]
    assert set(np.round(paid["rate"], 10)) == set(np.round(changes["funding_rate"] * 100, 10))
    assert paid["rate"].iloc[-1] == pytest.approx(funding["funding_rate"].iloc[-1] * 100)
    assert paid["next_funding"].iloc[-1] == funding["next_funding"].iloc[-1].value / 1e6
    np.testing.assert_allclose(paid["annual"], paid["rate"] * 3 * 365.25)


async def test_basis_of_a_dated_future_is_annualised_over_its_time_to_expiry() -> None:
    future = f"BTC-USDT-{EXPIRIES[0]}"
    async with BinanceSim(["BTC-USDT"], seed=5, interval=0.01) as spot, \
            BinanceUsdmSim([future], seed=5, interval=0.01) as usdm:
        feed = Feed(["binance:BTC-USDT", f"binance:{future}"], channels=["book"], connection=STEADY,
                    endpoints={"binance": spot, "binance-usdm": usdm})
        async with feed:
            view = BasisView(feed, "binance", future, spot="binance:BTC-USDT")
            assert "funding" not in view.sources
            await until(feed, lambda: synced(feed) and feed.top_of_book.total > 20, what="books synced")
            await view.refresh()
            tops = feed.top_of_book.to_pandas()
    rows = shown(view.sources["basis"])
    assert len(rows)
    expires = pd.Timestamp(EXPIRIES[0], tz="UTC") + pd.Timedelta(hours=8)
    ts = pd.to_datetime(rows["ts"], unit="ms", utc=True)
    years = (expires - ts).dt.total_seconds() / YEAR_S
    np.testing.assert_allclose(rows["annual"], rows["basis"] / rows["spot"] / years * 100, rtol=1e-9)
    last_future = tops[tops["symbol"] == future]["mid"].iloc[-1]
    assert rows["derivative"].iloc[-1] == pytest.approx(last_future)


async def test_funding_of_three_venues_one_source_each_and_the_next_funding_in_the_title() -> None:
    async with BinanceUsdmSim(["BTC-USDT-PERP"], seed=6, interval=0.01, funding_interval=1.0) as binance, \
            BybitLinearSim(["BTC-USDT-PERP"], seed=6, interval=0.01) as bybit, \
            OkxSwapSim(["BTC-USDT-PERP"], seed=6, interval=0.01) as okx:
        markets = [("binance", "BTC-USDT-PERP"), ("bybit", "BTC-USDT-PERP"), ("okx", "BTC-USDT-PERP")]
        feed = Feed([f"{v}:{s}" for v, s in markets], channels=["book"], connection=STEADY,
                    endpoints={"binance-usdm": binance, "bybit-linear": bybit, "okx-swap": okx})
        async with feed:
            view = FundingView(feed)
            assert view.markets == markets
            with pytest.raises(ValueError, match="subscribed perpetuals"):
                FundingView(feed, ["deribit:BTC-USD-PERP"])
            log = ChangeLog(view)

            def every_market_funded() -> bool:
                seen = feed.funding.to_pandas()
                return set(zip(seen["venue"].astype(str), seen["symbol"].astype(str), strict=True)) >= set(markets)

            await until(feed, every_market_funded, timeout=30, what="funding from every venue")
            await view.refresh()
            at_most_once(log.take(), [view])
            await view.refresh()
            assert log.take() == Counter()
            funding = feed.funding.to_pandas()
    for venue, symbol in markets:
        rows = shown(view.sources[f"{venue}:{symbol}"])
        mine = funding[(funding["venue"] == venue) & (funding["symbol"] == symbol)]
        assert rows["rate"].iloc[-1] == pytest.approx(mine["funding_rate"].iloc[-1] * 100)
        assert rows["mark"].iloc[-1] == mine["mark_price"].iloc[-1]
        assert set(np.round(rows["rate"], 10)) == set(np.round(mine["funding_rate"].dropna() * 100, 10))
    soonest = min(funding.groupby(["venue", "symbol"], observed=True)["next_funding"].last())
    assert view.layout.title.text.endswith(f"next funding {soonest:%Y-%m-%d %H:%M} UTC")


async def test_liquidations_tape_is_the_frame_over_the_mid() -> None:
    async with OkxSwapSim(["BTC-USDT-PERP"], seed=7, interval=0.01, liquidation_prob=0.5) as okx:
        feed = Feed(["okx:BTC-USDT-PERP"], channels=["book"], connection=STEADY, endpoints={"okx-swap": okx})
        async with feed:
            view = LiquidationsView(feed, "okx", "BTC-USDT-PERP")
            log = ChangeLog(view)
            await until(feed, lambda: len(feed.liquidations) >= 4, timeout=30, what="four liquidations")
            await view.refresh()
            at_most_once(log.take(), [view])
            await view.refresh()
            assert log.take() == Counter()
            liquidations = feed.liquidations.to_pandas()
            tops = feed.top_of_book.to_pandas()
    tape = view.sources["liquidations"].data
    np.testing.assert_allclose(tape["price"], liquidations["price"])
    np.testing.assert_allclose(tape["size"], liquidations["size"])
    assert list(tape["buy"]) == (liquidations["side"] == "buy").astype(int).tolist()
    np.testing.assert_allclose(tape["ts"], liquidations["ts"].astype("int64") / 1e6)
    order = np.argsort(tape["size"])  # marker area grows with size
    assert (np.diff(np.asarray(tape["radius"])[order]) >= 0).all()
    np.testing.assert_allclose(shown(view.sources["price"])["mid"], tops["mid"])


async def test_smile_and_term_structure_follow_the_option_quotes() -> None:
    async with DeribitSim(OPTIONS, seed=8, interval=0.02) as deribit:
        feed = Feed([f"deribit:{o}" for o in OPTIONS], channels=["ticker"], connection=STEADY,
                    endpoints={"deribit": deribit})
        async with feed:
            smile = SmileView(feed, "deribit", "btc", EXPIRIES[0])
            term = TermStructureView(feed, "deribit", "BTC")
            with pytest.raises(ValueError, match="option expiries there"):
                SmileView(feed, "deribit", "BTC", "2020-01-03")
            log = ChangeLog(smile, term)
            await until(feed, lambda: len(set(feed.options.to_pandas()["symbol"].astype(str))) == len(OPTIONS),
                        timeout=30, what="a quote of every option")
            for _ in range(2):
                cursor = feed.options.total
                await until(feed, lambda c=cursor: feed.options.total > c + len(OPTIONS), what="new quotes")
                await smile.refresh()
                await term.refresh()
                at_most_once(log.take(), [smile, term])
            await smile.refresh()
            await term.refresh()
            assert log.take() == Counter()
            options = feed.options.to_pandas()
    latest = options.groupby("symbol", observed=True).last()
    forward = {e: options[options["symbol"].astype(str).str.contains(e)]["underlying_price"].iloc[-1]
               for e in EXPIRIES}
    data = smile.sources["smile"].data
    assert list(data["strike"]) == list(STRIKES)
    for strike, option, mark, bid, ask in zip(data["strike"], data["option"], data["mark_iv"], data["bid_iv"],
                                              data["ask_iv"], strict=True):
        otm = "P" if strike < forward[EXPIRIES[0]] else "C"
        assert option == f"BTC-USD-{EXPIRIES[0]}-{strike:g}-{otm}"
        assert (mark, bid, ask) == pytest.approx(tuple(latest.loc[option, ["mark_iv", "bid_iv", "ask_iv"]] * 100))
    assert smile.sources["meta"].data["forward"] == [forward[EXPIRIES[0]]]
    term_rows = term.sources["term"].data
    assert term_rows["options"] == [6, 6] and term_rows["forward"] == [forward[e] for e in EXPIRIES]
    assert term_rows["days"][0] < term_rows["days"][1]
    # the first expiry's ATM IV is its smile's mark IV interpolated at the forward
    assert term_rows["atm_iv"][0] == pytest.approx(np.interp(forward[EXPIRIES[0]], data["strike"], data["mark_iv"]))


def test_dashboard_extras_pick_funding_basis_liquidations_and_options() -> None:
    subs = ["binance:BTC-USDT", "binance:BTC-USDT-PERP", "deribit:BTC-USD-PERP", *(f"deribit:{o}" for o in OPTIONS)]
    feed = Feed(subs, channels=["book", "ticker"])  # the views are built before the feed starts
    views = derivatives_views(feed, [str(s) for s in feed.subscriptions])
    assert [(v.kind, v.venue, v.symbol) for v in views] == [
        ("funding", "multi", "funding"), ("basis", "binance", "BTC-USDT-PERP"), ("basis", "deribit", "BTC-USD-PERP"),
        ("liquidations", "binance", "BTC-USDT-PERP"), ("smile", "deribit", f"BTC-{EXPIRIES[0]}"),
        ("term_structure", "deribit", "BTC")]
    assert views[2].spot == ("binance", "BTC-USDT")  # no USD spot: the same asset's spot market
    picked = {symbol: [v.kind for v in market_derivatives_views(feed, venue, symbol)]
              for venue, symbol in (("binance", "BTC-USDT"), ("deribit", "BTC-USD-PERP"), ("deribit", OPTIONS[0]))}
    assert picked == {"BTC-USDT": [], "BTC-USD-PERP": ["basis", "funding", "liquidations"],
                      OPTIONS[0]: ["smile", "term_structure"]}


async def test_dashboard_shows_the_derivatives_and_the_page_those_of_the_picked_market() -> None:
    async with BinanceSim(["BTC-USDT"], seed=10, interval=0.01) as spot, \
            BinanceUsdmSim(["BTC-USDT-PERP"], seed=10, interval=0.01) as perp:
        feed = Feed(["binance:BTC-USDT", "binance:BTC-USDT-PERP"], channels=["trades", "book"], connection=STEADY,
                    endpoints={"binance": spot, "binance-usdm": perp})
        async with feed:
            await until(feed, lambda: synced(feed) and len(feed.funding) > 0, timeout=30, what="books and funding")
            dash = feed.dashboard(period=0.05)
            try:
                assert [v.kind for v in dash.extras] == ["funding", "basis", "liquidations"]
                assert len(dash.views) == 4 and dash.plot is not None and dash.plot.views == [*dash.views,
                                                                                              *dash.extras]
                dash.picker.value = "binance:BTC-USDT-PERP"  # the market's views move; the derivatives stay
                assert {v.symbol for v in dash.views} == {"BTC-USDT-PERP"}
                assert dash.extras[1].symbol == "BTC-USDT-PERP" and dash.extras[1].spot == ("binance", "BTC-USDT")
                await until(feed, lambda: len(dash.extras[1].sources["basis"].data["ts"]) > 0, what="a basis row")
            finally:
                dash.close()
            doc = Document()
            views = dashboard_document(feed, doc)  # the page shows a picked market's derivatives views only
            assert [v.kind for v in views] == ["depth", "spread", "trades", "imbalance"]
            doc.get_model_by_name("market").value = "binance:BTC-USDT-PERP"
            assert [v.kind for v in views][4:] == ["basis", "funding", "liquidations"]
            for name in ("funding:binance:BTC-USDT-PERP", "basis:binance:BTC-USDT-PERP",
                         "liquidations:binance:BTC-USDT-PERP"):
                assert doc.get_model_by_name(name) is not None, name
