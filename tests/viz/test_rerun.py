"""Idempotent cells: a notebook run three times in one kernel leaves one feed, one simulator per venue and exactly
the plots on screen, as JupyterLab runs cells (an ``execute_request`` carrying the cell's ``cellId``) and as nbclient
does (no cell id: the cell is known by its source)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

PROBE = """
import json, livefeed
from livefeed.viz import Flusher
from livefeed.viz.inventory import live_plots
live = livefeed.running()
print(json.dumps({
    "feeds": int((live["kind"] == "feed").sum()), "sims": int((live["kind"] == "sim").sum()),
    "plots": int((live["kind"] == "plot").sum()), "dashboards": int((live["kind"] == "dashboard").sum()),
    "flushed": len(Flusher.shared().views), "open_plots": len(live_plots()),
    "running_feeds": sum(1 for f in __import__("gc").get_objects() if type(f) is livefeed.Feed and f.running),
}))
"""


def run_cell(kc: Any, code: str, cell_id: str | None) -> str:
    """Execute ``code`` as a notebook front end would; return its stdout, fail on an error."""
    metadata = {"cellId": cell_id} if cell_id else {}
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False,
               "stop_on_error": True}
    msg = kc.session.msg("execute_request", content, metadata=metadata)
    kc.shell_channel.send(msg)
    out: list[str] = []
    while True:
        reply = kc.get_iopub_msg(timeout=120)
        if reply["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
            continue
        kind = reply["msg_type"]
        if kind == "stream":
            out.append(reply["content"]["text"])
        elif kind == "error":
            raise AssertionError("\n".join(reply["content"]["traceback"]))
        elif kind == "status" and reply["content"]["execution_state"] == "idle":
            return "".join(out)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("with_cell_ids", [True, False], ids=["jupyterlab", "nbclient"])
def test_three_runs_of_a_notebook_leave_one_of_everything(with_cell_ids: bool) -> None:
    nb = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(NOTEBOOKS))
    try:
        for _ in range(3):
            for cell in cells:
                run_cell(kc, cell.source, cell.get("id") if with_cell_ids else None)
        state = json.loads(run_cell(kc, PROBE, "probe").strip().splitlines()[-1])
        shown = sum("feed.plot." in c.source for c in cells)
        assert state == {"feeds": 1, "sims": 1, "plots": shown, "dashboards": 0, "flushed": shown,
                         "open_plots": shown, "running_feeds": 1}, state
        # and stop_all() leaves nothing live
        after = run_cell(kc, "print(livefeed.stop_all(), len(livefeed.running()), feed.running, sim.running)", "x")
        assert after.split() == [str(shown + 2), "0", "False", "False"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
