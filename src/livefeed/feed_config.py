"""Checks of ``Feed(...)`` arguments, so a mistake fails at the call with what is allowed, not later at start."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from .connection import ConnectionOptions
from .errors import ConfigError
from .frames import MAX_CAPACITY
from .registry import adapter_class
from .source import AdapterOptions, Source, VenueEndpoints

__all__ = [
    "check_capacity", "check_event_queue_size", "connection_options", "check_venue_options", "check_audit_every",
    "MIN_AUDIT_EVERY",
]

MIN_AUDIT_EVERY = 10.0
"""Seconds: a REST check of every book that often stays far inside any venue's budget (Binance: 5 weight per
book, against 6,000 a minute)."""

_FEED_SUPPLIED = frozenset({"self", "symbols", "channels", "emit", "endpoints", "options"})
"""Adapter parameters the feed fills in itself; every other keyword is a venue setting."""


def _hint(name: str, allowed: Iterable[str]) -> str:
    matches = difflib.get_close_matches(name, list(allowed), n=1, cutoff=0.5)
    return f" Did you mean {matches[0]!r}?" if matches else ""


def check_capacity(capacity: object) -> int:
    if isinstance(capacity, bool) or not isinstance(capacity, int) or not 0 < capacity <= MAX_CAPACITY:
        raise ConfigError(f"capacity must be a whole number of rows from 1 to {MAX_CAPACITY:,} per frame, "
                          f"got {capacity!r}")
    return capacity


def check_audit_every(seconds: object) -> float | None:
    """``audit_every=``: ``None`` (off) or seconds between REST checks of each book, at least ``MIN_AUDIT_EVERY``."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= MIN_AUDIT_EVERY:
        raise ConfigError(f"audit_every must be None (off) or at least {MIN_AUDIT_EVERY:g} seconds between REST "
                          f"checks of each book, got {seconds!r}")
    return float(seconds)


def check_event_queue_size(size: object) -> int:
    """``asyncio.Queue(0)`` would be unbounded: refuse it rather than silently lose the bound."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"event_queue_size must be a whole number of events, at least 1, got {size!r}")
    return size


def connection_options(value: object) -> ConnectionOptions:
    """A ``ConnectionOptions``, or a dict of its fields (``{"stale_after": 10}``), as a ``ConnectionOptions``."""
    if value is None:
        return ConnectionOptions()
    if isinstance(value, ConnectionOptions):
        return value
    if isinstance(value, Mapping):
        fields = [f.name for f in dataclasses.fields(ConnectionOptions)]
        for key in value:
            if key not in fields:
                raise ConfigError(f"connection option {key!r} is not one of {fields}.{_hint(str(key), fields)}")
        try:
            return ConnectionOptions(**value)
        except ConfigError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"connection: {exc}") from None
    raise ConfigError(f"connection must be a ConnectionOptions or a dict of its fields, got {type(value).__name__}")


def _accepted_options(cls: type[Source]) -> list[str]:
    """Keyword names the adapter class and its bases (``MarketAdapter`` included) take as venue settings."""
    names: list[str] = []
    for klass in cls.__mro__:
        if not issubclass(klass, Source) or "__init__" not in vars(klass):
            continue
        parameters = inspect.signature(klass.__init__).parameters.values()
        for parameter in parameters:
            keyword = parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
            if keyword and parameter.name not in _FEED_SUPPLIED and parameter.name not in names:
                names.append(parameter.name)
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break  # this __init__ passes nothing further up: its bases' settings cannot be given
    return names


def check_venue_options(venue: str, options: object, symbols: list[str], endpoints: VenueEndpoints | None,
                        adapter_options: AdapterOptions) -> dict[str, Any]:
    """The venue's settings, checked by name and by building its adapter once (which checks the values)."""
    if not isinstance(options, Mapping):
        raise ConfigError(f"venue_options[{venue!r}] must be a dict of settings, got {type(options).__name__}")
    cls = adapter_class(venue)
    accepted = _accepted_options(cls)
    for key in options:
        if key not in accepted:
            allowed = f"it takes {accepted}" if accepted else "it takes none"
            raise ConfigError(f"venue_options[{venue!r}] has unknown setting {key!r}; {allowed}."
                              f"{_hint(str(key), accepted)}")
    if not options:
        return {}
    try:
        cls(symbols, ["trades", "book"], lambda _event: None, endpoints=endpoints, options=adapter_options, **options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"venue_options[{venue!r}]: {exc}") from None
    return dict(options)
