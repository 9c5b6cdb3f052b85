"""Live audit: independent evidence, per book, that the local book is right.

Three kinds of evidence, each counted per book (``feed.audit()``, Prometheus ``livefeed_audit_checks_total``):

* ``book_ticker`` (Binance): the venue's own ``bookTicker`` best bid/ask carries the update id ``u`` it describes.
  When the local book stands at exactly that id (the diff that ends at ``u`` has just been applied) its top must
  equal the ticker's, prices and sizes. A ticker that names an id inside a diff batch, or one the book has moved
  past, cannot be matched and is counted ``unverifiable``. A disagreement means a bug or a missed update: the book
  is resynced and the resync counted.
* ``checksum`` (Kraken, OKX): the CRC32 the venue sends with each update, which the book rules already verify;
  passes and failures per book.
* ``rest_top`` (Binance, with ``Feed(audit_every=seconds)``): the REST depth snapshot's best levels at its
  ``lastUpdateId``, matched against the book at that id exactly like a ticker.

Keeping it cheap: nothing is recorded per diff. A reference (ticker or REST top) whose id the book has not reached
is kept pending (at most ``max_pending`` per book); after each applied diff the adapter asks :meth:`BookAudit.settle`
only while something is pending, which compares when the book's id equals the reference's and gives up on those it
has passed. The recorded Binance session shows every matchable ticker agreeing (tests/venues/test_binance_recorded).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .book import OrderBook

__all__ = ["AuditCounts", "BookAudit", "audit_rows", "audit_every_loop", "Top", "KINDS", "RESULTS", "AUDIT_COLUMNS"]

log = logging.getLogger(__name__)

Top = tuple[float, float, float, float]
"""``(bid price, bid size, ask price, ask size)``."""

KINDS = ("book_ticker", "rest_top", "checksum")
RESULTS = ("agree", "disagree", "unverifiable")
AUDIT_COLUMNS = ("venue", "symbol", "kind", "checks", "agree", "disagree", "unverifiable", "resyncs",
                 "last_disagreement")


@dataclass(slots=True)
class AuditCounts:
    """One kind of evidence about one book."""

    venue: str
    symbol: str
    kind: str
    agree: int = 0
    disagree: int = 0
    unverifiable: int = 0
    resyncs: int = 0
    """Resyncs this audit forced after a disagreement."""
    last_disagreement: str | None = None

    def as_row(self) -> dict[str, object]:
        row: dict[str, object] = {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]
        row["checks"] = self.agree + self.disagree
        return row


def book_top(book: OrderBook) -> Top | None:
    bid, ask = book.best_bid, book.best_ask
    if bid is None or ask is None:
        return None
    return (bid[0], bid[1], ask[0], ask[1])


class BookAudit:
    """One adapter's reference matching (book tickers, REST tops) for its books, pure but for the books it reads.

    :meth:`reference` takes a reference top at an update id; :meth:`settle` runs after each applied diff while
    :attr:`pending` is not empty. Both return the symbols whose book disagreed (the adapter resyncs those).
    """

    def __init__(self, venue: str, symbols: Iterable[str], kinds: Iterable[str], max_pending: int = 64) -> None:
        self.venue = venue
        self.counts: dict[tuple[str, str], AuditCounts] = {
            (s, k): AuditCounts(venue, s, k) for s in symbols for k in kinds
        }
        self.pending: dict[str, dict[int, tuple[str, Top]]] = {}
        """Symbol -> update id -> (kind, top) not yet reached by the book; empty when nothing waits (the hot
        path's one check)."""
        self.max_pending = max_pending

    def reference(self, symbol: str, kind: str, update_id: int, top: Top, book: OrderBook, synced: bool) -> bool:
        """A reference ``top`` at ``update_id``; ``False`` when the book disagrees now (resync it)."""
        counts = self.counts.get((symbol, kind))
        if counts is None:
            counts = self.counts[(symbol, kind)] = AuditCounts(self.venue, symbol, kind)
        at = book.sequence
        if not synced or at is None or update_id < at:
            counts.unverifiable += 1
            return True
        if update_id == at:
            return self._compare(counts, update_id, top, book)
        waiting = self.pending.setdefault(symbol, {})
        if len(waiting) >= self.max_pending:
            del waiting[min(waiting)]
            counts.unverifiable += 1
        waiting[update_id] = (kind, top)
        return True

    def settle(self, symbol: str, book: OrderBook) -> bool:
        """After a diff applied to ``symbol``'s book: compare references at the book's id, drop those it passed;
        ``False`` when one disagreed."""
        waiting = self.pending.get(symbol)
        at = book.sequence
        if not waiting or at is None:
            return True
        right = True
        for update_id in [i for i in waiting if i <= at]:
            kind, top = waiting.pop(update_id)
            counts = self.counts[(symbol, kind)]
            if update_id == at:
                right = self._compare(counts, update_id, top, book) and right
            else:
                counts.unverifiable += 1  # the id fell inside a diff batch: that state was never the book's
        if not waiting:
            del self.pending[symbol]
        return right

    def forget(self, symbol: str) -> None:
        """The book is resyncing: what waits for it can no longer be matched."""
        waiting = self.pending.pop(symbol, None)
        for kind, _top in (waiting or {}).values():
            self.counts[(symbol, kind)].unverifiable += 1

    def _compare(self, counts: AuditCounts, update_id: int, top: Top, book: OrderBook) -> bool:
        mine = book_top(book)
        if mine == top:
            counts.agree += 1
            return True
        counts.disagree += 1
        counts.resyncs += 1
        counts.last_disagreement = f"id {update_id}: venue {top}, local {mine}"
        log.warning("%s %s: the book disagrees with the venue's %s at update %d (venue %s, local %s): resyncing",
                    self.venue, counts.symbol, counts.kind, update_id, top, mine)
        return False


def audit_rows(adapters: Iterable[Any]) -> list[dict[str, object]]:
    """One row per (venue, symbol, kind) of evidence the adapters hold: their :class:`BookAudit` counts, and the
    checksum passes and failures of rules that verify one (Kraken ``checked``, OKX ``checksums_verified``)."""
    rows: list[dict[str, object]] = []
    for adapter in adapters:
        audit = getattr(adapter, "book_audit", None)
        if audit is not None:
            rows.extend(c.as_row() for c in list(audit.counts.values()))
        for symbol, rule in list(getattr(adapter, "rules", {}).items()):
            sync = adapter.sync[symbol]
            if hasattr(rule, "checksums_verified"):
                passed = rule.checksums_verified
            elif hasattr(rule, "checked") and hasattr(rule, "expected"):
                passed = max(0, rule.checked - sync.checksum_failures)
            else:
                continue
            counts = AuditCounts(adapter.name, symbol, "checksum", agree=passed, disagree=sync.checksum_failures,
                                 resyncs=sync.checksum_failures)
            rows.append(counts.as_row())
    return rows


async def audit_every_loop(adapters: Iterable[Any], seconds: float) -> None:
    """Every ``seconds``, one REST top check of each book of the adapters that have one (``audit_rest_top``),
    paced by the adapter's REST pacer; a failed request is logged and the next period tries again."""
    from .errors import LivefeedError

    books = [(a, s) for a in adapters if hasattr(a, "audit_rest_top") for s in a.symbols]
    while books:
        await asyncio.sleep(seconds)
        for adapter, symbol in books:
            try:
                await adapter.audit_rest_top(symbol)
            except (LivefeedError, KeyError, TypeError, ValueError) as exc:
                log.info("%s %s: REST audit check failed (%s)", adapter.name, symbol, exc)
