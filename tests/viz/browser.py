"""Shared helpers for the real-browser tests: find Chromium + Playwright (or skip/fail), JupyterLab on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..conftest import free_port

CHROMIUM = os.environ.get("LIVEFEED_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
DOCS = Path(__file__).resolve().parents[2] / "docs"

LIVE_TS_JS = """(name) => {
    if (!window.Bokeh || !window.Bokeh.documents) return null;
    for (const doc of window.Bokeh.documents) {
        const src = doc.get_model_by_name(name);
        if (src) { const ts = src.data.ts; return ts && ts.length ? Number(ts[ts.length - 1]) : 0; }
    }
    return null;
}"""
"""Newest ``ts`` of the named ColumnDataSource in any BokehJS document (``null`` while not rendered)."""


def require(reason: str) -> None:
    """Skip with ``reason``, or fail when CI demands the real services (``LIVEFEED_REQUIRE_SERVICES=1``)."""
    if os.environ.get("LIVEFEED_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (LIVEFEED_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def need_browser() -> None:
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        require(f"Chromium not found at {CHROMIUM} (apt install chromium, or run scripts/install-system-deps.sh)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        require("the playwright Python package is not installed")


DISMISS_NEWS_JS = """() => { for (const b of document.querySelectorAll('.jp-toast-button, button')) {
    if (b.innerText.trim() === 'No') { b.click(); return true; } } return false; }"""
"""Answer JupyterLab's "get notified about Jupyter news?" toast, so it covers nothing in a screenshot."""


def screenshot_pause_ms() -> int:
    """When refreshing docs/ (``LIVEFEED_SAVE_SCREENSHOTS=1``), how long to let data pile up before a screenshot
    (``LIVEFEED_SCREENSHOT_WAIT`` seconds, default 0): a minute of data reads better than two seconds."""
    if os.environ.get("LIVEFEED_SAVE_SCREENSHOTS") != "1":
        return 0
    return int(float(os.environ.get("LIVEFEED_SCREENSHOT_WAIT", "0")) * 1000)


def save_screenshot(path: Path, name: str) -> None:
    """Copy a screenshot into docs/ when ``LIVEFEED_SAVE_SCREENSHOTS=1`` (how docs/*.png are refreshed)."""
    if os.environ.get("LIVEFEED_SAVE_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(path, DOCS / name)


@contextmanager
def jupyter_lab(root: Path, home: Path) -> Iterator[str]:
    """A JupyterLab server on loopback serving ``root``, isolated config under ``home``; yields its base URL."""
    port = free_port()
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               IPYTHONDIR=str(home / "ipython"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None", "--LabApp.check_for_updates_class="
           "jupyterlab.NeverCheckForUpdate", "--ServerApp.disable_check_xsrf=True", "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root; the server still listens on loopback only
    log = (home / "jupyter.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {(home / 'jupyter.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/api/status", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("jupyter lab did not answer within 60 s")
            time.sleep(0.2)  # polling a starting subprocess, not timing a result
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


KERNEL_IDLE_JS = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    return !!k && k.status === 'idle' && w.content.widgets.length > 0;
}"""
"""True once the open notebook has cells and its kernel is idle."""


@contextmanager
def lab_page(root: Path, home: Path) -> Iterator[tuple[str, Any]]:
    """JupyterLab serving ``root`` and a headless Chromium page (1280 x 1000); yields ``(base URL, page)``.

    The page has opened nothing yet, so listeners (console, WebSocket frames) can be attached before ``goto``.
    """
    from playwright.sync_api import sync_playwright

    with jupyter_lab(root, home) as base, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(home / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000})
        try:
            yield base, context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()
