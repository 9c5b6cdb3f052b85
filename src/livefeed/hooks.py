"""Extension points that lower layers call and upper layers fill in; this module imports nothing.

The simulators call :data:`SIM_CREATED` with every new simulator, and :mod:`livefeed.live` fills it in to replace
the simulator a re-run notebook cell made. Keeping the list here, not in ``livefeed.sim``, lets ``import livefeed``
set the hook without loading every simulator (~0.1 s at import).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["SIM_CREATED"]

SIM_CREATED: list[Callable[[Any], None]] = []
"""Called with every new simulator (a ``livefeed.sim`` server), on the thread that made it."""
