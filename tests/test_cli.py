"""The main job, as a user runs it: ``livefeed demo`` against all five simulators, exporting Parquet at the end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest


def test_demo_runs_offline_and_exports(tmp_path: Path) -> None:
    out = tmp_path / "captures"
    result = subprocess.run(
        [sys.executable, "-m", "livefeed.cli", "demo", "--duration", "3", "--interval", "0.02", "--serve", "0",
         "--fault", "gap@1", "--export", str(out)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "BTC-USDT" in result.stdout and "msgs/s" in result.stdout
    assert "consolidated BTC-USD" in result.stdout and "summary:" in result.stdout
    trades = pd.read_parquet(out / "trades.parquet")
    top = pd.read_parquet(out / "top_of_book.parquet")
    assert len(trades) > 0 and len(top) > 0
    assert set(top["venue"].astype(str)) == {"binance", "coinbase", "kraken", "bybit", "okx"}
    assert {"BTC-USD", "ETH-USD", "BTC-USDT", "ETH-USDT"} <= set(top["symbol"].astype(str))
    assert str(top["ts"].dtype) == "datetime64[ns, UTC]"
    assert (top["ask_price"] > top["bid_price"]).all()
    last_lines = result.stdout.strip().splitlines()
    assert any("injecting fault: gap" in line for line in last_lines)


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
    result = subprocess.run(
        [sys.executable, "-m", "livefeed.cli", "demo", "--chain", "--venues", "binance", "--duration", "5",
         "--serve", "0", "--export", str(out)],
        capture_output=True, text=True, timeout=90,
    )
    assert result.returncode == 0, result.stderr
    assert "eth: block" in result.stdout
    assert "ERROR" not in result.stderr
    blocks = pd.read_parquet(out / "blocks.parquet")
    transfers = pd.read_parquet(out / "transfers.parquet")
    assert len(blocks) > 0 and blocks["number"].is_unique
    assert len(transfers) > 0
