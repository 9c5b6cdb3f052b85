"""``livefeed capture`` as a user runs it: a real process against a simulator, stopped with Ctrl-C (SIGINT);
every frame it reports as captured is in the files, which ``livefeed replay`` then serves."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import pytest

from livefeed.cli import main
from livefeed.reader import RedisFeed
from livefeed.replay import CaptureReplay
from livefeed.sim import BinanceSim
from livefeed.sinks.raw import read_capture

from .conftest import RedisServer


async def test_capture_stops_cleanly_on_ctrl_c_and_loses_nothing(tmp_path: Path, redis_server: RedisServer) -> None:
    async with BinanceSim(symbols=("BTC-USDT", "ETH-USDT"), seed=1, interval=0.01, levels=50) as sim:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "livefeed.cli", "capture", "binance:BTC-USDT", "binance:ETH-USDT",
            "--to", str(tmp_path), "--workers", "2", "--endpoint", f"binance={sim.rest_url}", "--redis", redis_server.url,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stderr is not None
        async with asyncio.timeout(60):
            while True:  # the status line says frames reached disk
                line = (await proc.stderr.readline()).decode()
                assert line, "capture exited early"
                match = re.search(r"raw ([\d,]+)", line)
                if match and int(match.group(1).replace(",", "")) > 100:
                    break
            proc.send_signal(signal.SIGINT)
            rest = (await proc.stderr.read()).decode()
            assert await proc.wait() == 0, rest
    written = int(re.search(r"([\d,]+) raw frames written", rest).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["worker-0", "worker-1"]
    assert sum(1 for _ in read_capture(tmp_path)) == written
    replay = CaptureReplay(tmp_path / "worker-0")
    assert replay.total_frames > 0 and [s.name for s in replay.streams] == ["binance-0"]
    # Two workers, one symbol each, one Redis: a single reader sees both.
    sent = int(re.search(r"([\d,]+) events to redis", rest).group(1).replace(",", ""))  # type: ignore[union-attr]
    async with RedisFeed(redis_server.url) as remote:
        done = asyncio.Event()
        remote.add_callback(lambda _e: remote.events_read >= sent and done.set())
        async with asyncio.timeout(30):
            await done.wait()
    assert set(remote.trades.to_pandas()["symbol"].astype(str)) == {"BTC-USDT", "ETH-USDT"}
    assert set(remote.books) == {("binance", "BTC-USDT"), ("binance", "ETH-USDT")}


def test_capture_rejects_bad_input_before_starting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capture", "binance:BTC-USDT"]) == 2
    assert "give --to DIR and/or --redis URL" in capsys.readouterr().err
    assert main(["capture", "nasdaq:AAPL", "--to", "x"]) == 2
    assert "unknown venue" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["capture", "binance:BTC-USDT", "--to", "x", "--duration", "soon"])
