"""Property-based fuzzing of every venue's frame handler, inside a live feed on the venue's simulator.

Each venue's feed runs against its simulator until its books are synced, recording the real frames it receives.
Hypothesis then hands the adapter's own frame handler (what the connection calls for every frame) hostile frames:
random bytes, random text, random JSON, real frames truncated, and real frames with one field deleted or replaced
by a value of the wrong type. A frame may be refused (the connection counts it as malformed), but nothing may
escape as anything but an ``Exception`` (which the connection counts), and once the market moves on, every
book must equal the simulator's true book level for level: a hostile frame never leaves a synced book wrong.

Derandomized hypothesis over frames from a seeded simulator; ``FUZZ_EXAMPLES`` per venue keeps the file short.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livefeed import ConnectionOptions, Feed
from livefeed.commands.demo import MARKET_VENUES, default_subscriptions
from livefeed.sim import SIMULATORS

from ..conftest import assert_books_exact, synced, until

FUZZ_EXAMPLES = 120
"""Hypothesis examples per venue; each injects one to three frames."""
REAL_FRAMES = 400
"""Real frames recorded per venue, the seeds of the mutations."""

SYMBOLS = default_subscriptions(MARKET_VENUES, "BTC,ETH")
FUZZED: Counter[str] = Counter()
"""Frames injected per venue (printed by the last test, for the report)."""

JSON_LEAF = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=12)
JSON = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                          max_size=4), max_leaves=16)
WRONG_FOR_TEXT = st.sampled_from([None, [], {}, "", "not-a-number", "1e999999", "--1", [["1", "2"]], {"a": 1}])
WRONG_FOR_NUMBER = st.sampled_from([None, [], {}, "", "seven", [1], {"n": 1}, "0x1F"])


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a key or list item inside a decoded JSON frame."""
    out = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*path, index))
    return out


def _mutated(frame: str, draw: Callable[[Any], Any]) -> bytes | str:
    """``frame`` with one field deleted, or replaced by a value of another type (never a plausible value)."""
    message = orjson.loads(frame)
    paths = _paths(message)
    if not paths:
        return frame[: draw(st.integers(0, max(0, len(frame) - 1)))]
    path = draw(st.sampled_from(paths))
    parent = message
    for key in path[:-1]:
        parent = parent[key]
    key, old = path[-1], parent[path[-1]]
    if draw(st.booleans()):
        del parent[key]
    elif isinstance(old, str):
        parent[key] = draw(WRONG_FOR_TEXT)
    elif isinstance(old, bool) or old is None:
        parent[key] = draw(st.sampled_from(["yes", [], {"x": 1}, 3]))
    elif isinstance(old, int | float):
        parent[key] = draw(WRONG_FOR_NUMBER)
    else:  # a list or an object becomes a scalar
        parent[key] = draw(st.sampled_from([None, 0, "x", True]))
    return orjson.dumps(message)


def hostile_frame(real: list[str]) -> st.SearchStrategy[bytes | str]:
    @st.composite
    def build(draw: Callable[[Any], Any]) -> bytes | str:
        kind = draw(st.sampled_from(["bytes", "text", "json", "truncated", "mutated", "mutated"]))
        if kind == "bytes":
            return draw(st.binary(max_size=256))  # type: ignore[no-any-return]
        if kind == "text":
            return draw(st.text(max_size=256))  # type: ignore[no-any-return]
        if kind == "json":  # the standard library writes what orjson refuses: integers past 64 bits, Infinity
            return json.dumps(draw(JSON))
        frame = draw(st.sampled_from(real))
        if kind == "truncated":
            return frame[: draw(st.integers(0, len(frame) - 2))]  # type: ignore[no-any-return]
        return _mutated(frame, draw)

    return build()


@pytest.mark.parametrize("venue", MARKET_VENUES)
async def test_hostile_frames_never_crash_or_corrupt_a_synced_book(venue: str) -> None:
    real: list[str] = []

    def record(_name: str, frame: str | bytes, _receipt_ns: int) -> None:
        if isinstance(frame, str) and len(real) < REAL_FRAMES and frame.startswith(("{", "[")):
            real.append(frame)

    options = ConnectionOptions(stale_after=2.0, backoff_initial=0.05, backoff_cap=0.2, ping_interval=None, tap=record)
    sim_class: Any = SIMULATORS[venue]
    async with sim_class(symbols=SYMBOLS[venue], seed=11, interval=0.01) as sim:
        subs = [f"{venue}:{s}" for s in SYMBOLS[venue]]
        async with Feed(subs, channels=["trades", "book", "ticker"], endpoints={venue: sim}, connection=options) as feed:
            await until(feed, lambda: synced(feed) and len(real) >= REAL_FRAMES // 2, timeout=30,
                        what=f"{venue} synced with real frames recorded")
            adapter = feed.sources[0]
            conn = adapter.connections[0]
            outcomes: Counter[str] = Counter()

            @settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(st.lists(hostile_frame(list(real)), min_size=1, max_size=3))
            def inject(frames: list[bytes | str]) -> None:
                for frame in frames:
                    FUZZED[venue] += 1
                    try:
                        adapter.on_frame(frame, time.time_ns(), conn)  # what the connection calls per frame
                    except Exception as exc:  # the connection counts it as malformed and goes on
                        outcomes[type(exc).__name__] += 1
                    else:
                        outcomes["accepted"] += 1

            inject()  # synchronous: the feed's loop is held, as by a burst of frames
            assert sum(outcomes.values()) == FUZZED[venue]
            assert not feed.ended_sources, f"a venue task ended: {feed.ended_sources}"
            await assert_books_exact(feed, sim, venue, SYMBOLS[venue], synced_timeout=30, book_timeout=15)
            print(f"\n{venue}: {FUZZED[venue]} fuzzed frames, outcomes {dict(outcomes)}")


def test_report_the_number_of_fuzzed_frames() -> None:
    """Runs after the venues (file order): the figure for the report."""
    if not FUZZED:
        pytest.skip("run with the fuzz tests above")
    print(f"\nfuzzed frames: {sum(FUZZED.values())} ({dict(FUZZED)})")
    assert set(FUZZED) == set(MARKET_VENUES)
