"""The faults a server can inject, as one small state object its connections consult.

Kept apart from the servers so every fault has one switch and one counter, and a test can read exactly what was
done to the clients from ``counts``: each key counts effects (connections aborted, frames withheld or garbled,
upgrades refused, slow consumers dropped), not calls.
"""

from __future__ import annotations

import asyncio

__all__ = ["Faults", "FAULT_NAMES"]

FAULT_NAMES = (
    "drop_connections",  # client sockets aborted without a close frame
    "stall",  # frames withheld while stalled
    "skip_updates",  # depth diffs consumed but never sent
    "send_malformed",  # frames replaced by garbage / truncated JSON
    "refuse_connections",  # WebSocket upgrades answered with HTTP 503
    "slow_client",  # connections closed 1008 because their send queue overflowed
    "rate_limit",  # connections closed 1008 for more than the venue's incoming messages per second
    "corrupt_checksum",  # book messages sent with a wrong checksum (Kraken, OKX)
    "idle_timeout",  # connections closed for sending nothing for the venue's idle limit (Bybit, OKX)
    "rest_failures",  # REST requests answered with an injected failure (SimServer.fail_rest)
    "skip_trade_ids",  # trade ids consumed but never printed (VenueSim.skip_trade_ids): a hole in the trade ids
)


class Faults:
    """Switches read on the hot path (plain attributes) plus the effect counters."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(FAULT_NAMES, 0)
        self.send_delay = 0.0
        self.malformed_left = 0
        self.refuse_until = 0.0
        self._flowing = asyncio.Event()
        self._flowing.set()

    # -- stall ---------------------------------------------------------------------------------------------------
    @property
    def stalled(self) -> bool:
        return not self._flowing.is_set()

    def set_stalled(self, on: bool) -> None:
        if on:
            self._flowing.clear()
        else:
            self._flowing.set()

    async def wait_flowing(self) -> None:
        await self._flowing.wait()

    # -- malformed frames ----------------------------------------------------------------------------------------
    def garble(self, frame: bytes) -> bytes:
        """Replace ``frame`` while malformed frames are owed: alternately truncated JSON and non-JSON text."""
        if self.malformed_left <= 0:
            return frame
        self.malformed_left -= 1
        self.counts["send_malformed"] += 1
        if self.counts["send_malformed"] % 2:
            return frame[: max(1, len(frame) // 2)]
        return b"}{\x01 not json at all"

    # -- refusing upgrades ---------------------------------------------------------------------------------------
    def refusing(self, now: float) -> bool:
        if now < self.refuse_until:
            self.counts["refuse_connections"] += 1
            return True
        return False
