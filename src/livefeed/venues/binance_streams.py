"""What Binance's spot and USD-M adapters share: combined streams with live ``SUBSCRIBE``, and books kept from a
REST snapshot plus the diffs buffered behind it.

Each adapter keeps its own rule (spot's ``U == previous u + 1``, USD-M's ``pu == previous u``: both with
``start(snapshot_id)``), its stream names and its snapshot request (:meth:`BinanceStreams.fetch_snapshot`); this
mixin does the rest the same way for both: subscribe in paced chunks, one snapshot fetch at a time per symbol,
fetch again with backoff until a snapshot joins the buffered diffs, resubscribe a depth stream gone silent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import orjson

from ..connection import Backoff, Connection
from ..model import BookSnapshot
from ..redact import redact_text
from .base import MalformedFrame, MarketAdapter, RestError, Verdict
from .rest import retry_after

__all__ = ["BinanceStreams", "HOLD_READING_AT"]

log = logging.getLogger(__name__)

HOLD_READING_AT = 1_000
"""Diffs buffered behind a pending snapshot at which the connection holds its reading until the snapshot is in
(live: 100 s of one symbol's diffs; a replay or a burst: a blink, which would otherwise overrun the rule's buffer of
10,000 before the snapshot arrives)."""


class BinanceStreams(MarketAdapter):
    """Base of the Binance adapters (a :class:`MarketAdapter` whose rules have ``start`` and ``buffer``)."""

    source_name: ClassVar[str] = "binance"
    """How logs and task names call this source."""
    subscribe_chunk: ClassVar[int] = 200
    """Streams per ``SUBSCRIBE`` message."""
    subscribe_pace: ClassVar[float] = 0.25
    """Seconds between two control messages (spot allows 5 incoming messages/s, USD-M 10)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fetching: dict[str, asyncio.Task[None]] = {}
        self._request_id = 0

    # -- what each adapter provides -----------------------------------------------------------------------------
    async def fetch_snapshot(self, symbol: str) -> BookSnapshot | None:
        """The venue's REST depth snapshot of ``symbol``, or ``None`` (logged) when it could not be had."""
        raise NotImplementedError

    def depth_stream(self, symbol: str) -> str:
        """The name of ``symbol``'s depth stream (for resubscribing it)."""
        raise NotImplementedError

    def snapshot_installed(self, symbol: str) -> None:
        """Called once a snapshot and the diffs buffered behind it are applied (the live audit checks there)."""

    # -- control messages ----------------------------------------------------------------------------------------
    def control(self, method: str, params: list[str]) -> str:
        """A ``SUBSCRIBE`` / ``UNSUBSCRIBE`` request with the next request id."""
        self._request_id += 1
        return orjson.dumps({"method": method, "params": params, "id": self._request_id}).decode()

    def subscriber(self, streams: list[str]) -> Callable[[Connection], Awaitable[None]]:
        """An ``on_connect`` that subscribes ``streams`` in paced chunks."""
        async def subscribe(conn: Connection) -> None:
            for start in range(0, len(streams), self.subscribe_chunk):
                if start:
                    await asyncio.sleep(self.subscribe_pace)
                await conn.send(self.control("SUBSCRIBE", streams[start : start + self.subscribe_chunk]))

        return subscribe

    def on_control(self, message: dict[str, Any]) -> None:
        """A reply to a control request: an error is logged; anything else that is not a reply is malformed."""
        if "error" in message:
            log.warning("%s: request %s failed: %s", self.source_name, message.get("id"), message["error"])
        elif "result" not in message:
            raise MalformedFrame(f"unexpected frame: {str(message)[:120]}")

    # -- the local book ------------------------------------------------------------------------------------------
    def resync_book(self, symbol: str, conn: Connection | None) -> None:
        """Fetch a REST snapshot (once at a time per symbol) while the diffs buffer behind it; past
        :data:`HOLD_READING_AT` buffered diffs the connection stops reading until the snapshot is in."""
        if conn is not None and len(self.rules[symbol].buffer) >= HOLD_READING_AT:  # type: ignore[attr-defined]
            conn.hold_reading(f"snapshot {symbol}")
        if symbol not in self._fetching:
            self._fetching[symbol] = self.spawn(self._sync_from_snapshot(symbol),
                                                f"{self.source_name}-snapshot-{symbol}")

    def revive_book(self, symbol: str, conn: Connection) -> None:
        """A depth stream gone silent on a live socket: resubscribe it; its next diff brings a fresh snapshot."""
        self.unsync(symbol)
        stream = self.depth_stream(symbol)

        async def resubscribe() -> None:
            try:
                for method in ("UNSUBSCRIBE", "SUBSCRIBE"):
                    await conn.send(self.control(method, [stream]))
                    await asyncio.sleep(self.subscribe_pace)
            except ConnectionError as exc:  # Connection.send's one error type: a reconnect subscribes everything
                log.info("%s %s: resubscribe failed (%s)", self.source_name, symbol, exc)

        self.spawn(resubscribe(), f"{self.source_name}-resubscribe-{symbol}")

    def unsync(self, symbol: str) -> None:
        super().unsync(symbol)
        task = self._fetching.pop(symbol, None)
        if task is not None:
            task.cancel()

    async def _sync_from_snapshot(self, symbol: str) -> None:
        backoff = Backoff(initial=0.1, cap=5.0)
        try:
            while True:
                snapshot = await self.fetch_snapshot(symbol)
                if snapshot is not None:
                    verdict, pending = self.rules[symbol].start(snapshot.sequence)  # type: ignore[attr-defined]
                    if verdict is Verdict.APPLY:
                        self.settle(symbol, Verdict.APPLY, snapshot, None)
                        for delta in pending:
                            self.settle(symbol, Verdict.APPLY, delta, None)
                        self.snapshot_installed(symbol)
                        return
                    if verdict is Verdict.GAP:  # ids missing among the diffs buffered behind the snapshot
                        self.settle(symbol, verdict, None, None)  # counts it; this task is the resync already
                    else:
                        log.info("%s %s: snapshot %s does not join the stream (%s); fetching again",
                                 self.source_name, symbol, snapshot.sequence, verdict.value)
                await asyncio.sleep(backoff.next_delay())
        finally:
            if self._fetching.get(symbol) is asyncio.current_task():
                del self._fetching[symbol]
            conn = self.connection_of(symbol)
            if conn is not None:
                conn.release_reading(f"snapshot {symbol}")

    # -- REST ----------------------------------------------------------------------------------------------------
    async def rest_json(self, path: str, symbol: str, params: dict[str, Any], what: str) -> Any:
        """GET ``path`` for ``symbol``'s ``what``; the JSON body, or ``None`` (logged) on any failure, after
        waiting out a rate limit (418/429 with ``Retry-After``)."""
        import httpx

        try:
            response = await self.rest_get(path, params=params)
        except (httpx.HTTPError, OSError, TimeoutError, RestError) as exc:
            log.warning("%s %s: %s request failed: %s", self.source_name, symbol, what,
                        redact_text(str(exc)) or type(exc).__name__)
            return None
        if response.status_code in (418, 429):
            wait = retry_after(response)
            log.warning("%s %s: rate limited (%s), retrying in %.0fs", self.source_name, symbol,
                        response.status_code, wait)
            await asyncio.sleep(wait)
            return None
        if response.status_code != 200:
            log.warning("%s %s: %s HTTP %s: %s", self.source_name, symbol, what, response.status_code,
                        response.text[:200])
            return None
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            log.warning("%s %s: %s body is not JSON (%s)", self.source_name, symbol, what,
                        redact_text(str(exc))[:200])
            return None
