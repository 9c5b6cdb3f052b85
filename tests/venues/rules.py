"""Drive a venue's pure book-sync rule the way ``MarketAdapter.settle`` does: judge, then apply and verify."""

from __future__ import annotations

from typing import Any

from livefeed.book import OrderBook
from livefeed.model import BookDelta, BookSnapshot
from livefeed.venues.book_sync import Verdict, apply_judged

__all__ = ["drive", "drive_okx"]


def drive(rule: Any, book: OrderBook, event: BookSnapshot | BookDelta, *judged: Any) -> Verdict:
    """``rule.judge(event, *judged)``; on ``APPLY`` the event is applied to ``book`` and the rule verifies it."""
    verdict = rule.judge(event, *judged)
    return apply_judged(rule, book, event) if verdict is Verdict.APPLY else verdict


def drive_okx(checker: Any, book: OrderBook, message: Any) -> Verdict:
    """OKX's rule judges the message with its strings; a keep-alive in sequence has nothing to apply."""
    verdict = checker.judge(message)
    if verdict is not Verdict.APPLY or message.is_keepalive:
        return verdict
    return apply_judged(checker, book, message.to_event("BTC-USDT", 0))
