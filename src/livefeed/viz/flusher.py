"""The one writer: a task on the kernel's own loop that refreshes every live view a few times a second.

Bokeh documents are not thread-safe outside a Bokeh server, and a widget hears of each change on the thread that
makes it. So all changes are made here, by one task on the kernel's main loop, one batch per source per tick, and
each :class:`~livefeed.viz.widget.LiveWidget` sends its tick's changes as one message: the message rate to the
browser is bounded by the refresh rate, never by the trade rate. While a cell is busy the task waits; the views
catch up on the next tick (rows that rolled out of the frames meanwhile are skipped).

A tick has three steps: every item pulls what is new (``refresh``), then every item moves its time window to the
market clock and shows the market's status (``follow``: all plots of a market show the same stretch of exchange
time), then every widget sends what changed as one message (``send_changes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

__all__ = ["Flusher", "kernel_loop", "Refreshable", "DEFAULT_PERIOD"]

DEFAULT_PERIOD = 1.0
"""Seconds between refreshes by default (once a second, as Binance's own depth stream): the least rendering for
the browser. Measured by bench/notebook.py with the README's depth + spread + dashboard in JupyterLab (headless
Chromium): 4 messages/s and 16 kB/s at 1/s, 13 messages/s and 53 kB/s at 4/s; a trivial cell takes as long with
the plots live as with them frozen. Every view can refresh faster (``set_period``, the dashboard's slider)."""


class Refreshable(Protocol):
    """What a flusher refreshes: a :class:`~livefeed.viz.views.View` or a widget of views (``LivePlot``)."""

    async def refresh(self) -> None: ...

    def follow(self, status: str | None = None) -> None: ...

log = logging.getLogger(__name__)


def kernel_loop() -> asyncio.AbstractEventLoop:
    """The loop of the calling (main) thread: the running one in a cell, else tornado's current one."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        from tornado.ioloop import IOLoop

        return IOLoop.current().asyncio_loop  # type: ignore[attr-defined,no-any-return]


class Flusher:
    """Refreshes its views every ``period`` seconds on one loop; ``pause()`` freezes the plots, not the feed."""

    _shared: Flusher | None = None

    def __init__(self, period: float = DEFAULT_PERIOD) -> None:
        self.period = self._check_period(period)
        self.views: list[Refreshable] = []
        """What is refreshed: views and live plots (:class:`Refreshable`)."""
        self.paused = False
        self.ticks = 0
        self.errors = 0
        self.messages = 0
        """Messages sent to the browser so far (at most one per live widget per tick)."""
        self.on_tick: list[Callable[[], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @classmethod
    def shared(cls) -> Flusher:
        """The process-wide flusher used by ``feed.plot`` (one writer for every plot in the kernel)."""
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    @staticmethod
    def _check_period(period: float) -> float:
        if not isinstance(period, int | float) or not 0.02 <= period <= 60:
            raise ValueError(f"refresh period must be between 0.02 and 60 seconds, got {period!r}")
        return float(period)

    def set_period(self, period: float) -> None:
        self.period = self._check_period(period)
        self._wake.set()

    @property
    def running(self) -> bool:
        # A task whose loop was closed (e.g. a finished asyncio.run) never completes: treat it as stopped.
        loop = self._loop
        return self._task is not None and not self._task.done() and loop is not None and not loop.is_closed()

    def add(self, view: Refreshable) -> Refreshable:
        """Refresh ``view`` from now on; starts the task on the calling thread's loop if needed."""
        if view not in self.views:
            self.views.append(view)
        self.start()
        return view

    def remove(self, view: Refreshable) -> None:
        with contextlib.suppress(ValueError):
            self.views.remove(view)

    def start(self) -> None:
        if self.running:
            return
        loop = kernel_loop()
        self._loop = loop
        self._wake = asyncio.Event()
        self._task = loop.create_task(self._run(), name="livefeed-viz-flusher")

    def stop(self) -> None:
        """Stop refreshing (views stay registered; ``start()`` resumes)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def refresh_soon(self) -> None:
        """Refresh now rather than at the next period (e.g. a new market was picked)."""
        self._wake.set()

    def pause(self, paused: bool = True) -> None:
        """Freeze the plots (the feed keeps running); every plot says so until ``pause(False)``."""
        self.paused = paused
        self._wake.set()

    async def flush(self) -> None:
        """Refresh every view once, now; one view failing never stops the others."""
        items = list(self.views)
        if not self.paused:
            for item in items:
                try:
                    await item.refresh()
                except Exception:
                    self.errors += 1
                    log.exception("refreshing %r failed", item)
        self._follow_and_send(items, "plots paused" if self.paused else None)

    def _follow_and_send(self, items: list[Refreshable], status: str | None) -> None:
        for item in items:
            try:
                item.follow(status)
            except Exception:
                self.errors += 1
                log.exception("moving %r along failed", item)
        for item in items:
            send = getattr(item, "send_changes", None)
            if send is not None:
                try:
                    self.messages += send()
                except Exception:
                    self.errors += 1
                    log.exception("sending the changes of %r failed", item)
        for hook in list(self.on_tick):
            try:
                hook()
            except Exception:
                self.errors += 1
                log.exception("flusher hook %r failed", hook)
        self.ticks += 1

    async def _run(self) -> None:
        while True:
            await self.flush()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.period)
