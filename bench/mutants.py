"""A mutation check of the integrity core: curated mutants of the book-sync rules, the book, the reconnect backoff,
the Redis sink's buffer and the chain tracker, each run against the tests that guard it.

    .venv/bin/python bench/mutants.py                  # every mutant
    .venv/bin/python bench/mutants.py okx binance.gap  # only mutants whose name starts with one of these
    .venv/bin/python bench/mutants.py --list

Each mutant is one text replacement in one source file (a rule weakened the way a real bug would weaken it). The
repository is copied to a temporary directory (``git archive HEAD`` plus the working-tree version of every file a
mutant changes, so uncommitted edits to those are what gets mutated); each mutant is applied to the copy, the
mutant's tests run there with this interpreter and ``PYTHONPATH`` at the copy's ``src`` (ahead of the editable
install), and the file is restored. A mutant is *killed* when a test fails (or the run times out), *survived*
when every test passes. The tests first run unmutated: a red baseline stops the check.
Last line: ``MUTANTS killed=K survived=S score=P%``.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300.0
"""Seconds one mutant's tests may take; a mutant that makes them hang counts as killed."""


@dataclass(frozen=True)
class Mutant:
    name: str
    """``<area>.<what>``: the area selects it on the command line."""
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    """pytest arguments: test files (or node ids) that guard the rule, fastest first."""
    rule: str
    """The rule the mutant breaks, as the test that kills it should state it."""


BINANCE = ("tests/venues/test_binance.py", "tests/venues/test_binance_buffered_gap.py",
           "tests/venues/test_binance_recorded.py", "tests/test_feed_sim.py")
BYBIT = ("tests/venues/test_bybit.py", "tests/venues/test_bybit_recorded.py", "tests/venues/test_bybit_feed.py")
OKX = ("tests/venues/test_okx.py", "tests/venues/test_okx_recorded.py", "tests/venues/test_okx_feed.py")
KRAKEN = ("tests/venues/test_kraken.py", "tests/venues/test_kraken_recorded.py", "tests/venues/test_kraken_feed.py")
COINBASE = ("tests/venues/test_coinbase.py", "tests/venues/test_coinbase_recorded.py",
            "tests/venues/test_coinbase_feed.py")
USDM = ("tests/venues/test_binance_usdm.py", "tests/venues/test_binance_usdm_recorded.py",
        "tests/venues/test_binance_usdm_feed.py")
DERIBIT = ("tests/venues/test_deribit.py", "tests/venues/test_deribit_recorded.py", "tests/venues/test_deribit_feed.py")
SETTLE = ("tests/venues/test_binance.py", "tests/venues/test_okx.py", "tests/venues/test_kraken.py",
          "tests/venues/test_coinbase.py", "tests/venues/test_bybit.py", "tests/test_feed_sim.py")
BOOK = ("tests/test_book.py",)
BACKOFF = ("tests/test_connection_backoff.py", "tests/test_connection.py")
REDIS = ("tests/ops/test_redis.py",)
CHAIN = ("tests/chain/test_tracker.py", "tests/chain/test_ethereum_anvil.py")

