"""``LiveWidget``: a Bokeh layout as a Jupyter widget that costs one message per refresh and nothing back.

``jupyter_bokeh.BokehModel`` sends every document change as its own PATCH-DOC, split into 3 + 2 x buffers comm
messages, and its front end syncs every browser-side change (auto-ranged axes, layout sizes) back to the kernel.
Measured in JupyterLab with a depth chart, a spread chart and the dashboard live, that was ~300 WebSocket frames/s to
the browser and a steady stream back, and a trivial cell took seconds (``bench/notebook.py``).

Here the changes a view makes during one refresh are held, then sent as ONE comm message: the PATCH-DOC content as
JSON plus its arrays as binary buffers. The front end (a small ES module run by ``anywidget``) embeds the document
with the page's BokehJS and applies each patch (a plot scrolled out of sight queues them and catches up when it is
back, so hidden plots cost no rendering); it sends nothing back except when a view of the widget appears or is
removed (output cleared or replaced, notebook closed), so the kernel can stop refreshing what nobody sees.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import anywidget
import traitlets
from bokeh.core.json_encoder import serialize_json
from bokeh.document import Document
from bokeh.embed.elements import div_for_render_item
from bokeh.embed.util import standalone_docs_json_and_render_items
from bokeh.model import Model
from bokeh.protocol import Protocol

__all__ = ["LiveWidget"]

log = logging.getLogger(__name__)

RELEASE_AFTER = 5.0
"""Seconds a widget may have no view on screen (e.g. while its cell re-renders) before it is released."""

_ESM = r"""
function bokeh() {
  const B = window.Bokeh;
  if (!B || !B.require) throw new Error("BokehJS is not loaded in this page: run the cell again");
  return B;
}

async function render({ model, el }) {
  let doc = null;
  let views = null;
  try {
    const B = bokeh();
    const bundle = JSON.parse(model.get("render_bundle"));
    const docJson = Object.values(bundle.docs_json)[0];
    const { Document } = B.require("document");
    const { add_document_standalone } = B.require("embed/standalone");
    doc = Document.from_json(docJson);
    el.innerHTML = bundle.div;
    views = await add_document_standalone(doc, el.children[0]);
  } catch (err) {
    el.innerText = "livefeed: " + err;
    return;
  }
  // Patches for a plot scrolled out of sight are queued and applied when it comes back (or in one batch every
  // MAX_QUEUED): a hidden plot costs the browser no rendering, so the notebook stays responsive.
  const MAX_QUEUED = 240;
  let visible = true;
  const queued = [];
  const apply = (content, map) => { if (doc != null) doc.apply_json_patch(JSON.parse(content), map); };
  const flush = () => { for (const [content, map] of queued.splice(0)) apply(content, map); };
  const watcher = new IntersectionObserver((entries) => {
    for (const entry of entries) visible = entry.isIntersecting;
    if (visible) flush();
  });
  watcher.observe(el);
  const onMessage = (msg, buffers) => {
    if (!msg || msg.kind !== "patch" || doc == null) return;
    const map = new Map();
    msg.ids.forEach((id, i) => {
      const b = buffers[i];
      map.set(id, b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    });
    if (visible) { apply(msg.content, map); return; }
    queued.push([msg.content, map]);
    if (queued.length >= MAX_QUEUED) flush();
  };
  model.on("msg:custom", onMessage);
  model.send({ event: "view", shown: true });
  return () => {
    model.off("msg:custom", onMessage);
    watcher.disconnect();
    try {
      if (views != null) views.clear();
      if (doc != null) doc.clear();
    } catch (err) { console.warn("livefeed: removing a plot view:", err); }
    doc = null;
    try { model.send({ event: "view", shown: false }); } catch (err) { /* the comm is already closed */ }
  };
}
export default { render };
"""


def _render_bundle(model: Model) -> str:
    if model.document is None:
        Document().add_root(model)
    (docs_json, [item]) = standalone_docs_json_and_render_items([model], suppress_callback_warning=True)
    return serialize_json({"docs_json": docs_json, "render_items": [item.to_json()], "div": div_for_render_item(item)})


class LiveWidget(anywidget.AnyWidget):  # type: ignore[misc]
    """Shows one Bokeh layout; changes made to its document are held and sent by :meth:`send_changes`.

    ``views`` counts the front-end views currently showing it; when it drops to zero and stays there for
    :data:`RELEASE_AFTER` seconds (output cleared or replaced, notebook closed), or the comm is closed, the
    ``on_release`` callbacks run (the plot stops being refreshed) and the widget closes.
    """

    _esm = _ESM
    render_bundle = traitlets.Unicode("").tag(sync=True)

    def __init__(self, layout: Model, **kwargs: Any) -> None:
        self.bokeh_layout = layout
        self.pending: list[Any] = []
        self.messages_sent = 0
        self.views = 0
        self.ever_shown = False
        self.released = False
        self.on_release: list[Callable[[], None]] = []
        self._release_check: asyncio.TimerHandle | None = None
        super().__init__(render_bundle=_render_bundle(layout), **kwargs)
        assert layout.document is not None
        self.document: Document = layout.document
        self.document.on_change_dispatch_to(self)
        self.on_msg(self._on_front_end_message)
        if self.comm is not None:
            self.comm.on_close(lambda _msg: self.release())

    # -- kernel -> browser ------------------------------------------------------------------------------------

    def _document_patched(self, event: Any) -> None:
        # Called by Bokeh for every change of the document, on the thread making it (the kernel's loop).
        if not self.released:
            self.pending.append(event)

    def send_changes(self) -> int:
        """Send every change held since the last call as one message; returns how many messages were sent (0/1)."""
        if not self.pending:
            return 0
        events, self.pending = self.pending, []
        if self.released or self.comm is None:
            return 0
        msg = Protocol().create("PATCH-DOC", events)
        ids = [buffer.ref["id"] for buffer in msg.buffers]
        self.send({"kind": "patch", "content": msg.content_json, "ids": ids},
                  [buffer.to_bytes() for buffer in msg.buffers])
        self.messages_sent += 1
        return 1

    # -- browser -> kernel: only when a view appears or goes ------------------------------------------------

    def _on_front_end_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("event") != "view":
            return
        if content.get("shown"):
            self.views += 1
            self.ever_shown = True
        else:
            self.views = max(0, self.views - 1)
            if self.views == 0:
                self._schedule_release_check()

    def _schedule_release_check(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._release_check is not None:
            self._release_check.cancel()
        self._release_check = loop.call_later(RELEASE_AFTER, self._release_if_unseen)

    def _release_if_unseen(self) -> None:
        self._release_check = None
        if self.views == 0 and self.ever_shown:
            log.debug("releasing %r: no view of it is on screen", self)
            self.release()

    def release(self) -> None:
        """Stop refreshing this widget's views (``on_release``) and close it; safe to call more than once."""
        if self.released:
            return
        self.released = True
        self.pending = []
        if self._release_check is not None:
            self._release_check.cancel()
            self._release_check = None
        for callback in list(self.on_release):
            try:
                callback()
            except Exception:
                log.exception("release callback %r failed", callback)
        self.document.remove_on_change(self)
        if self.comm is not None:
            self.close()

    def __repr__(self) -> str:
        state = "released" if self.released else f"{self.views} view(s)"
        return f"<LiveWidget {state}, {self.messages_sent} messages sent>"
