"""Every notebook in ``notebooks/`` runs headless, top to bottom, without an error (offline: the simulator)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from livefeed.chain.devnode.anvil import find_anvil

from .browser import require

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert {p.stem for p in NOTEBOOKS} >= {"quickstart", "depth_and_spread", "capture_export_analyse", "onchain_flow",
                                         "derivatives", "data_quality"}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_clean(path: Path) -> None:
    if "livefeed.chain.devnode.anvil" in path.read_text() and find_anvil() is None:
        require("anvil is not installed (scripts/install-system-deps.sh puts it in .tools/bin/anvil)")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=120, startup_timeout=60, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError with the failing cell and traceback
    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors == []
    # the plots are widgets (anywidget), and BokehJS was loaded inline, not from a CDN
    mimes = {k for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
             for k in o.get("data", {})}
    if "feed.plot" in "".join(cell.source for cell in nb.cells):
        assert "application/vnd.jupyter.widget-view+json" in mimes
        scripts = "".join(str(o.get("data", {}).get("application/javascript", "")) for cell in nb.cells
                          if cell.cell_type == "code" for o in cell.get("outputs", []))
        assert "cdn.bokeh.org" not in scripts
