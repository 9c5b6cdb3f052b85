"""The instrument names livefeed accepts after ``venue:``: one scheme for spot, perpetuals, dated futures and options.

=================================  ===========================================================
``BTC-USDT``                        spot
``BTC-USDT-PERP``                   perpetual swap (linear when the quote is a stablecoin)
``BTC-USDT-20261225``               dated future expiring on that UTC date
``BTC-USD-20261225-80000-C``        option: expiry, strike, ``C`` (call) or ``P`` (put)
=================================  ===========================================================

The venue name says where (``binance``, ``okx``, ``deribit``, ...) and the suffix what: one venue name per exchange,
so ``binance:BTC-USDT`` and ``binance:BTC-USDT-PERP`` are the same exchange's spot and USD-M perpetual. Each venue
maps the canonical name to its own (``BTCUSDT``, ``BTC-USDT-SWAP``, ``BTC-25DEC26-80000-C``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from .errors import UnknownSymbolError

__all__ = ["Kind", "Instrument", "parse_instrument", "kind_of"]

_ASSET = re.compile(r"^[A-Z0-9]{1,20}$")
_EXAMPLES = "'BTC-USDT' (spot), 'BTC-USDT-PERP', 'BTC-USDT-20261225' (future) or 'BTC-USD-20261225-80000-C' (option)"


class Kind(StrEnum):
    SPOT = "spot"
    PERP = "perp"
    FUTURE = "future"
    OPTION = "option"


@dataclass(slots=True, frozen=True)
class Instrument:
    base: str
    quote: str
    kind: Kind = Kind.SPOT
    expiry: dt.date | None = None
    strike: float | None = None
    right: str | None = None
    """``"C"`` or ``"P"`` for an option."""

    @property
    def pair(self) -> str:
        """``BASE-QUOTE``: the asset pair, whatever the kind (the spot market of the same assets)."""
        return f"{self.base}-{self.quote}"

    def __str__(self) -> str:
        if self.kind is Kind.SPOT:
            return self.pair
        if self.kind is Kind.PERP:
            return f"{self.pair}-PERP"
        day = self.expiry.strftime("%Y%m%d")  # type: ignore[union-attr]
        if self.kind is Kind.FUTURE:
            return f"{self.pair}-{day}"
        return f"{self.pair}-{day}-{_strike_text(self.strike)}-{self.right}"  # type: ignore[arg-type]


def _strike_text(strike: float) -> str:
    return str(int(strike)) if strike == int(strike) else repr(strike)


def _bad(text: str, why: str) -> UnknownSymbolError:
    return UnknownSymbolError(f"instrument {text!r} {why}; write it as {_EXAMPLES}")


def _expiry(text: str, part: str) -> dt.date:
    if not (len(part) == 8 and part.isdigit()):
        raise _bad(text, f"has {part!r} where PERP or an expiry date YYYYMMDD belongs")
    try:
        return dt.date(int(part[:4]), int(part[4:6]), int(part[6:]))
    except ValueError:
        raise _bad(text, f"has an expiry {part!r} that is not a calendar date") from None


def parse_instrument(text: str) -> Instrument:
    """``btc-usdt-perp`` / ``BTC/USDT`` / ``BTC-USD-20261225-80000-C`` -> :class:`Instrument`; a clear
    ``UnknownSymbolError`` for anything else."""
    if not isinstance(text, str):
        raise UnknownSymbolError(f"instrument {text!r} is not a string; write it as {_EXAMPLES}")
    norm = text.strip().upper().replace("/", "-").replace("_", "-")
    parts = norm.split("-")
    if len(parts) < 2 or not all(_ASSET.match(p) for p in parts[:2]):
        raise _bad(text, "does not start with BASE-QUOTE")
    base, quote, rest = parts[0], parts[1], parts[2:]
    if not rest:
        return Instrument(base, quote)
    if len(rest) == 1:
        if rest[0] == "PERP":
            return Instrument(base, quote, Kind.PERP)
        return Instrument(base, quote, Kind.FUTURE, _expiry(text, rest[0]))
    if len(rest) == 3:
        day, strike_text, right = rest
        expiry = _expiry(text, day)
        try:
            strike = float(strike_text)
        except ValueError:
            raise _bad(text, f"has a strike {strike_text!r} that is not a number") from None
        if not strike > 0 or strike != strike or strike == float("inf"):
            raise _bad(text, f"has a strike {strike_text!r} that is not a positive price")
        if right not in ("C", "P"):
            raise _bad(text, f"ends in {right!r}: an option ends in C (call) or P (put)")
        return Instrument(base, quote, Kind.OPTION, expiry, strike, right)
    raise _bad(text, f"has {len(parts)} parts")


def kind_of(symbol: str) -> Kind:
    """The kind of a canonical instrument name (cheap: by its shape)."""
    parts = symbol.count("-")
    if parts <= 1:
        return Kind.SPOT
    if parts == 2:
        return Kind.PERP if symbol.endswith("-PERP") else Kind.FUTURE
    return Kind.OPTION
