"""The notebook's traffic budget, measured in a real browser: JupyterLab + headless Chromium (Playwright).

Opens a notebook in JupyterLab that starts the Binance simulator and a feed, then shows the README quickstart's
views (depth, spread and the dashboard). Every WebSocket frame between the page and the kernel is decoded
(Jupyter's ``v1.kernel.websocket.jupyter.org`` binary framing or plain JSON) and attributed to the widget
(comm) it belongs to, so the figures are per view:

- kernel->browser messages/s and kB/s per view and in total, and messages per view per refresh;
- browser->kernel messages/s other than the cells the bench itself runs;
- the round trip of a ``1 + 1`` cell, run as a user does (``notebook:run-cell``), idle, with the views live, and
  with the same views on screen but frozen (so the cost of the live updates shows apart from the cost of large
  outputs in the notebook);
- the time from picking another market in the dashboard to its views drawn.

Run: ``.venv/bin/python bench/notebook.py [--seconds 10] [--period 0.25]``. Ends with one line read by scripts:
``NOTEBOOK rtt_idle_s=<x> rtt_live_s=<y> rtt_ratio=<y/x> k2b_msgs_per_view_refresh=<n> b2k_msgs_per_s=<m>
k2b_kBps=<k>``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.viz.browser import KERNEL_IDLE_JS, lab_page  # noqa: E402

SETUP = """\
import asyncio, json
import livefeed, livefeed.viz
from livefeed.runtime import LoopThread
from livefeed.sim import BinanceSim
sim_thread = LoopThread(name="sim-loop")
sim = BinanceSim(symbols=("BTC-USDT", "ETH-USDT"), seed=7, interval=0.05)
sim_thread.run(sim.start())
feed = livefeed.Feed(["binance:BTC-USDT", "binance:ETH-USDT"], channels=["trades", "book"],
                     endpoints={"binance": sim}).start()
while len(feed.top_of_book) < 20 or len(feed.trades) < 5:
    await asyncio.sleep(0.1)
"""
VIEWS = [
    'feed.plot.depth("binance", "BTC-USDT")',
    'feed.plot.spread("binance", "BTC-USDT")',
    "feed.dashboard()",
]
# Which comm belongs to which view, and how many refreshes the flushers have made so far.
PROBE = """\
from livefeed.viz.inventory import comm_labels, refresh_count
print(json.dumps({"comms": comm_labels(), "refreshes": refresh_count()}))
"""

# Freeze (or thaw) every plot of the kernel: the same page, the same outputs, no updates. Tells the cost of the
# live updates apart from the cost of a notebook with large outputs in it.
PAUSE = """\
from livefeed import live
from livefeed.viz import Flusher
Flusher.shared().pause({paused})
for dashboard in live.objects("dashboard"):
    dashboard.flusher.pause({paused})
"""
RUN_CODE_JS = """async (code) => {
    const app = window.jupyterapp;
    const nb = app.shell.currentWidget.content;
    nb.activeCellIndex = nb.widgets.length - 1;
    await app.commands.execute('notebook:insert-cell-below');
    nb.activeCell.model.sharedModel.setSource(code);
    const t0 = performance.now();
    await app.commands.execute('notebook:run-cell');
    const cell = nb.widgets[nb.widgets.length - 1];
    const text = cell.outputArea ? cell.outputArea.node.innerText : '';
    return [(performance.now() - t0) / 1000, text];
}"""
DRAWN_JS = """() => {
    if (!window.Bokeh || !window.Bokeh.documents) return false;
    const names = ['depth-bids:binance:BTC-USDT', 'spread:binance:BTC-USDT'];  // on screen (hidden ones wait)
    return names.every(n => window.Bokeh.documents.some(d => { const s = d.get_model_by_name(n);
        return s && s.get_length() > 0; }));
}"""


def decode_frame(payload: str | bytes) -> dict[str, Any] | None:
    """A Jupyter message from one WebSocket frame: v1 binary framing (offsets, channel, header, parent, metadata,
    content, buffers) or the legacy JSON text form. Returns channel, msg_type, comm_id and the frame's size."""
    try:
        if isinstance(payload, str):
            msg = json.loads(payload)
            return {"channel": msg.get("channel"), "msg_type": msg.get("header", {}).get("msg_type"),
                    "comm_id": msg.get("content", {}).get("comm_id"), "bytes": len(payload.encode())}
        n = struct.unpack_from("<Q", payload, 0)[0]
        offsets = list(struct.unpack_from(f"<{n}Q", payload, 8))
        parts = [payload[offsets[i]: offsets[i + 1] if i + 1 < n else len(payload)] for i in range(n)]
        channel = parts[0].decode()
        header = json.loads(parts[1])
        content = json.loads(parts[4]) if len(parts) > 4 and parts[4] else {}
        return {"channel": channel, "msg_type": header.get("msg_type"), "comm_id": content.get("comm_id"),
                "bytes": len(payload)}
    except Exception:
        return None


