"""Checked as a person would: real Chromium opens the quickstart in a real JupyterLab, runs it, and sees a depth
chart that is drawn and live; the same for the Bokeh server dashboard page.

Live means the newest ``ts`` of a named ColumnDataSource, read through ``Bokeh.documents`` in the page, grows
between two reads a few seconds apart (with a rollover the length alone stops growing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from livefeed.viz import source_name
from livefeed.viz.server import GONE_AFTER_MS

from .browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DISMISS_NEWS_JS,
    KERNEL_IDLE_JS,
    LIVE_TS_JS,
    lab_page,
    need_browser,
    save_screenshot,
    screenshot_pause_ms,
)

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
    root = tmp_path / "nb"
    root.mkdir()
    shutil.copy(NOTEBOOKS / "quickstart.ipynb", root)  # a copy: autosave must not rewrite the repo's notebook
    with lab_page(root, tmp_path) as (base, page):
        console_errors: list[str] = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{base}/lab/tree/quickstart.ipynb")
        page.wait_for_function(KERNEL_IDLE_JS, timeout=90_000)
        stop_index = page.evaluate(RUN_UNTIL_STOP_JS)
        assert stop_index > 0
        page.wait_for_function(KERNEL_IDLE_JS, timeout=120_000)
        # a plot out of sight does not render: look at the depth chart as a user would, then it is drawn and live
        depth_cell = page.evaluate(CELL_INDEX_JS, 'feed.plot.depth("binance"')
        output = page.locator(".jp-Notebook .jp-Cell").nth(depth_cell).locator(".jp-OutputArea")
        output.scroll_into_view_if_needed()
        page.wait_for_function(f"() => ({LIVE_TS_JS})({DEPTH_META!r}) > 0", timeout=120_000)
        assert page.locator("canvas").count() > 0
        bids = page.evaluate("""(name) => { for (const d of Bokeh.documents) { const s = d.get_model_by_name(name);
            if (s) return s.get_length(); } return null; }""", source_name("depth-bids", "binance", "BTC-USDT"))
        assert bids and bids > 0
        first = page.evaluate(LIVE_TS_JS, DEPTH_META)
        page.wait_for_function(f"() => ({LIVE_TS_JS})({DEPTH_META!r}) > {first}", timeout=30_000)
        errors = page.evaluate(ERRORS_JS)
        assert not [e for e in errors if "Error" in e or "Traceback" in e], errors
        shot = tmp_path / "depth.png"
        page.evaluate(DISMISS_NEWS_JS)
        output.scroll_into_view_if_needed()
        page.wait_for_timeout(screenshot_pause_ms())  # 0 unless refreshing docs/
        output.screenshot(path=str(shot))
        save_screenshot(shot, "depth.png")
        # finish as a user would: the last cell keeps everything live and lists it
        page.evaluate(f"() => {{ window.jupyterapp.shell.currentWidget.content.activeCellIndex = {stop_index}; }}")
        page.evaluate(RUN_ACTIVE_JS)
        page.wait_for_function(KERNEL_IDLE_JS, timeout=30_000)
        assert not [e for e in console_errors if "bokeh" in e.lower()], console_errors


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
                await page.wait_for_timeout(screenshot_pause_ms())  # 0 unless refreshing docs/
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


SCREEN_NOTEBOOK = [
    """import asyncio, json
