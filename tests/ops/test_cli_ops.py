"""``livefeed capture`` and ``livefeed sim`` as a user runs them: real processes against a simulator, stopped
with Ctrl-C as a terminal sends it (SIGINT to the whole process group); every frame capture reports as captured
is in the files, which ``livefeed replay`` then serves; a worker's failure is one line."""

from __future__ import annotations

import ast
import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from livefeed import ConnectionOptions, Feed
from livefeed.capture_workers import shard
from livefeed.cli import main
from livefeed.commands.sim import simulators
from livefeed.reader import RedisFeed
from livefeed.replay import CaptureReplay
from livefeed.sim import SIMULATORS, BinanceSim
from livefeed.sim.__main__ import _parse as parse_sim_main
from livefeed.sinks.raw_capture import read_capture

from ..conftest import synced, until
from .conftest import RedisServer, free_port

CLI = (sys.executable, "-m", "livefeed.cli")


async def test_capture_stops_cleanly_on_ctrl_c_and_loses_nothing(tmp_path: Path, redis_server: RedisServer) -> None:
    async with BinanceSim(symbols=("BTC-USDT", "ETH-USDT"), seed=1, interval=0.01, levels=50) as sim:
        proc = await asyncio.create_subprocess_exec(
            *CLI, "capture", "binance:BTC-USDT", "binance:ETH-USDT", "binance:btc_usdt",  # one symbol spelled twice
            "--to", str(tmp_path), "--workers", "3", "--endpoint", f"binance={sim.rest_url}", "--redis", redis_server.url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        async with asyncio.timeout(90):
            banner = (await proc.stdout.readline()).decode()
            assert "capturing 2 subscription(s)" in banner, banner  # the two spellings were merged
            while True:  # the status line says frames reached disk and both books are in sync
                line = (await proc.stdout.readline()).decode()
                assert line, "capture exited early: " + (await proc.stderr.read()).decode()
                match = re.search(r"raw ([\d,]+) .*books (\d+)/(\d+) synced", line)
                if match and int(match.group(1).replace(",", "")) > 100 and match.group(2) == match.group(3) == "2":
                    break
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the parent and every worker get it
            rest = (await proc.stdout.read()).decode()
            errors = (await proc.stderr.read()).decode()
            assert await proc.wait() == 0, errors
    assert "Traceback" not in errors and "Error" not in errors, errors
    summary = re.search(r"stopped: .*", rest)
    assert summary, rest
    assert "0 not delivered to redis" in summary.group(0)
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


@pytest.mark.parametrize("verbose", [False, True])
async def test_a_worker_failure_is_one_line_and_verbose_reaches_the_workers(tmp_path: Path, verbose: bool) -> None:
    async with BinanceSim(symbols=("BTC-USDT", "ETH-USDT"), seed=1, interval=0.05, levels=20) as sim:
        proc = await asyncio.create_subprocess_exec(
            *CLI, *(["-v"] if verbose else []), "capture", "binance:BTC-USDX", "--to", str(tmp_path),
            "--endpoint", f"binance={sim.rest_url}",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(90):
            _, err = await proc.communicate()
    errors = err.decode()
    assert proc.returncode == 2, errors
    expected = "livefeed: worker 0 (binance:BTC-USDX): binance does not list 'BTC-USDX' (did you mean BTC-USDT"
    if verbose:  # the worker's own log (with its traceback) reaches the terminal, and the one line still ends it
        assert "worker-0" in errors and "Traceback" in errors, errors
        assert errors.splitlines()[-1].startswith(expected), errors
    else:
        assert errors.splitlines() == [errors.strip()] and errors.startswith(expected), errors


def test_shards_merge_repeats() -> None:
    assert shard(["binance:BTC-USDT", "binance:ETH-USDT", "binance:BTC-USDT"], 3) == [
        ["binance:BTC-USDT"], ["binance:ETH-USDT"]]


def test_capture_rejects_bad_input_before_starting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["capture", "binance:BTC-USDT"]) == 2
    assert "give --to DIR and/or --redis URL" in capsys.readouterr().err
    assert main(["capture", "nasdaq:AAPL", "--to", "x"]) == 2
    assert "unknown venue" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["capture", "binance:BTC-USDT", "--to", "x", "--duration", "soon"])


def test_sim_interval_reaches_every_venue() -> None:
    sims = simulators(SIMULATORS, ["BTC-USDT"], seed=1, interval=0.05)
    assert [venue for venue, _ in sims] == list(SIMULATORS)  # every source's simulator, spot venues first
    assert list(SIMULATORS)[:5] == ["binance", "coinbase", "kraken", "bybit", "okx"]
    assert {venue: sim.interval for venue, sim in sims} == dict.fromkeys(SIMULATORS, 0.05)


