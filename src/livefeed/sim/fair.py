"""The fair price every simulated venue quotes around, and how each venue sees it.

Each simulator is its own object, often in its own process, so the venues cannot share a random walk by stepping
one. Instead the fair price is a pure function of ``(seed, base asset, time)``: a sum of smooth random curves
(Gaussian knots at fixed time spacings, linearly interpolated), one per time scale from a second to half a
day. Scale ``T`` gets a knot spread of ``VOLATILITY * sqrt(T / 2)``, so moves over a lag ``tau`` grow about like
``VOLATILITY * sqrt(tau)`` (a random walk) while the price stays within a few percent of its start for good.
A venue sees that price ``latency_ms`` late plus its own small noise, so venues agree to within a fraction of
a basis point, differ from one another, and are crossed only rarely and briefly.
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass
from statistics import NormalDist

__all__ = [
    "VOLATILITY",
    "VENUE_PROFILES",
    "FairPrice",
    "ValueNoise",
    "VenueProfile",
    "VenueQuote",
    "opening_time_ms",
    "venue_profile",
]

VOLATILITY = 0.8e-4
"""Log-price moves per square-root second (0.8 bp; ~45% a year, about what BTC shows)."""
_SCALES_MS = (1_000, 6_000, 36_000, 216_000, 1_296_000, 7_776_000, 46_656_000)
_MASK64 = (1 << 64) - 1
_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class VenueProfile:
    """How one venue sees the fair price and what its book looks like.

    ``latency_ms``: how late it sees the fair price; ``noise_bp``: the spread of its own deviation from it;
    ``half_spread_bp``: where its best bid / ask sit around its own view (at least half a tick);
    ``size_scale``: its resting and traded sizes relative to the others.
    """

    latency_ms: int
    noise_bp: float
    half_spread_bp: float
    size_scale: float


VENUE_PROFILES: dict[str, VenueProfile] = {
    "binance": VenueProfile(latency_ms=20, noise_bp=0.04, half_spread_bp=0.18, size_scale=1.6),
    "okx": VenueProfile(latency_ms=45, noise_bp=0.05, half_spread_bp=0.2, size_scale=1.0),
    "bybit": VenueProfile(latency_ms=60, noise_bp=0.05, half_spread_bp=0.22, size_scale=0.9),
    "coinbase": VenueProfile(latency_ms=80, noise_bp=0.06, half_spread_bp=0.25, size_scale=0.7),
    "kraken": VenueProfile(latency_ms=110, noise_bp=0.07, half_spread_bp=0.3, size_scale=0.5),
}
_DEFAULT_PROFILE = VenueProfile(latency_ms=0, noise_bp=0.0, half_spread_bp=0.2, size_scale=1.0)


def opening_time_ms(start_time_ms: int | None) -> int:
    """When a simulator's initial books are quoted: its pinned market clock, else now on the wall clock (which
    every simulator shares, so venues started apart still quote the same fair price)."""
    return time.time_ns() // 1_000_000 if start_time_ms is None else start_time_ms


def venue_profile(venue: str) -> VenueProfile:
    """The profile of a named venue; any other name (or ``""``) gets a noiseless, zero-latency one."""
    return VENUE_PROFILES.get(venue, _DEFAULT_PROFILE)


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def _key(text: str) -> int:
    # crc32, not hash(): the path must not change with PYTHONHASHSEED or between processes.
    return _splitmix64(zlib.crc32(text.encode()))


class ValueNoise:
    """A smooth random curve: standard-normal knots every ``period_ms``, scaled by ``amplitude`` and linearly
    interpolated. ``at(t)`` is a pure function of ``(key, t)``; the current segment's knots are cached."""

    __slots__ = ("_index", "_k0", "_k1", "_key", "amplitude", "period_ms")

    def __init__(self, key: int, period_ms: int, amplitude: float) -> None:
        self._key = key
        self.period_ms = period_ms
        self.amplitude = amplitude
        self._index: int | None = None
        self._k0 = self._k1 = 0.0

    def _knot(self, index: int) -> float:
        h = _splitmix64(self._key ^ _splitmix64(index & _MASK64))
        return _NORMAL.inv_cdf(((h >> 11) + 0.5) / 2**53)

    def at(self, t_ms: float) -> float:
        position = t_ms / self.period_ms
        index = math.floor(position)
        if index != self._index:
            following = self._index is not None and index == self._index + 1
            self._k0 = self._k1 if following else self._knot(index)
            self._k1 = self._knot(index + 1)
            self._index = index
        return self.amplitude * (self._k0 + (self._k1 - self._k0) * (position - index))


class FairPrice:
    """The shared log-price offset of one base asset (``0.0`` = its start price) at any time in ms."""

    def __init__(self, seed: int, base: str, volatility: float = VOLATILITY) -> None:
        self._curves = [
            ValueNoise(_key(f"fair:{seed}:{base.upper()}:{period}"), period, volatility * math.sqrt(period / 2000))
            for period in _SCALES_MS
        ]

    def log_offset(self, t_ms: float) -> float:
        return sum(curve.at(t_ms) for curve in self._curves)


class VenueQuote:
    """One venue's view of the fair price: ``latency_ms`` late, plus its own noise (half-second and 4 s knots)."""

    def __init__(self, seed: int, base: str, venue: str, profile: VenueProfile) -> None:
        self.profile = profile
        self._fair = FairPrice(seed, base)
        noise = profile.noise_bp * 1e-4
        self._noise = [
            ValueNoise(_key(f"venue:{seed}:{base.upper()}:{venue}:{period}"), period, noise * weight)
            for period, weight in ((500, 0.8), (4_000, 0.6))
        ]

    def log_offset(self, t_ms: float) -> float:
        seen = self._fair.log_offset(t_ms - self.profile.latency_ms)
        return seen + sum(curve.at(t_ms) for curve in self._noise)
