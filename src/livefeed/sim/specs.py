"""What a simulated symbol trades at: its price and size grids, how its numbers print, and its start price.

Prices and sizes live as integers (ticks of ``10**-price_decimals``, lots of ``10**-qty_decimals``) and are
printed as exact fixed-point strings, padded to ``wire_decimals`` as the venue does.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

__all__ = ["SymbolSpec", "spec_for", "DEFAULT_SPECS"]


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """What a symbol trades at: the grid of prices and sizes, and where the price starts.

    ``wire_decimals`` is how many decimals the strings carry: Binance spot pads every price and quantity to 8
    (``"61837.63000000"``, ``"0.02000000"``) whatever the tick or step size, so values live on the tick / step grid
    and are printed with 8 decimals.
    """

    base: str
    quote: str
    price_decimals: int
    qty_decimals: int
    tick: float
    start_price: float
    wire_decimals: int = 8

    @property
    def venue_symbol(self) -> str:
        return f"{self.base}{self.quote}".upper()

    @property
    def canonical(self) -> str:
        return f"{self.base}-{self.quote}".upper()

    @property
    def tick_units(self) -> int:
        """The tick in units of ``10**-price_decimals`` (0.01 with 2 decimals -> 1; 0.05 -> 5)."""
        return max(1, round(self.tick * 10**self.price_decimals))

    def price_str(self, units: int) -> str:
        return _fixed(units, self.price_decimals, self.wire_decimals)

    def qty_str(self, lots: int) -> str:
        return _fixed(lots, self.qty_decimals, self.wire_decimals)

    def step_size_str(self) -> str:
        return _fixed(1, self.qty_decimals, self.wire_decimals)

    def tick_size_str(self) -> str:
        return _fixed(self.tick_units, self.price_decimals, self.wire_decimals)


DEFAULT_SPECS: dict[str, SymbolSpec] = {
    "BTC-USDT": SymbolSpec("BTC", "USDT", price_decimals=2, qty_decimals=5, tick=0.01, start_price=60000.0),
    "ETH-USDT": SymbolSpec("ETH", "USDT", price_decimals=2, qty_decimals=4, tick=0.01, start_price=3000.0),
    "SOL-USDT": SymbolSpec("SOL", "USDT", price_decimals=2, qty_decimals=3, tick=0.01, start_price=150.0),
}


_DOLLAR_QUOTES = frozenset({"USD", "USDT", "USDC"})
_DOLLAR_PRICES = {spec.base: spec.start_price for spec in DEFAULT_SPECS.values() if spec.quote in _DOLLAR_QUOTES}


def spec_for(symbol: str) -> SymbolSpec:
    """The spec for a canonical ``BASE-QUOTE`` symbol; unknown pairs get a stable made-up price from their name
    (the known price of their base, e.g. SOL, when quoted in dollars)."""
    text = symbol.strip().upper().replace("/", "-").replace("_", "-")
    if text in DEFAULT_SPECS:
        return DEFAULT_SPECS[text]
    base, sep, quote = text.partition("-")
    if not sep or not base.isalnum() or not quote.isalnum():
        raise ValueError(f"symbol {symbol!r} is not in the canonical BASE-QUOTE form, e.g. 'BTC-USDT'")
    known = _DOLLAR_PRICES.get(base) if quote in _DOLLAR_QUOTES else None
    # crc32, not hash(): the made-up price must not change with PYTHONHASHSEED. Keyed by the base alone for dollar
    # quotes, so e.g. PEPE-USD and PEPE-USDT on two venues follow one fair price.
    key = base if quote in _DOLLAR_QUOTES else text
    start = known if known is not None else 1.0 + (zlib.crc32(key.encode()) % 50_000) / 100
    return SymbolSpec(base, quote, price_decimals=4, qty_decimals=2, tick=0.0001, start_price=start)


def _fixed(units: int, decimals: int, wire: int) -> str:
    # String slicing, not divmod + a nested format spec: about twice as fast, and snapshots print 10**5 numbers.
    if decimals == 0:
        return f"{units}." + "0" * wire if wire else str(units)
    digits = str(units).rjust(decimals + 1, "0")
    pad = wire - decimals
    return f"{digits[:-decimals]}.{digits[-decimals:]}{'0' * pad if pad > 0 else ''}"