class Traffic:
    """Frames seen in both directions while ``recording``."""

    def __init__(self) -> None:
        self.recording = False
        self.received: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []

    def attach(self, ws: Any) -> None:
        if "/api/kernels/" not in ws.url:
            return
        ws.on("framereceived", lambda payload: self._add(self.received, payload))
        ws.on("framesent", lambda payload: self._add(self.sent, payload))

    def _add(self, into: list[dict[str, Any]], payload: str | bytes) -> None:
        if self.recording:
            msg = decode_frame(payload)
            if msg is not None:
                into.append(msg)


def make_notebook(directory: Path, period: float | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    setup, views = SETUP, VIEWS
    if period is not None:
        setup += f"livefeed.viz.Flusher.shared().set_period({period})\n"
        views = [v.replace("feed.dashboard()", f"feed.dashboard(period={period})") for v in VIEWS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(setup), *(nbformat.v4.new_code_cell(v) for v in views)]
    path = directory / "bench.ipynb"
    nbformat.write(nb, path)
    return path


def run_code(page: Any, code: str) -> tuple[float, str]:
    try:
        seconds, text = page.evaluate(RUN_CODE_JS, code)
    except Exception:
        shot = Path(tempfile.gettempdir()) / "livefeed-bench-notebook-failure.png"
        page.screenshot(path=str(shot))
        print(f"cell failed; the page as it was: {shot}", file=sys.stderr)
        raise
    return float(seconds), str(text)


def rtt(page: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        seconds, text = run_code(page, "1 + 1")
        if "2" not in text:
            raise RuntimeError(f"1 + 1 gave {text!r}")
        times.append(seconds)
    return statistics.median(times)


def picker_switch(page: Any) -> float:
    """Seconds from picking another market in the dashboard to its new views drawn in the page."""
    select = page.locator(".widget-dropdown select").last  # the dashboard's market picker
    select.scroll_into_view_if_needed()
    page.wait_for_timeout(2_000)  # let the dashboard, back on screen, apply what it queued while out of sight
    started = time.monotonic()
    select.select_option("binance:ETH-USDT")
    page.wait_for_function("""() => window.Bokeh.documents.some(d => { const s = d.get_model_by_name(
        'spread:binance:ETH-USDT'); return s && s.get_length() > 0; })""", timeout=60_000)
    return time.monotonic() - started


def probe(page: Any) -> dict[str, Any]:
    _, text = run_code(page, PROBE)
    return json.loads(text.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the traffic window")
    parser.add_argument("--runs", type=int, default=5, help="1 + 1 cells per round-trip figure (median)")
    parser.add_argument("--period", type=float, default=None,
                        help="seconds between refreshes of every view (default: livefeed's default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="livefeed-bench-nb-") as tmp:
        tmp_path = Path(tmp)
        root = tmp_path / "nb"
        root.mkdir()
        make_notebook(root, args.period)
        traffic = Traffic()
        with lab_page(root, tmp_path) as (base, page):
            page.on("websocket", traffic.attach)
            page.goto(f"{base}/lab/tree/bench.ipynb")
            page.wait_for_function(KERNEL_IDLE_JS, timeout=90_000)
            nb_cells = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets.length")
            # the setup cell only: feed running, nothing displayed
            page.evaluate("async () => { const app = window.jupyterapp; app.shell.currentWidget.content"
                          ".activeCellIndex = 0; await app.commands.execute('notebook:run-cell'); }")
            rtt(page, 1)  # warm-up
            rtt_idle = rtt(page, args.runs)
            print(f"rtt idle (feed running, no views): median {rtt_idle:.3f} s over {args.runs} runs")
            for index in range(1, nb_cells):
                page.evaluate("async (i) => { const app = window.jupyterapp; app.shell.currentWidget.content"
                              ".activeCellIndex = i; await app.commands.execute('notebook:run-cell'); }", index)
            print("views displayed; waiting for them to render", file=sys.stderr, flush=True)
            page.wait_for_function(DRAWN_JS, timeout=120_000)
            page.wait_for_timeout(3_000)  # let every view render before the window opens
            before = probe(page)
            print(f"recording {args.seconds:.0f} s of traffic", file=sys.stderr, flush=True)
            traffic.recording = True
            started = time.monotonic()
            page.wait_for_timeout(args.seconds * 1000)
            traffic.recording = False
            window = time.monotonic() - started
            after = probe(page)
            rtt_live = rtt(page, args.runs)
            print(f"rtt live (views on screen): median {rtt_live:.3f} s over {args.runs} runs")
            run_code(page, PAUSE.format(paused=True))
            rtt_paused = rtt(page, args.runs)
            run_code(page, PAUSE.format(paused=False))
            print(f"rtt with the same plots on screen but frozen (flushers paused): median {rtt_paused:.3f} s "
                  f"over {args.runs} runs; live costs {rtt_live / rtt_paused:.2f}x of that")
            switch = picker_switch(page)
            print(f"dashboard market picker: ETH-USDT views drawn {switch:.2f} s after the pick")

    labels: dict[str, str] = after["comms"]
    refreshes = {label: max(1, after["refreshes"].get(label, 0) - before["refreshes"].get(label, 0))
                 for label in labels.values()}
    per_view_msgs: Counter[str] = Counter()
    per_view_bytes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for msg in traffic.received:
        kinds[f"{msg['channel']}/{msg['msg_type']}"] += 1
        label = labels.get(msg["comm_id"] or "")
        if label is not None:
            per_view_msgs[label] += 1
            per_view_bytes[label] += msg["bytes"]
    sent = [m for m in traffic.sent if m["msg_type"] != "execute_request"]
    sent_kinds = Counter(f"{m['channel']}/{m['msg_type']}" for m in sent)
    total_bytes = sum(m["bytes"] for m in traffic.received)
    print(f"window {window:.1f} s")
    by_view: defaultdict[str, int] = defaultdict(int)
    for label in labels.values():
        by_view[label] += 0
    for label in sorted(by_view):
        print(f"view {label:<36} k2b {per_view_msgs[label] / window:7.1f} msgs/s "
              f"{per_view_bytes[label] / window / 1000:7.1f} kB/s "
              f"{per_view_msgs[label] / refreshes.get(label, 1):5.2f} msgs/refresh "
              f"({refreshes.get(label, 0) / window:.1f} refreshes/s)")
    print(f"k2b total {len(traffic.received) / window:.1f} msgs/s {total_bytes / window / 1000:.1f} kB/s; by kind: "
          + ", ".join(f"{k}={v}" for k, v in kinds.most_common()))
    print(f"b2k {len(sent) / window:.1f} msgs/s; by kind: "
          + ", ".join(f"{k}={v}" for k, v in sent_kinds.most_common()))
    per_view_refresh = max((per_view_msgs[label] / refreshes.get(label, 1) for label in by_view), default=0.0)
    print(f"NOTEBOOK rtt_idle_s={rtt_idle:.3f} rtt_live_s={rtt_live:.3f} rtt_ratio={rtt_live / rtt_idle:.2f} "
          f"k2b_msgs_per_view_refresh={per_view_refresh:.2f} b2k_msgs_per_s={len(sent) / window:.2f} "
          f"k2b_kBps={total_bytes / window / 1000:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
