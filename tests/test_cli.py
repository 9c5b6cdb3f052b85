"""The main job, as a user runs it: ``livefeed demo`` against all five simulators (and the perpetuals' and, with
``--options``, Deribit's), exporting Parquet at the end.

The demo runs until the condition a test needs shows in its status lines (not for a fixed number of seconds, which
on a loaded machine may end before five venues have connected), then gets Ctrl-C (SIGINT), as a user stops it."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

VENUES = ("binance", "coinbase", "kraken", "bybit", "okx")
ROW = re.compile(r"^(?P<venue>[a-z]+)\s+(?P<symbol>\S+)\s+(?P<bid>\S+)\s+(?P<ask>\S+)\s+\S+\s+(?P<trades>\S+)\s")


def run_demo_until(args: list[str], ready: Callable[[str], bool], timeout: float = 90.0,
                   ) -> subprocess.CompletedProcess[str]:
    """Run ``livefeed demo`` until ``ready(stdout so far)`` holds, then stop it with SIGINT and wait for it to
    finish (export included); fails if the condition does not hold within ``timeout`` seconds."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "livefeed.cli", "demo", *args], stdout=subprocess.PIPE,
                                stderr=err, text=True)
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        out: list[str] = []
        ended = False
        deadline = time.monotonic() + timeout
        try:
            while not ready("".join(out)):
                try:
                    line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    raise AssertionError(f"the demo did not get there in {timeout}s; it printed:\n{''.join(out)}") from None
                if line is None:
                    ended = True  # it exited on its own: the assertions on its output say why
                    break
                out.append(line)
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(timeout=10)
        while not ended:  # what it printed after SIGINT: the summary and the export
            line = lines.get(timeout=10)
            ended = line is None
            out.extend([line] if line is not None else [])
        err.seek(0)
        return subprocess.CompletedProcess(proc.args, proc.returncode, "".join(out), err.read())


def rows(stdout: str) -> list[re.Match[str]]:
    """The venue rows of every status block printed so far."""
    return [m for line in stdout.splitlines() if (m := ROW.match(line)) and m["venue"] in VENUES]


def every_venue_quoted_and_traded(stdout: str) -> bool:
    quoted = {m["venue"] for m in rows(stdout) if m["bid"] != "-" and m["ask"] != "-"}
    traded = {m["venue"] for m in rows(stdout) if float(m["trades"]) > 0}
    return quoted == traded == set(VENUES)


def test_demo_runs_offline_and_exports(tmp_path: Path) -> None:
    out = tmp_path / "captures"
    result = run_demo_until(
        ["--interval", "0.02", "--serve", "0", "--fault", "gap@1", "--export", str(out)],
        lambda s: every_venue_quoted_and_traded(s) and "injecting fault: gap" in s and "consolidated BTC-USD" in s,
    )
    assert result.returncode == 0, result.stderr
    assert "BTC-USDT" in result.stdout and "msgs/s" in result.stdout and "summary:" in result.stdout
    trades = pd.read_parquet(out / "trades.parquet")
    top = pd.read_parquet(out / "top_of_book.parquet")
    assert set(trades["venue"].astype(str)) == set(VENUES)
    assert set(top["venue"].astype(str)) == set(VENUES)
    assert set(top["symbol"].astype(str)) == {"BTC-USD", "ETH-USD", "BTC-USDT", "ETH-USDT", "BTC-USDT-PERP"}
    perps = top[top["symbol"] == "BTC-USDT-PERP"]
    assert set(perps["venue"].astype(str)) == {"binance", "bybit", "okx"}  # every chosen venue with perpetuals
    funding = pd.read_parquet(out / "funding.parquet")
    assert set(funding["venue"].astype(str)) == {"binance", "bybit", "okx"}
    assert re.search(r"^basis binance BTC-USDT-PERP vs binance BTC-USDT: [+-][\d.,]+ \([+-][\d.]+ bp\)", result.stdout,
                     re.MULTILINE)
    assert str(top["ts"].dtype) == "datetime64[ns, UTC]"
    assert (top["ask_price"] > top["bid_price"]).all()


SMILE = re.compile(r"^smile deribit BTC (?P<expiry>\d{4}-\d\d-\d\d) \(forward [\d,.]+\): (?P<points>.+)$", re.MULTILINE)


def test_demo_with_options_shows_a_live_smile_and_exports_the_quotes(tmp_path: Path) -> None:
    out = tmp_path / "captures"
    result = run_demo_until(
        ["--options", "--venues", "binance", "--interval", "0.02", "--no-serve", "--export", str(out)],
        lambda s: len(SMILE.findall(s)) >= 2 and "basis deribit BTC-USD-PERP" in s and "funding" in s,
    )
    assert result.returncode == 0, result.stderr
    smile = SMILE.findall(result.stdout)[-1]
    points = dict(p.split(" ", 1) for p in smile[1].split(" | "))
    assert len(points) == 5 and all(re.fullmatch(r"\d+\.\d%", iv) for iv in points.values())  # five strikes
    assert re.search(r"^ATM IV term structure: \S+ \d+\.\d% \| \S+ \d+\.\d%$", result.stdout, re.MULTILINE)
    options = pd.read_parquet(out / "options.parquet")
    assert options["symbol"].nunique() == 2 * 5 * 2  # two expiries, five strikes, calls and puts
    assert options["mark_iv"].between(0.05, 3).all()  # fractions, not percents
    top = pd.read_parquet(out / "top_of_book.parquet")
    assert {"BTC-USD-PERP", "BTC-USDT-PERP", "BTC-USDT"} <= set(top["symbol"].astype(str))


def test_bad_fault_name_is_a_usage_error() -> None:
    result = subprocess.run([sys.executable, "-m", "livefeed.cli", "demo", "--fault", "explode"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "unknown fault 'explode'" in result.stderr


def test_demo_with_chain_streams_anvil_events(tmp_path: Path) -> None:
    from livefeed.chain.devnode.anvil import find_anvil

    if not find_anvil():
        if os.environ.get("LIVEFEED_REQUIRE_SERVICES") == "1":
            raise AssertionError("anvil is required (LIVEFEED_REQUIRE_SERVICES=1) but not installed")
        pytest.skip("anvil not installed: run scripts/install-system-deps.sh")
    out = tmp_path / "captures"
    result = run_demo_until(
        ["--chain", "--venues", "binance", "--serve", "0", "--export", str(out)],
        lambda s: re.search(r"eth: block \d+, .*transfers=[1-9]", s) is not None,
    )
    assert result.returncode == 0, result.stderr
    assert "ERROR" not in result.stderr
    blocks = pd.read_parquet(out / "blocks.parquet")
    transfers = pd.read_parquet(out / "transfers.parquet")
    assert len(blocks) > 0 and blocks["number"].is_unique
    assert len(transfers) > 0