import livefeed
from livefeed.runtime import LoopThread
from livefeed.sim import BinanceSim
sim = BinanceSim(symbols=("BTC-USDT",), seed=3, interval=0.02)
LoopThread.shared().run(sim.start())
feed = livefeed.Feed(["binance:BTC-USDT"], channels=["trades", "book"], endpoints={"binance": sim}).start()
while len(feed.top_of_book) < 20 or len(feed.trades) < 5:
    await asyncio.sleep(0.1)""",
    'feed.plot.heatmap("binance", "BTC-USDT")',
    'feed.plot.ladder("binance", "BTC-USDT")',
    "feed.dashboard()",
]
LINKED_WINDOWS_JS = """() => {
    const names = ['spread:binance:BTC-USDT', 'trades:binance:BTC-USDT', 'imbalance:binance:BTC-USDT'];
    for (const d of Bokeh.documents) {
        if (!names.every(n => d.get_model_by_name(n))) continue;
        const ranges = new Set(); let plots = 0;
        for (const m of (d._all_models || d.all_models).values()) {
            if (!m.x_range || !m.renderers) continue;
            const sources = m.renderers.map(r => r.data_source ? r.data_source.name : null);
            if (sources.some(s => names.includes(s))) { ranges.add(m.x_range.id); plots += 1; }
        }
        const r = [...(d._all_models || d.all_models).values()].find(m => ranges.has(m.id));
        return [plots, ranges.size, r ? r.end - r.start : null];
    }
    return null;
}"""
LENGTH_JS = """(name) => { for (const d of Bokeh.documents) { const s = d.get_model_by_name(name);
    if (s) return s.get_length(); } return null; }"""
RUN_ALL_JS = "async () => { await window.jupyterapp.commands.execute('notebook:run-all-cells'); }"
PROBE_JS = """async (code) => {
    const app = window.jupyterapp, nb = app.shell.currentWidget.content;
    nb.activeCellIndex = nb.widgets.length - 1;
    await app.commands.execute('notebook:insert-cell-below');
    nb.activeCell.model.sharedModel.setSource(code);
    await app.commands.execute('notebook:run-cell');
    const text = nb.widgets[nb.widgets.length - 1].outputArea.node.innerText;
    await app.commands.execute('notebook:delete-cell');
    return text;
}"""
PROBE = ("from livefeed.viz import Flusher; r = livefeed.running(); print(json.dumps({k: int((r['kind'] == k).sum()) "
         "for k in ('feed', 'sim', 'plot', 'dashboard')} | {'flushed': len(Flusher.shared().views)}))")


@pytest.mark.timeout(300)
def test_trading_screen_views_and_run_all_three_times(tmp_path: Path) -> None:
    """Heatmap, ladder and the dashboard's linked windows in JupyterLab; Run All three times leaves one of each."""
    need_browser()
    import nbformat

    root = tmp_path / "nb"
    root.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(code) for code in SCREEN_NOTEBOOK]
    nbformat.write(nb, root / "screen.ipynb")
    with lab_page(root, tmp_path) as (base, page):
        sent: list[str | bytes] = []  # frames from the page to the kernel
        page.on("websocket", lambda ws: ws.on("framesent", lambda f: sent.append(f)) if "/api/kernels/" in ws.url else None)
        page.goto(f"{base}/lab/tree/screen.ipynb")
        page.wait_for_function(KERNEL_IDLE_JS, timeout=90_000)
        for _ in range(3):
            page.evaluate(RUN_ALL_JS)
            page.wait_for_function(KERNEL_IDLE_JS, timeout=120_000)
        state = json.loads(page.evaluate(PROBE_JS, PROBE).strip().splitlines()[-1])
        assert state == {"feed": 1, "sim": 1, "plot": 2, "dashboard": 1, "flushed": 2}, state
        outputs = page.locator(".jp-Notebook .jp-Cell .jp-OutputArea")
        page.wait_for_timeout(screenshot_pause_ms())  # 0 unless refreshing docs/
        # the heatmap, scrolled into view, is drawn and grows column by column
        heatmap = source_name("heatmap", "binance", "BTC-USDT")
        outputs.nth(1).scroll_into_view_if_needed()
        page.wait_for_function(f"() => ({LENGTH_JS})({heatmap!r}) > 1", timeout=60_000)
        columns = page.evaluate(LENGTH_JS, heatmap)
        before = len(sent)
        page.wait_for_function(f"() => ({LENGTH_JS})({heatmap!r}) > {columns + 2}", timeout=30_000)
        # the plots on screen took new data and rendered it, and the page sent the kernel nothing for it
        assert sent[before:] == [], sent[before:]
        page.evaluate(DISMISS_NEWS_JS)
        shot = tmp_path / "heatmap.png"
        outputs.nth(1).screenshot(path=str(shot))
        save_screenshot(shot, "heatmap.png")
        # the ladder has rows
        outputs.nth(2).scroll_into_view_if_needed()
        ladder = source_name("ladder", "binance", "BTC-USDT")
        page.wait_for_function(f"() => ({LENGTH_JS})({ladder!r}) > 10", timeout=30_000)
        shot = tmp_path / "ladder.png"
        outputs.nth(2).screenshot(path=str(shot))
        save_screenshot(shot, "ladder.png")
        # the dashboard: spread, trades and imbalance share one trailing window of 60 s
        outputs.nth(3).scroll_into_view_if_needed()
        page.wait_for_function(f"() => ({LIVE_TS_JS})({source_name('spread', 'binance', 'BTC-USDT')!r}) > 0",
                               timeout=30_000)
        plots, ranges, span = page.evaluate(LINKED_WINDOWS_JS)
        assert (plots, ranges, span) == (5, 1, 60_000), (plots, ranges, span)
        shot = tmp_path / "notebook-dashboard.png"
        page.evaluate(DISMISS_NEWS_JS)
        page.screenshot(path=str(shot))
        save_screenshot(shot, "notebook-dashboard.png")
        errors = page.evaluate(ERRORS_JS)
        assert not [e for e in errors if "Error" in e or "Traceback" in e], errors
        # clearing the heatmap's output, as a user would, releases it: the flusher stops refreshing it
        page.evaluate("""async () => { const app = window.jupyterapp;
            app.shell.currentWidget.content.activeCellIndex = 1;
            await app.commands.execute('notebook:clear-cell-output'); }""")
        deadline = time.monotonic() + 30
        while True:
            state = json.loads(page.evaluate(PROBE_JS, PROBE).strip().splitlines()[-1])
            if state["plot"] == 1 or time.monotonic() > deadline:
                break
        assert state == {"feed": 1, "sim": 1, "plot": 1, "dashboard": 1, "flushed": 1}, state
