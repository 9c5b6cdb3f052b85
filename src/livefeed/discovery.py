"""``livefeed.instruments(venue, ...)``: what a venue lists, as a DataFrame of canonical names to subscribe to.

An options chain has hundreds of names that change every day, so nobody types them: ask the venue, filter by kind,
underlying and expiry, and hand the ``subscription`` column to ``Feed``::

    chain = livefeed.instruments("deribit", kind="option", underlying="BTC", expiry="2026-12-25")
    feed = livefeed.Feed(chain.subscription, channels=["ticker"])

The call is synchronous, for a notebook cell; from a thread whose event loop is running (a Jupyter kernel) it runs
on livefeed's background loop (:class:`~livefeed.runtime.LoopThread`) and waits there, so the kernel's loop is
never re-entered. Coroutines await :func:`fetch_instruments` instead. pandas is imported on call.

A source that can list its venue's instruments has ``async list_instruments(kind)`` returning items with
``as_row()`` (see :class:`livefeed.venues.deribit.Listed`); the first source of the venue that has it answers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, LivefeedError, UnknownVenueError
from .naming import Kind
from .registry import MARKETS, VENUES, adapter_class
from .source import VenueEndpoints

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["instruments", "fetch_instruments", "COLUMNS"]

COLUMNS = ("symbol", "kind", "base", "quote", "expiry", "strike", "right", "venue_symbol", "tick_size",
           "contract_size", "min_size", "settlement", "subscription")
"""The columns of :func:`instruments`, in order; ``expiry`` is UTC (``NaT`` for a perpetual)."""

_KINDS = {"perp": Kind.PERP, "future": Kind.FUTURE, "option": Kind.OPTION}


def instruments(venue: str, kind: str | Kind | None = None, underlying: str | None = None,
                expiry: dt.date | str | None = None, *, endpoints: Any = None, timeout: float = 30.0,
                ) -> pd.DataFrame:
    """The instruments ``venue`` lists now, one row each, filtered by ``kind`` (``"perp"``, ``"future"``,
    ``"option"``), ``underlying`` (the base asset, ``"BTC"``) and ``expiry`` (a date, ``"2026-12-25"`` or
    ``"20261225"``). ``endpoints`` points at a simulator or another host, as ``Feed(endpoints=...)`` does (keyed by
    source, or the one value). Raises ``LivefeedError`` for a venue without a listing in livefeed."""
    request = fetch_instruments(venue, kind, underlying, expiry, endpoints=endpoints)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_within(request, timeout))
    from .runtime import LoopThread

    return LoopThread.shared().run(_within(request, timeout), timeout + 5)


async def _within(request: Any, timeout: float) -> pd.DataFrame:
    async with asyncio.timeout(timeout):
        return await request  # type: ignore[no-any-return]


async def fetch_instruments(venue: str, kind: str | Kind | None = None, underlying: str | None = None,
                            expiry: dt.date | str | None = None, *, endpoints: Any = None) -> pd.DataFrame:
    """:func:`instruments` for a coroutine."""
    import pandas as pd

    venue = venue.strip().lower() if isinstance(venue, str) else venue
    if venue not in VENUES:
        raise UnknownVenueError(f"unknown venue {venue!r}; livefeed knows {sorted(VENUES)}")
    wanted = _kind(kind)
    base = underlying.strip().upper() if isinstance(underlying, str) else None
    if underlying is not None and not base:
        raise ConfigError(f"underlying must be a base asset like 'BTC', got {underlying!r}")
    day = _day(expiry)
    source = _listing_source(venue, wanted)
    cls: Any = adapter_class(source)
    adapter = cls([], [], lambda _event: None, endpoints=_endpoints(venue, source, endpoints, cls.default_endpoints))
    try:
        listed = await adapter.list_instruments(wanted)
    finally:
        await adapter.close()
    rows = [item.as_row() for item in listed
            if (wanted is None or item.kind is wanted) and (base is None or item.base == base)
            and (day is None or _expiry_day(item.symbol) == day)]
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("expiry", "subscription")] + ["expiry_ts"])
    frame["expiry"] = pd.to_datetime(frame.pop("expiry_ts"), unit="ns", utc=True)
    frame["kind"] = frame["kind"].map(str)
    frame["subscription"] = venue + ":" + frame["symbol"]
    order = {str(k): i for i, k in enumerate(_KINDS.values())}
    frame = frame.assign(_order=frame["kind"].map(order)).sort_values(
        ["base", "quote", "_order", "expiry", "strike", "right"], na_position="first", kind="stable")
    return frame.drop(columns="_order")[list(COLUMNS)].reset_index(drop=True)


def _kind(kind: str | Kind | None) -> Kind | None:
    if kind is None:
        return None
    text = str(kind).strip().lower()
    if text not in _KINDS:
        raise ConfigError(f"kind must be one of {', '.join(_KINDS)} (or None for all), got {kind!r}")
    return _KINDS[text]


def _day(expiry: object) -> dt.date | None:
    if expiry is None:
        return None
    if isinstance(expiry, dt.datetime):
        return expiry.date()
    if isinstance(expiry, dt.date):
        return expiry
    if hasattr(expiry, "date") and callable(expiry.date):  # a pandas Timestamp
        return expiry.date()  # type: ignore[no-any-return]
    text = str(expiry).strip().replace("-", "")
    if len(text) == 8 and text.isdigit():
        try:
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            pass
    raise ConfigError(f"expiry must be a date, 'YYYY-MM-DD' or 'YYYYMMDD', got {expiry!r}")


def _expiry_day(symbol: str) -> dt.date | None:
    parts = symbol.split("-")
    if len(parts) < 3 or not parts[2].isdigit():
        return None
    return dt.date(int(parts[2][:4]), int(parts[2][4:6]), int(parts[2][6:]))


def _listing_source(venue: str, kind: Kind | None) -> str:
    """The source of ``venue`` that can list instruments (of ``kind``), or a clear error."""
    sources = [source for (v, k), source in MARKETS.items() if v == venue and (kind is None or k is kind)]
    for source in dict.fromkeys(sources):
        if hasattr(adapter_class(source), "list_instruments"):
            return source
    able = sorted({v for (v, _), s in MARKETS.items() if hasattr(adapter_class(s), "list_instruments")})
    what = f"{kind} instruments" if kind is not None else "instruments"
    raise LivefeedError(f"livefeed cannot list {what} of {venue!r} yet; instrument listings exist for "
                        f"{', '.join(able) or 'no venue'}")


def _endpoints(venue: str, source: str, value: Any, default: VenueEndpoints) -> VenueEndpoints:
    if value is None:
        return default
    if isinstance(value, Mapping) and set(value) - {"ws", "rest"}:  # keyed by source, as Feed takes them
        if source not in value and venue not in value:
            return default
        value = value[source] if source in value else value[venue]
    return VenueEndpoints.from_value(value, default)
