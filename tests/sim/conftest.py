"""A tiny reference client for Binance's local-book procedure, shared by the simulator and replay tests.

Written from the documented rules only (buffer, snapshot, drop ``u <= lastUpdateId``, the first applied event
straddles ``lastUpdateId + 1``, then ``U == prev u + 1``), so it judges the servers independently of the
adapter under development.
"""

from __future__ import annotations

import pytest

__all__ = ["Gap", "LocalBook"]


class Gap(Exception):
    """An event's ``U`` skipped past the book's update id + 1: the book must be rebuilt from a new snapshot."""


class LocalBook:
    Gap = Gap

    def __init__(self) -> None:
        self.buffer: list[dict] = []
        self.last_id: int | None = None
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.applied = 0

    @property
    def synced(self) -> bool:
        return self.last_id is not None

    def on_diff(self, event: dict) -> None:
        if self.last_id is None:
            self.buffer.append(event)
        else:
            self._apply(event)

    def on_snapshot(self, snapshot: dict) -> None:
        self.bids = {p: q for p, q in snapshot["bids"]}
        self.asks = {p: q for p, q in snapshot["asks"]}
        self.last_id = snapshot["lastUpdateId"]
        pending = [e for e in self.buffer if e["u"] > self.last_id]
        self.buffer = []
        if pending:
            first = pending[0]
            assert first["U"] <= self.last_id + 1 <= first["u"], (first["U"], self.last_id, first["u"])
        for event in pending:
            self._apply(event)

    def _apply(self, event: dict) -> None:
        assert self.last_id is not None
        if event["u"] <= self.last_id:
            return
        if event["U"] > self.last_id + 1:
            raise Gap(f"U={event['U']} after book id {self.last_id}")
        for side, changes in ((self.bids, event["b"]), (self.asks, event["a"])):
            for price, qty in changes:
                if float(qty) == 0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        self.last_id = event["u"]
        self.applied += 1

    def as_floats(self) -> dict[str, dict[float, float]]:
        return {
            "bids": {float(p): float(q) for p, q in self.bids.items()},
            "asks": {float(p): float(q) for p, q in self.asks.items()},
        }

    def best(self) -> tuple[str, str, str, str]:
        bid = max(self.bids, key=float)
        ask = min(self.asks, key=float)
        return bid, self.bids[bid], ask, self.asks[ask]


@pytest.fixture
def local_book() -> type[LocalBook]:
    return LocalBook
