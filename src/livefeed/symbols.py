"""Canonical ``BASE-QUOTE`` symbols and the checks that make bad input fail early with a useful message."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from .errors import UnknownSymbolError

__all__ = ["canonical", "split", "check_known", "close_matches"]

_CANONICAL = re.compile(r"^[A-Z0-9]{1,20}-[A-Z0-9]{1,20}$")


def canonical(symbol: str) -> str:
    """Normalise ``btc-usdt`` / ``BTC/USDT`` / ``btc_usdt`` to ``BTC-USDT``; raise for anything else."""
    text = symbol.strip().upper().replace("/", "-").replace("_", "-")
    if not _CANONICAL.match(text):
        raise UnknownSymbolError(
            f"symbol {symbol!r} is not in the canonical BASE-QUOTE form, e.g. 'BTC-USDT'"
        )
    return text


def split(symbol: str) -> tuple[str, str]:
    base, quote = canonical(symbol).split("-")
    return base, quote


def close_matches(symbol: str, known: Iterable[str], n: int = 5) -> list[str]:
    return difflib.get_close_matches(symbol, list(known), n=n, cutoff=0.5)


def check_known(venue: str, symbols: Iterable[str], known: Iterable[str]) -> None:
    """Raise ``UnknownSymbolError`` naming every symbol the venue does not list, with close matches."""
    known_set = set(known)
    problems = []
    for symbol in symbols:
        if symbol not in known_set:
            matches = close_matches(symbol, known_set)
            hint = f" (did you mean {', '.join(matches)}?)" if matches else ""
            problems.append(f"{symbol!r}{hint}")
    if problems:
        raise UnknownSymbolError(f"{venue} does not list {'; '.join(problems)}")