async def test_the_endpoints_line_of_livefeed_sim_works_for_every_venue() -> None:
    """Paste what ``livefeed sim`` prints into ``Feed(endpoints=...)``: every venue's books sync (Kraken and OKX
    too, whose WebSocket paths the old line lost)."""
    proc = await asyncio.create_subprocess_exec(*CLI, "sim", "BTC-USDT", "--interval", "0.02",
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(60):
            while not (line := (await proc.stdout.readline()).decode()).startswith("endpoints="):
                assert line, "livefeed sim exited: " + (await proc.stderr.read()).decode()  # type: ignore[union-attr]
        endpoints = ast.literal_eval(line.split("=", 1)[1].split("  (Ctrl-C")[0])
        venues = ["binance", "coinbase", "kraken", "bybit", "okx"]
        feed = Feed([f"{v}:BTC-USDT" for v in venues], channels=["book"], endpoints=endpoints,
                    connection=ConnectionOptions(backoff_initial=0.05, backoff_cap=0.5))
        async with feed:
            changed = asyncio.Event()
            feed.add_callback(lambda _e: changed.set())
            async with asyncio.timeout(60):
                while not synced(feed):
                    changed.clear()
                    await changed.wait()
            assert int(feed.stats()["reconnects"].sum()) == 0
    finally:
        proc.send_signal(signal.SIGINT)
        await proc.wait()


def test_python_m_livefeed_sim_takes_venues_by_name_or_all() -> None:
    assert parse_sim_main([]).venue == ["binance"]
    assert parse_sim_main(["--venue", "OKX", "kraken", "okx"]).venue == ["okx", "kraken", "okx"]
    assert parse_sim_main(["--venue", "all"]).venue == ["all"]
    sims = simulators(["okx", "kraken", "okx"], ["BTC-USDT"], seed=3, interval=0.05, levels=12)
    assert [(venue, type(sim).__name__) for venue, sim in sims] == [("okx", "OkxSim"), ("kraken", "KrakenSim")]
    assert all(len(m.snapshot(100)["bids"]) == 12 for _, sim in sims for m in sim.markets.values())


async def read_endpoints(proc: asyncio.subprocess.Process, deadline: float = 60) -> tuple[list[str], dict]:
    """The lines a simulator process prints up to and including its ``endpoints=`` line, and that line parsed."""
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    async with asyncio.timeout(deadline):
        while not (line := (await proc.stdout.readline()).decode()).startswith("endpoints="):
            assert line, "the simulator exited: " + (await proc.stderr.read()).decode()
            lines.append(line)
    return lines, ast.literal_eval(line.split("=", 1)[1].split("  (Ctrl-C")[0])


async def test_python_m_livefeed_sim_runs_the_venues_asked_for_and_a_feed_gets_their_data() -> None:
    """``--venue okx kraken``: OKX on ``--port``, Kraken on a free port, nothing else; a Feed pointed at the printed
    endpoints syncs both books and receives trades."""
    okx_port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livefeed.sim", "--venue", "okx", "kraken", "--port", str(okx_port), "--interval",
        "0.02", "--symbols", "BTC-USDT", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        lines, endpoints = await read_endpoints(proc)
        assert list(endpoints) == ["okx", "kraken"], lines
        assert endpoints["okx"]["rest"] == f"http://127.0.0.1:{okx_port}"
        assert [line.split(":")[0] for line in lines[1:]] == ["okx", "kraken"]
        feed = Feed(["okx:BTC-USDT", "kraken:BTC-USDT"], channels=["book", "trades"], endpoints=endpoints,
                    connection=ConnectionOptions(backoff_initial=0.05, backoff_cap=0.5))
        async with feed:
            await until(feed, lambda: synced(feed) and set(feed.trades.to_pandas()["venue"]) == {"okx", "kraken"},
                        timeout=60, what="both books synced and trades from both venues")
            assert int(feed.stats()["reconnects"].sum()) == 0
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = await proc.communicate()
    assert proc.returncode == 0 and "Traceback" not in err.decode(), err.decode()


async def test_the_summary_counts_events_redis_never_got(tmp_path: Path) -> None:
    """Redis down for the whole capture: nothing is sent, and the summary says how many events were not delivered."""
    async with BinanceSim(symbols=("BTC-USDT",), seed=2, interval=0.01, levels=20) as sim:
        proc = await asyncio.create_subprocess_exec(
            *CLI, "capture", "binance:BTC-USDT", "--to", str(tmp_path), "--endpoint", f"binance={sim.rest_url}",
            "--redis", f"redis://127.0.0.1:{free_port()}/0", "--duration", "1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(120):
            out, err = await proc.communicate()
    output, errors = out.decode(), err.decode()
    assert proc.returncode == 0, errors
    assert "Traceback" not in errors, errors
    summary = re.search(r"stopped: ([\d,]+) messages, .* ([\d,]+) events to redis, ([\d,]+) not delivered to redis",
                        output)
    assert summary, output
    messages, sent, undelivered = (int(g.replace(",", "")) for g in summary.groups())
    assert messages > 0 and sent == 0 and undelivered > 0


async def test_livefeed_replay_serves_a_capture_until_ctrl_c(tmp_path: Path) -> None:
    sim = BinanceSim(symbols=("BTC-USDT",), seed=4, interval=0.01, levels=20)
    async with sim, Feed(["binance:BTC-USDT"], endpoints={"binance": sim}, raw_capture=tmp_path) as live:
        await until(live, lambda: synced(live) and len(live.trades) >= 20, what="a short live session")
    proc = await asyncio.create_subprocess_exec(*CLI, "replay", str(tmp_path), stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        async with asyncio.timeout(60):
            line = (await proc.stdout.readline()).decode()
            match = re.search(r"replaying (\d+) frames \(binance-0\) on ws://\S+ / (http://\S+)", line)
            assert match and int(match.group(1)) > 0, line + (await proc.stderr.read()).decode()
            async with Feed(["binance:BTC-USDT"], endpoints={"binance": match.group(2)}) as again:
                await until(again, lambda: synced(again) and len(again.trades) >= 20, what="the replayed session")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = await proc.communicate()
    assert proc.returncode == 0 and err.decode() == "", err.decode()