V = "src/livefeed/venues/"
MUTANTS = [
    # -- Binance: the diff stream's update-id chain (DepthSequencer) ------------------------------------------------
    Mutant("binance.straddle", V + "binance.py",
           "in_sequence = first <= expected if self._straddle_next else first == expected",
           "in_sequence = True if self._straddle_next else first == expected", BINANCE,
           "the first diff after a snapshot must straddle lastUpdateId + 1 (U <= id + 1 <= u)"),
    Mutant("binance.chain", V + "binance.py",
           "in_sequence = first <= expected if self._straddle_next else first == expected",
           "in_sequence = first <= expected if self._straddle_next else first <= expected", BINANCE,
           "after the first diff, each diff's U must be exactly the previous u + 1 (an overlap is a gap)"),
    Mutant("binance.straddle_once", V + "binance.py",
           "        self.last_id = last\n        self._straddle_next = False\n",
           "        self.last_id = last\n", BINANCE,
           "only the first diff after a snapshot may straddle; later ones must chain exactly"),
    Mutant("binance.duplicate", V + "binance.py",
           "if last <= self.last_id:\n            return Verdict.STALE",
           "if last < self.last_id:\n            return Verdict.STALE", BINANCE,
           "a diff whose u is the book's last id (a duplicate) is stale, not a gap"),
    Mutant("binance.gap_resets", V + "binance.py",
           "            self.reset()\n            self.buffer.append(delta)  # newer",
           "            self.buffer.append(delta)  # newer", BINANCE,
           "after a gap the book is unsynced: later diffs are buffered for the next snapshot, not applied"),
    Mutant("binance.gap_keeps_diff", V + "binance.py",
           "            self.reset()\n            self.buffer.append(delta)  # newer",
           "            self.reset()\n            # newer", BINANCE,
           "the diff that showed a gap is kept: it may be the first to follow the next snapshot"),
    Mutant("binance.old_snapshot", V + "binance.py",
           "if buffer and snapshot_id + 1 < buffer[0].first_sequence:",
           "if False and buffer and snapshot_id + 1 < buffer[0].first_sequence:", BINANCE,
           "a snapshot older than the first buffered diff leaves ids uncovered: refused, fetch again"),
    Mutant("binance.snapshot_joins", V + "binance.py",
           "if buffer and snapshot_id + 1 < buffer[0].first_sequence:",
           "if buffer and snapshot_id + 1 <= buffer[0].first_sequence:", BINANCE,
           "a snapshot at exactly first U - 1 joins the stream and is accepted"),
    Mutant("binance.start_drops_stale", V + "binance.py",
           "if verdict is Verdict.APPLY:  # a duplicate",
           "if verdict is not Verdict.GAP:  # a duplicate", BINANCE,
           "buffered diffs the snapshot already covers are not returned to be applied again"),
    # -- Binance USD-M futures: the first diff covers lastUpdateId, then each pu is the previous u (PuSequencer) --
    Mutant("usdm.pu_chain", V + "binance_usdm.py", "            else:\n                in_sequence = False",
           "            else:\n                in_sequence = True", USDM,
           "after the first diff, a diff applies only when its pu is the last applied u (else a gap)"),
    Mutant("usdm.first_covers", V + "binance_usdm.py", "            in_sequence = first <= self.last_id",
           "            in_sequence = True", USDM, "the first diff after a snapshot must have U <= lastUpdateId <= u"),
    Mutant("usdm.first_at_id", V + "binance_usdm.py",
           "            if last < self.last_id:\n                return Verdict.STALE",
           "            if last <= self.last_id:\n                return Verdict.STALE", USDM,
           "a first diff ending exactly at lastUpdateId (u = L) is applied, not stale"),
    Mutant("usdm.behind_is_stale", V + "binance_usdm.py",
           "            elif last <= self.last_id:\n                return",
           "            elif False:\n                return", USDM,
           "a diff wholly at or behind the last applied u (a duplicate) is stale, not a gap"),
    Mutant("usdm.gap_resets", V + "binance_usdm.py",
           "            self.reset()\n            self.buffer.append((delta, previous))",
           "            self.buffer.append((delta, previous))", USDM,
           "after a gap the book is unsynced: later diffs are buffered for the next snapshot"),
    Mutant("usdm.first_once", V + "binance_usdm.py", "        self.last_id = last\n        self._first = False",
           "        self.last_id = last", USDM, "only the first diff after a snapshot is judged by U <= L <= u"),
    Mutant("usdm.old_snapshot", V + "binance_usdm.py", "if buffer and buffer[0][0].first_sequence > snapshot_id:",
           "if False and buffer and buffer[0][0].first_sequence > snapshot_id:", USDM,
           "a snapshot older than the first buffered diff is refused (fetch again)"),
    Mutant("usdm.start_drops_stale", V + "binance_usdm.py",
           "            if verdict is Verdict.APPLY:\n                in_sequence.append(delta)",
           "            if verdict is not Verdict.GAP:\n                in_sequence.append(delta)", USDM,
           "buffered diffs the snapshot already covers are not returned to be applied"),
    # -- Deribit: each change names the last change_id as its prev_change_id (ChangeIdChain) --------------------------
    Mutant("deribit.chain", V + "deribit.py", "if message.prev_change_id != self.last_change_id:",
           "if message.prev_change_id > self.last_change_id:", DERIBIT,
           "a change whose prev_change_id is not the last change_id (behind it too) is a gap"),
    Mutant("deribit.before_snapshot", V + "deribit.py", "        if not self.synced:\n            return Verdict.STALE",
           "        if False:\n            return Verdict.STALE", DERIBIT,
           "a change before any snapshot (in flight from before a resubscribe) is stale, not a gap"),
    Mutant("deribit.gap_resets", V + "deribit.py", "            self.reset()\n            return Verdict.GAP",
           "            return Verdict.GAP", DERIBIT, "after a gap the chain waits for the next snapshot"),
    Mutant("deribit.advance", V + "deribit.py", "\n        self.last_change_id = message.change_id\n        return",
           "\n        return", DERIBIT, "each applied change moves the chain to its change_id"),
    Mutant("deribit.snapshot_starts_chain", V + "deribit.py",
           "            self.synced = True\n            self.last_change_id = message.change_id\n",
           "            self.synced = True\n", DERIBIT, "a snapshot starts the chain at its change_id"),
    # -- Bybit: each delta's u is the previous u + 1 (UpdateSequencer) ----------------------------------------------
    Mutant("bybit.gap", V + "bybit.py", "if u != self.last_u + 1:", "if u < self.last_u + 1:", BYBIT,
           "a delta whose u skips ahead is a gap"),
    Mutant("bybit.duplicate", V + "bybit.py", "if self.last_u is None or u <= self.last_u:",
           "if self.last_u is None or u < self.last_u:", BYBIT,
           "a delta whose u is the book's last u (a duplicate) is stale, not a gap"),
    Mutant("bybit.before_snapshot", V + "bybit.py",
           "if self.last_u is None or u <= self.last_u:\n            return Verdict.STALE",
           "if self.last_u is None:\n            self.last_u = u\n            return Verdict.APPLY\n"
           "        if u <= self.last_u:\n            return Verdict.STALE", BYBIT,
           "a delta while no snapshot is held is dropped, not applied"),
    Mutant("bybit.gap_resets", V + "bybit.py", "            self.last_u = None\n            return Verdict.GAP",
           "            return Verdict.GAP", BYBIT,
           "after a gap the rule holds no position: deltas are stale until the next snapshot"),
    # -- OKX: prevSeqId chain, then the CRC32 (BookChecker) ---------------------------------------------------------
    Mutant("okx.prev_seq", V + "okx.py", "message.prev_seq_id != self.last_seq:",
           "message.prev_seq_id > self.last_seq:", OKX,
           "an update whose prevSeqId is not the last seqId (behind it too: stale or duplicate) is a gap"),
    Mutant("okx.before_snapshot", V + "okx.py", "        if not self.synced:\n            return Verdict.STALE",
           "        if False:\n            return Verdict.STALE", OKX,
           "an update before any snapshot is dropped, not applied"),
    Mutant("okx.gap_resets", V + "okx.py", "            self.reset()\n            return Verdict.GAP",
           "            return Verdict.GAP", OKX,
           "after a gap the checker is unsynced: updates are dropped until the next snapshot"),
    Mutant("okx.seq_advances", V + "okx.py", "        if message.seq_id is not None:\n            self.last_seq",
           "        if False:\n            self.last_seq", OKX,
           "each applied update moves the chain to its seqId"),
    Mutant("okx.chain_from_snapshot", V + "okx.py",
           "            self.synced = True\n            self.last_seq = message.seq_id\n",
           "            self.synced = True\n", OKX,
           "the chain starts at the snapshot's seqId: the first update's prevSeqId must equal it"),
    Mutant("okx.checksum", V + "okx.py", "if self.book_checksum(book) != message.checksum:", "if False:", OKX,
           "a book that disagrees with the message's checksum is wrong"),
    Mutant("okx.checksum_resets", V + "okx.py", "            self.reset()\n            return False",
           "            return False", OKX,
           "after a checksum failure the checker is unsynced: updates are dropped until the next snapshot"),
    # -- Kraken: snapshot first, truncate to depth, CRC32 (BookIntegrity) -------------------------------------------
    Mutant("kraken.before_snapshot", V + "kraken.py", "        elif not self.synced:\n            return Verdict.STALE",
           "        elif False:\n            return Verdict.STALE", KRAKEN,
           "an update while no snapshot is held is dropped, not applied"),
    Mutant("kraken.snapshot_syncs", V + "kraken.py",
           "        if type(event) is BookSnapshot:\n            self.synced = True\n",
           "        if type(event) is BookSnapshot:\n            pass\n", KRAKEN,
           "a snapshot (re)starts the book: updates after it apply"),
    Mutant("kraken.checksum", V + "kraken.py", "        if expected != checksum:", "        if False:", KRAKEN,
           "a book that disagrees with the message's checksum is wrong"),
    Mutant("kraken.checksum_unsyncs", V + "kraken.py",
           "        if expected != checksum:\n            self.synced = False\n",
           "        if expected != checksum:\n", KRAKEN,
           "after a checksum failure updates are dropped until the next snapshot"),
    Mutant("kraken.truncate", V + "kraken.py", "        truncate(book, self.depth)\n", "", KRAKEN,
           "levels pushed out of the subscribed depth leave the book (Kraken never deletes them)"),
    # -- Coinbase: the connection's sequence_num, snapshot first, resubscribe until every book has one -------------
    Mutant("coinbase.gap_continues", V + "coinbase.py",
           "        self.gaps += 1\n        self.expected = sequence + 1\n", "        self.gaps += 1\n", COINBASE,
           "after a gap the count continues from the frame that showed it (one loss is reported once)"),
    Mutant("coinbase.late_frame", V + "coinbase.py",
           "            self.out_of_order += 1\n            return Verdict.STALE",
           "            self.out_of_order += 1\n            return Verdict.APPLY", COINBASE,
           "a frame numbered below the expected one (late or duplicate) is ignored"),
    Mutant("coinbase.before_snapshot", V + "coinbase.py",
           "return Verdict.APPLY if self.synced else Verdict.STALE", "return Verdict.APPLY", COINBASE,
           "an update before the book's snapshot is dropped"),
    Mutant("coinbase.gap_unsyncs_rules", V + "coinbase.py",
           "            self.rules[symbol].reset()\n            self.settle(", "            self.settle(", COINBASE,
           "after frames are lost every book waits for its fresh snapshot; updates in flight are dropped"),
    Mutant("coinbase.ask_again", V + "coinbase.py",
           "                    if remaining <= 0:\n                        break",
           "                    if remaining <= 0:\n                        return", COINBASE,
           "when the resubscribe's own snapshot is lost, it asks again"),
    Mutant("coinbase.renumber", V + "coinbase.py",
           "        self.tracker.reset()\n        self.unsync_all()", "        self.unsync_all()", COINBASE,
           "a new connection numbers its frames from 0 again"),
    # -- MarketAdapter.settle: the shared half of every venue's rule -----------------------------------------------
    Mutant("settle.unsync", V + "base.py",
           "            stats.resyncs += 1\n            stats.synced = False\n", "            stats.resyncs += 1\n",
           SETTLE, "a gap or a checksum failure marks the book unsynced until its resync"),
    Mutant("settle.resync", V + "base.py", "            stats.synced = False\n        self.resync_book(symbol, conn)",
           "            stats.synced = False", SETTLE, "a gap or a checksum failure starts the venue's resync"),
    Mutant("settle.buffered_not_resync", V + "base.py", "        if verdict is not Verdict.BUFFERED:",
           "        if True:", SETTLE, "a first buffered diff is not counted as a resync"),
    # -- the book -------------------------------------------------------------------------------------------------
    Mutant("book.delete_bid", "src/livefeed/book.py",
           "                levels[price] = size\n            elif price in levels:\n"
           "                del levels[price]\n                del keys[bisect_left(keys, price)]",
           "                levels[price] = size", BOOK, "size 0 removes a bid level"),
    Mutant("book.snapshot_zero", "src/livefeed/book.py", "self._bids = {price: size for price, size in bids if size}",
           "self._bids = {price: size for price, size in bids}", BOOK, "a snapshot ignores size-0 levels"),
    Mutant("book.crossed", "src/livefeed/book.py", "self._bid_keys[-1] >= -self._ask_keys[-1]",
           "self._bid_keys[-1] > -self._ask_keys[-1]", BOOK, "a bid equal to the ask is a crossed (broken) book"),
    Mutant("book.delta_sequence", "src/livefeed/book.py",
           "        if sequence is not None:\n            self.sequence = sequence\n\n", "\n", BOOK,
           "a delta moves the book's sequence"),
    # -- reconnect backoff ------------------------------------------------------------------------------------------
    Mutant("backoff.reset", "src/livefeed/connection.py", "                self._backoff.reset()",
           "                pass", BACKOFF, "a connection that stayed up past healthy_after resets the backoff"),
    Mutant("backoff.cap", "src/livefeed/connection.py", "base = min(self.cap, grown)", "base = grown", BACKOFF,
           "the delay never exceeds the cap"),
    Mutant("backoff.jitter", "src/livefeed/connection.py", "return base / 2 + self.rng.uniform(0, base / 2)",
           "return base", BACKOFF, "half the delay is random (equal jitter)"),
    Mutant("backoff.growth", "src/livefeed/connection.py", "grown = self.initial * self.factor**self.attempts",
           "grown = self.initial * self.factor ** (self.attempts + 1)", BACKOFF,
           "the first delay is the initial one"),
    # -- the Redis sink's buffer ------------------------------------------------------------------------------------
    Mutant("redis.drop_oldest", "src/livefeed/sinks/redis.py",
           "        if len(buffer) >= self.max_buffered:\n"
           "            buffer.popleft()\n            self.dropped += 1\n",
           "        if len(buffer) >= self.max_buffered:\n            self.dropped += 1\n            return\n", REDIS,
           "a full buffer drops the oldest event, keeping the newest"),
    Mutant("redis.remove_only_sent", "src/livefeed/sinks/redis.py",
           "while buffer and removed < n and id(buffer[0]) in sent_ids:", "while buffer and removed < n:", REDIS,
           "only the events just sent leave the buffer (drops while sending took from the front)"),
    # -- the chain tracker -------------------------------------------------------------------------------------------
    Mutant("chain.duplicate_block", "src/livefeed/chain/tracker.py",
           "        if block_hash in self.blocks:\n            self.duplicates += 1\n            return False",
           "        if False:\n            return False", CHAIN, "a block seen before is not emitted again"),
    Mutant("chain.duplicate_log", "src/livefeed/chain/tracker.py",
           "        if key in self.logs:\n            self.duplicates += 1\n            return False",
           "        if False:\n            return False", CHAIN, "a log seen before is not emitted again"),
    Mutant("chain.removed_log", "src/livefeed/chain/tracker.py", "        return [_retract(e) for e in events]",
           "        return []", CHAIN, "a log re-sent with removed: true is retracted"),
    Mutant("chain.prune", "src/livefeed/chain/tracker.py",
           "if self.head is None or len(self.hashes) <= self.window:", "if True:", CHAIN,
           "blocks older than the window are forgotten (memory stays bounded)"),
    Mutant("chain.stray_logs", "src/livefeed/chain/tracker.py",
           "n in self.hashes and self.hashes[n] != h]", "n in self.hashes and False]", CHAIN,
           "logs under a block hash the canonical chain passed without are retracted"),
]


