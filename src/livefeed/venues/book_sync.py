"""The one vocabulary of book sync: what a venue's rule may say about a book message, and the counters it moves.

Every venue keeps its local book exact by its own rule (Binance's update-id chain, Bybit's ``u``, OKX's
``prevSeqId`` and CRC32, Kraken's CRC32, Coinbase's per-connection ``sequence_num``). Each rule is a small pure
state machine that says one :class:`Verdict` per message; :meth:`livefeed.venues.base.MarketAdapter.settle` does
the rest the same way for every venue: apply to the book, verify, count, emit, resync.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from ..book import OrderBook
from ..model import BookDelta, BookSnapshot

__all__ = ["Verdict", "SyncStats", "BookRule", "apply_judged"]


class Verdict(Enum):
    """What to do with one book message (a snapshot or a delta)."""

    APPLY = "apply"
    """In sequence: apply it to the book (a snapshot replaces the book)."""
    STALE = "stale"
    """Nothing to apply: already covered by the book, or no snapshot yet to apply it to (dropped, counted)."""
    BUFFERED = "buffered"
    """Kept by the rule until a snapshot arrives (Binance: the diff stream runs ahead of the REST snapshot)."""
    GAP = "gap"
    """Messages were lost: the book cannot be trusted until it is rebuilt from a fresh snapshot."""
    CHECKSUM_FAIL = "checksum_fail"
    """Applied, but the book disagrees with the venue's checksum: it is wrong, rebuild it."""


class BookRule(Protocol):
    """A venue's pure book-sync rule for one symbol, as :class:`~livefeed.venues.base.MarketAdapter` drives it.

    Each rule also has its own ``judge(...)`` for the venue's message type, returning a :class:`Verdict`; a rule
    that says ``GAP`` or ``CHECKSUM_FAIL`` has already reset itself (Binance's keeps the diff that showed the gap,
    which may follow the next snapshot).
    """

    def reset(self) -> None:
        """Forget the book's position: the next thing it accepts is a snapshot (disconnect, silent book)."""

    def verify(self, book: OrderBook) -> bool:
        """After the judged message was applied: the venue's own fix-up and check of ``book`` (truncation to the
        subscribed depth, the checksum). ``False`` means the book is wrong; sequence-only rules return ``True``."""


def apply_judged(rule: BookRule, book: OrderBook, event: BookSnapshot | BookDelta) -> Verdict:
    """Apply ``event``, which ``rule`` judged ``APPLY``, to ``book``, then let the rule verify the result:
    ``APPLY``, or ``CHECKSUM_FAIL`` when the book fails the venue's check."""
    if type(event) is BookSnapshot:
        book.apply_snapshot(event.bids, event.asks, event.sequence)
    else:
        book.apply_delta(event.bids, event.asks, event.sequence)
    return Verdict.APPLY if rule.verify(book) else Verdict.CHECKSUM_FAIL


@dataclass(slots=True)
class SyncStats:
    """How one symbol's local book has been kept exact."""

    venue: str
    symbol: str
    synced: bool = False
    snapshots: int = 0
    deltas: int = 0
    stale: int = 0
    gaps: int = 0
    resyncs: int = 0
    checksum_failures: int = 0
    stale_resyncs: int = 0
    """Resyncs forced because the book had no update for ``book_stale_after`` while its connection was up."""
    last_sequence: int | None = None
    trade_gaps: int = 0
    """Holes in the venue's trade ids (where it numbers its trades contiguously per market)."""
    missing_trades: int = 0
    """Trade ids in those holes."""

    def as_row(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]
