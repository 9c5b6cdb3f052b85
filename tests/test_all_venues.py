"""All five venues in one feed, each against its own simulator: every local book ends equal to its simulator's
true book, and the consolidated cross-venue view picks the best quote across them."""

from __future__ import annotations

import contextlib

from livefeed import Feed
from livefeed.commands.demo import MARKET_VENUES, default_subscriptions
from livefeed.sim import SIMULATORS

from .conftest import STEADY, until


async def test_five_venues_in_one_feed() -> None:
    by_venue = default_subscriptions(MARKET_VENUES, "BTC,ETH")
    async with contextlib.AsyncExitStack() as stack:
        sims = {}
        for seed, (venue, symbols) in enumerate(by_venue.items()):
            sims[venue] = await stack.enter_async_context(
                SIMULATORS[venue](symbols=symbols, seed=seed, interval=0.01)
            )
        subscriptions = [f"{v}:{s}" for v, symbols in by_venue.items() for s in symbols]
        feed = await stack.enter_async_context(
            Feed(subscriptions, channels=["trades", "book", "ticker"], endpoints=sims, connection=STEADY)
        )

        def all_synced() -> bool:
            rows = feed.book_stats()
            return len(rows) == 10 and bool(rows["synced"].all()) and bool((rows["deltas"] > 0).all())

        await until(feed, all_synced, timeout=30, what="all ten books synced")
        assert set(feed.trades.to_pandas()["venue"].astype(str)) <= set(MARKET_VENUES)
        for sim in sims.values():
            sim.pause()

        def all_exact() -> bool:
            return all(
                feed.books[(venue, symbol)].to_dict() == sims[venue].true_book(symbol)
                for venue, symbols in by_venue.items()
                for symbol in symbols
            )

        await until(feed, all_exact, timeout=30, what="every book equal to its simulator's")
        assert all(not book.crossed for book in feed.books.values())
        assert int(feed.stats()["reconnects"].sum()) == 0

        quote = feed.consolidated("BTC-USD", quote_map={"USDT": "USD"})
        btc = {v: b for (v, s), b in feed.books.items() if s.startswith("BTC-")}
        assert quote.bid == max(b.best_bid[0] for b in btc.values())
        assert quote.ask == min(b.best_ask[0] for b in btc.values())
        assert btc[quote.bid_venue].best_bid[0] == quote.bid and btc[quote.ask_venue].best_ask[0] == quote.ask
        assert {q.venue for q in quote.venues} == set(MARKET_VENUES)
        usd_only = feed.consolidated("BTC-USD")
        assert {q.venue for q in usd_only.venues} == {"coinbase", "kraken"}
