"""What is live in this process, and by which notebook cell: so re-running a cell replaces instead of adding.

Every feed started, simulator started, plot and dashboard shown registers here with the cell that made it. When a
cell runs again, the first thing it registers stops everything the cell's previous run left live (a feed and its
simulator, plots whose output is being replaced), so Run All three times leaves one feed, one simulator per venue
and exactly the plots on screen. ``livefeed.running()`` lists what is live; ``livefeed.stop_all()`` stops it all.

A cell is known by the ``cellId`` JupyterLab and Notebook 7 send with each execution; where none is sent (nbclient,
a terminal IPython) by its source text. Outside IPython nothing is replaced: objects are only listed.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .hooks import SIM_CREATED

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["register", "unregister", "running", "objects", "stop_all", "current_cell", "weak_calls", "LiveEntry"]

log = logging.getLogger(__name__)

_lock = threading.RLock()
_entries: dict[int, LiveEntry] = {}
_ids = itertools.count(1)
_last_run: dict[str, str] = {}
"""cell key -> the execution (message id) that last registered something from that cell."""


@dataclass(eq=False)
class LiveEntry:
    """One live object: its kind (feed, sim, plot, dashboard), what it is, the cell that made it, how to stop it."""

    id: int
    kind: str
    ref: weakref.ref[Any] | Callable[[], Any]
    stop: Callable[[], None]
    cell: str | None
    run: str | None
    description: str = ""
    active: Callable[[], bool] = field(default=lambda: True)

    @property
    def obj(self) -> Any:
        return self.ref()


def current_cell() -> tuple[str | None, str | None]:
    """``(cell key, execution id)`` of the notebook cell running now, or ``(None, None)`` outside one."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None, None
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return None, None
    try:
        parent = kernel.get_parent("shell") if hasattr(kernel, "get_parent") else kernel._parent_header
    except Exception:
        return None, None
    if not parent or parent.get("header", {}).get("msg_type") != "execute_request":
        return None, None
    run = parent.get("header", {}).get("msg_id")
    cell_id = (parent.get("metadata") or {}).get("cellId")
    if not cell_id:
        code = (parent.get("content") or {}).get("code", "")
        cell_id = "src:" + hashlib.sha1(code.encode()).hexdigest()
    return str(cell_id), run


def _weak(obj: Any) -> weakref.ref[Any] | Callable[[], Any]:
    try:
        return weakref.ref(obj)
    except TypeError:
        return lambda: obj


def register(obj: Any, kind: str, stop: Callable[[], None], description: str = "",
             active: Callable[[], bool] | None = None) -> LiveEntry:
    """Record ``obj`` as live (``active()`` says whether it still is; default: while it exists). First replaces
    what an earlier run of the calling cell left live."""
    cell, run = current_cell()
    with _lock:
        if cell is not None and _last_run.get(cell) != run:
            _last_run[cell] = run or ""
            stale = [e for e in _entries.values() if e.cell == cell and e.run != run and e.obj is not obj]
        else:
            stale = []
    for entry in stale:
        log.info("re-run of a cell: stopping the %s it made before (%s)", entry.kind, entry.description)
        _stop(entry)
    with _lock:
        for key in [k for k, e in _entries.items() if e.obj is None]:  # collected: forget it
            del _entries[key]
        for entry in _entries.values():  # the same object again (e.g. a second start()): one entry
            if entry.obj is obj and entry.kind == kind:
                entry.cell, entry.run = cell, run
                return entry
        entry = LiveEntry(next(_ids), kind, _weak(obj), stop, cell, run, description or repr(obj),
                          active or (lambda: True))
        _entries[entry.id] = entry
        return entry


def unregister(obj: Any) -> None:
    """``obj`` stopped by itself: forget it."""
    with _lock:
        for key in [k for k, e in _entries.items() if e.obj is obj or e.obj is None]:
            del _entries[key]


def _stop(entry: LiveEntry) -> None:
    with _lock:
        _entries.pop(entry.id, None)
    if entry.obj is None:
        return
    try:
        entry.stop()
    except Exception:
        log.exception("stopping %s %s failed", entry.kind, entry.description)


def running() -> pd.DataFrame:
    """What is live now: one row per feed, simulator, plot and dashboard (kind, what, the cell that made it)."""
    import pandas as pd

    with _lock:
        entries = [e for e in _entries.values() if e.obj is not None and e.active()]
    rows = [{"kind": e.kind, "what": e.description, "cell": e.cell, "id": e.id} for e in entries]
    return pd.DataFrame(rows, columns=["kind", "what", "cell", "id"])


def objects(kind: str) -> list[Any]:
    """The live objects of one kind (``"feed"``, ``"sim"``, ``"plot"``, ``"dashboard"``, ``"node"``) not yet
    collected, oldest first."""
    with _lock:
        entries = [e for e in _entries.values() if e.kind == kind]
    return [obj for obj in (e.obj for e in entries) if obj is not None]


def stop_all(kinds: tuple[str, ...] = ("plot", "dashboard", "feed", "sim", "node")) -> int:
    """Stop every live plot, dashboard, feed, simulator and local node (in that order); returns how many were
    stopped."""
    with _lock:
        entries = sorted((e for e in _entries.values() if e.kind in kinds), key=lambda e: kinds.index(e.kind))
    stopped = 0
    for entry in entries:
        if entry.obj is not None and entry.active():
            stopped += 1
        _stop(entry)
    return stopped


def _stop_sim(sim: Any) -> None:
    """Stop a simulator from any thread: block on its loop when that is another thread's, else schedule it."""
    loop = sim.loop
    if not sim.running or loop is None or loop.is_closed():
        return
    try:
        here = asyncio.get_running_loop()
    except RuntimeError:
        here = None
    if here is loop:
        loop.create_task(sim.stop())
    else:
        asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(10)


def weak_calls(obj: Any, stop: Callable[[Any], None]) -> tuple[Callable[[], None], Callable[[], bool]]:
    """``stop`` and ``active`` callables for :func:`register` that do not keep ``obj`` alive."""
    ref = weakref.ref(obj)

    def stop_it() -> None:
        target = ref()
        if target is not None:
            stop(target)

    def active() -> bool:
        target = ref()
        return target is not None and bool(target.running)

    return stop_it, active


def _sim_created(sim: Any) -> None:
    stop, active = weak_calls(sim, _stop_sim)
    register(sim, "sim", stop, type(sim).__name__, active=active)


if _sim_created not in SIM_CREATED:
    SIM_CREATED.append(_sim_created)
