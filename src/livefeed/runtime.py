"""The one background asyncio loop that runs every feed started from a notebook.

A Jupyter kernel already runs its own loop on the main thread, and blocking it freezes the notebook. So feeds
run on a second loop in a daemon thread: ``feed.start()`` hands work to it and returns, the kernel stays free.
There is one such thread per process however many feeds are started, stopped or restarted; it is stopped at
interpreter exit. No ``nest_asyncio`` is needed: nothing ever re-enters the kernel's loop.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """An asyncio loop running forever in a daemon thread, with thread-safe ways in."""

    _shared: LoopThread | None = None
    _shared_lock = threading.Lock()

    def __init__(self, name: str = "livefeed-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    @classmethod
    def shared(cls) -> LoopThread:
        """The process-wide loop thread, started on first use (again after a ``stop``)."""
        with cls._shared_lock:
            if cls._shared is None or not cls._shared.alive:
                cls._shared = cls()
            return cls._shared

    @classmethod
    def stop_shared(cls) -> None:
        with cls._shared_lock:
            if cls._shared is not None:
                cls._shared.stop()
                cls._shared = None

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed()

    @property
    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result (from any thread but the loop's own)."""
        if self.in_loop_thread:
            coro.close()
            raise RuntimeError("LoopThread.run() called from its own loop: await the coroutine instead")
        return self.submit(coro).result(timeout)

    def call(self, fn: Callable[[], T], timeout: float | None = 10.0) -> T:
        """Call ``fn`` on the loop thread (where feed state is mutated) and return its result."""
        if self.in_loop_thread:
            return fn()

        async def invoke() -> T:
            return fn()

        return self.run(invoke(), timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel what still runs, stop the loop and join the thread."""
        if not self.alive:
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        with contextlib.suppress(Exception):
            self.run(cancel_all(), timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()


atexit.register(LoopThread.stop_shared)