def copy_repo(dest: Path, overlay: set[str]) -> None:
    """``git archive HEAD`` into ``dest``, then the working-tree version of each path in ``overlay``."""
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    for path in overlay:
        (dest / path).write_bytes((ROOT / path).read_bytes())


def run_tests(copy: Path, tests: tuple[str, ...], timeout: float) -> tuple[bool, str]:
    """Run ``tests`` in ``copy``: (passed, a short reason)."""
    env = dict(os.environ, PYTHONPATH=str(copy / "src"), PYTHONDONTWRITEBYTECODE="1")
    env["PATH"] = f"{ROOT / '.tools' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.pop("COVERAGE_PROCESS_START", None)
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning",
           *tests]
    try:
        done = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:.0f}s"
    if done.returncode == 0:
        return True, ""
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    return False, (failed[0] if failed else done.stdout.strip().splitlines()[-1] if done.stdout.strip() else
                   done.stderr.strip()[-200:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="run only mutants whose name starts with one of these")
    parser.add_argument("--list", action="store_true", help="list the mutants and the rules they break")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per mutant's tests")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.only or m.name.startswith(tuple(args.only))]
    if args.list:
        for m in chosen:
            print(f"{m.name:<28} {m.rule}")
        return 0
    if not chosen:
        parser.error("no mutant matches")
    with tempfile.TemporaryDirectory(prefix="livefeed-mutants-") as tmp:
        copy = Path(tmp)
        copy_repo(copy, {m.path for m in chosen})
        originals = {m.path: (copy / m.path).read_text() for m in chosen}
        for m in chosen:
            if originals[m.path].count(m.old) != 1:
                print(f"{m.name}: its text is not in {m.path} exactly once; update the mutant", file=sys.stderr)
                return 2
        baseline = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        ok, why = run_tests(copy, baseline, args.timeout * 3)
        if not ok:
            print(f"baseline: the unmutated tests fail ({why}); fix that first", file=sys.stderr)
            return 2
        killed, survived = 0, []
        for m in chosen:
            started = time.monotonic()
            (copy / m.path).write_text(originals[m.path].replace(m.old, m.new))
            try:
                passed, why = run_tests(copy, m.tests, args.timeout)
            finally:
                (copy / m.path).write_text(originals[m.path])
            took = time.monotonic() - started
            if passed:
                survived.append(m)
                print(f"SURVIVED {m.name:<28} ({took:5.1f}s) rule: {m.rule}", flush=True)
            else:
                killed += 1
                print(f"killed   {m.name:<28} ({took:5.1f}s) by {why}", flush=True)
    total = killed + len(survived)
    print(f"MUTANTS killed={killed} survived={len(survived)} score={100 * killed / total:.0f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
