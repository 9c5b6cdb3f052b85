"""Checked as a person would: real Chromium opens the quickstart in a real JupyterLab, runs it, and sees a depth
chart that is drawn and live; the same for the Bokeh server dashboard page.

Live means the newest ``ts`` of a named ColumnDataSource, read through ``Bokeh.documents`` in the page, grows
between two reads a few seconds apart (with a rollover the length alone stops growing).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
from pathlib import Path

import pytest

from livefeed.viz import source_name
from livefeed.viz.server import GONE_AFTER_MS

from .browser import CHROMIUM, CHROMIUM_ARGS, LIVE_TS_JS, jupyter_lab, need_browser, save_screenshot

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
DEPTH_META = source_name("depth-meta", "binance", "BTC-USDT")

RUN_UNTIL_STOP_JS = """async () => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = panel.content.widgets;
    const stop = cells.findIndex(c => (c.model.getMetadata('tags') || []).includes('stop'));
    panel.content.activeCellIndex = stop;
    await window.jupyterapp.commands.execute('notebook:run-all-above');
    return stop;
}"""
RUN_ACTIVE_JS = "async () => { await window.jupyterapp.commands.execute('notebook:run-cell'); }"
KERNEL_IDLE_JS = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    return !!k && k.status === 'idle' && w.content.widgets.length > 0;
}"""
CELL_INDEX_JS = """(text) => window.jupyterapp.shell.currentWidget.content.widgets
    .findIndex(c => c.model.sharedModel.getSource().includes(text))"""
MODEL_TEXT_JS = """((name) => { for (const d of Bokeh.documents) { const m = d.get_model_by_name(name);
    if (m) return m.text || ''; } return ''; })"""
ERRORS_JS = """() => [...document.querySelectorAll(
    '[data-mime-type="application/vnd.jupyter.stderr"], [data-mime-type="application/vnd.jupyter.error"]')]
    .map(e => e.innerText)"""


@pytest.mark.timeout(240)
def test_quickstart_in_jupyterlab_draws_a_live_depth_chart(tmp_path: Path) -> None:
    need_browser()
    from playwright.sync_api import sync_playwright

    root = tmp_path / "nb"
    root.mkdir()
    shutil.copy(NOTEBOOKS / "quickstart.ipynb", root)  # a copy: autosave must not rewrite the repo's notebook
    with jupyter_lab(root, tmp_path) as base, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000})
        try:
            page = context.pages[0] if context.pages else context.new_page()
            console_errors: list[str] = []
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{base}/lab/tree/quickstart.ipynb")
            page.wait_for_function(KERNEL_IDLE_JS, timeout=90_000)
            stop_index = page.evaluate(RUN_UNTIL_STOP_JS)
            assert stop_index > 0
            # drawn: the depth source is in a rendered BokehJS document and a canvas is on the page
            page.wait_for_function(f"() => ({LIVE_TS_JS})({DEPTH_META!r}) > 0", timeout=120_000)
            page.wait_for_function(KERNEL_IDLE_JS, timeout=120_000)
            assert page.locator("canvas").count() > 0
            bids = page.evaluate("""(name) => { for (const d of Bokeh.documents) { const s = d.get_model_by_name(name);
                if (s) return s.get_length(); } return null; }""", source_name("depth-bids", "binance", "BTC-USDT"))
            assert bids and bids > 0
            first = page.evaluate(LIVE_TS_JS, DEPTH_META)
            page.wait_for_timeout(3_000)
            second = page.evaluate(LIVE_TS_JS, DEPTH_META)
            assert second > first, f"depth chart not live: newest ts {first} -> {second}"
            errors = page.evaluate(ERRORS_JS)
            assert not [e for e in errors if "Error" in e or "Traceback" in e], errors
            depth_cell = page.evaluate(CELL_INDEX_JS, 'feed.plot.depth("binance"')
            shot = tmp_path / "depth.png"
            output = page.locator(".jp-Notebook .jp-Cell").nth(depth_cell).locator(".jp-OutputArea")
            output.scroll_into_view_if_needed()
            output.screenshot(path=str(shot))
            save_screenshot(shot, "depth.png")
            # finish as a user would: run the stop cell
            page.evaluate(f"() => {{ window.jupyterapp.shell.currentWidget.content.activeCellIndex = {stop_index}; }}")
            page.evaluate(RUN_ACTIVE_JS)
            page.wait_for_function(KERNEL_IDLE_JS, timeout=30_000)
            assert not [e for e in console_errors if "bokeh" in e.lower()], console_errors
        finally:
            context.close()


@pytest.mark.timeout(120)
async def test_dashboard_page_is_live(tmp_path: Path) -> None:
    """The page ``livefeed demo`` serves, opened as a user would, while the demo runs in its own process."""
    need_browser()
    from playwright.async_api import async_playwright

    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livefeed.cli", "demo", "--venues", "binance", "--serve", "0", "--interval", "0.05",
        "--duration", "100", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    url: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def drain() -> None:  # keep reading: a full pipe would block the demo
        assert demo.stdout is not None
        async for raw in demo.stdout:
            line = raw.decode(errors="replace")
            if line.startswith("dashboard on ") and not url.done():
                url.set_result(line.split()[-1])
        if not url.done():
            url.set_exception(AssertionError("livefeed demo ended without serving its dashboard"))

    reader = asyncio.create_task(drain())
    try:
        page_url = await asyncio.wait_for(url, 60)
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1000, "height": 1400})
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                await page.goto(page_url)
                await page.wait_for_function(f"() => ({LIVE_TS_JS})({DEPTH_META!r}) > 0", timeout=60_000)
                assert await page.locator("canvas").count() > 0
                first = await page.evaluate(LIVE_TS_JS, DEPTH_META)
                spread = source_name("spread", "binance", "ETH-USDT")
                # live: the newest exchange time of the depth chart moves on (waited for, not slept on)
                await page.wait_for_function(f"() => ({LIVE_TS_JS})({DEPTH_META!r}) > {first}", timeout=30_000)
                await page.wait_for_function(MODEL_TEXT_JS + "('status').includes('msg/s')", timeout=30_000)
                status = await page.evaluate(MODEL_TEXT_JS + "('status')")
                assert "binance-0" in status and "reconnects" in status and "feed running" in status, status
                # the picker shows the other market: its views appear and are live
                await page.evaluate("""() => { for (const d of Bokeh.documents) { const m = d.get_model_by_name(
                    'market'); if (m) m.value = 'binance:ETH-USDT'; } }""")
                await page.wait_for_function(f"() => ({LIVE_TS_JS})({spread!r}) > 0", timeout=30_000)
                shot = tmp_path / "dashboard.png"
                await page.screenshot(path=str(shot), full_page=False)
                save_screenshot(shot, "dashboard.png")
                # the demo ends: the page says the feed is gone
                demo.send_signal(signal.SIGINT)
                await asyncio.wait_for(demo.wait(), 30)
                await page.wait_for_function(MODEL_TEXT_JS + "('gone').includes('The feed is gone')",
                                             timeout=GONE_AFTER_MS + 15_000)
            finally:
                await context.close()
    finally:
        if demo.returncode is None:
            demo.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(demo.wait(), 20)
            except TimeoutError:
                demo.kill()
                await demo.wait()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    assert demo.returncode == 0, f"livefeed demo exited with {demo.returncode}"
