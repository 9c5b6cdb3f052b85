"""Notice callbacks that hold the feed's loop: a slow ``add_callback`` makes every venue fall behind, silently.

Callbacks run on the loop that reads the sockets, so time spent in them is time no frame is read. The watch adds
up that time over windows of ``window`` seconds; when callbacks took more than ``busy_share`` of a window it logs
one warning (at most one per ``warn_every`` seconds) naming the slowest callback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["CallbackWatch"]

log = logging.getLogger("livefeed.feed")


class CallbackWatch:
    def __init__(self, window: float = 1.0, busy_share: float = 0.5, warn_every: float = 30.0) -> None:
        self.window = window
        self.busy_share = busy_share
        self.warn_every = warn_every
        self.warnings = 0
        """How many times callbacks were reported as falling behind."""
        self.failures = 0
        """How many times a callback raised; the first 10 are logged with their traceback, then every 1,000th
        (a callback that fails on every event would otherwise log a traceback per event, on the feed's loop)."""
        self._window_start = time.perf_counter()
        self._busy = 0.0
        self._slowest = 0.0
        self._slowest_name = ""
        self._last_warning = float("-inf")

    def run(self, callbacks: Sequence[Callable[[Any], None]], event: Any) -> None:
        """Call every callback with ``event``; an exception is counted and logged (rate-limited), never raised."""
        for callback in callbacks:
            started = time.perf_counter()
            try:
                callback(event)
            except Exception:
                self.failures += 1
                if self.failures <= 10 or self.failures % 1000 == 0:
                    log.exception("event callback %r failed (%d callback failures so far)", callback, self.failures)
            took = time.perf_counter() - started
            self._busy += took
            if took > self._slowest:
                self._slowest, self._slowest_name = took, getattr(callback, "__qualname__", repr(callback))
        now = time.perf_counter()
        elapsed = now - self._window_start
        if elapsed >= self.window:
            share = self._busy / elapsed
            if share > self.busy_share and now - self._last_warning >= self.warn_every:
                self._last_warning = now
                self.warnings += 1
                log.warning("event callbacks took %.0f%% of the feed's loop over the last %.1f s (slowest: %s, "
                            "%.1f ms): the feed is falling behind the venues; keep callbacks quick, or hand the "
                            "work to a thread or a queue", 100 * min(share, 1.0), elapsed, self._slowest_name,
                            1000 * self._slowest)
            self._window_start, self._busy, self._slowest = now, 0.0, 0.0
