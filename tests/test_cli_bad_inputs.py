"""No input ends in a traceback: every bad command line gives one clear line on stderr and a non-zero exit.

Each input runs in a process of its own. Importing livefeed (pandas, numpy, websockets) costs seconds, so one
helper process imports the CLI once and forks a child per input; the child runs the real ``main()`` with the real
stdout/stderr file descriptors redirected to files and exits with its return code, exactly as the console script
does (an exception escaping ``main()`` prints the interpreter's traceback). Two inputs also run through
``python -m livefeed.cli`` itself.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

CHILD_TIMEOUT = 15.0
"""A bad input must fail fast (each takes well under a second); a child still running after this long counts
as accepted (and is killed)."""

pytestmark = pytest.mark.timeout(1800)  # the shared fixture runs every case once, up to CHILD_TIMEOUT each

_RUNNER = r'''
import json, os, signal, sys, time, traceback
import livefeed.cli
import livefeed.sim.__main__

def child(entry, argv):
    try:
        if entry == "sim-main":
            livefeed.sim.__main__.main(argv)
            code = 0
        else:
            code = livefeed.cli.main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else (print(exc.code, file=sys.stderr) or 1))
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush(); sys.stderr.flush()
    os._exit(code)

results = []
for case in json.load(sys.stdin):
    out, err = case["out"], case["err"]
    pid = os.fork()
    if pid == 0:
        os.chdir(case["cwd"])
        for fd, path in ((1, out), (2, err)):
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(handle, fd)
            os.close(handle)
        child(case["entry"], case["argv"])
    began = time.monotonic()
    deadline = began + case["timeout"]
    status = None
    while status is None:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(raw)
        elif time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = "timeout"
        else:
            time.sleep(0.02)
    results.append([status, round(time.monotonic() - began, 2)])
print(json.dumps(results))
'''


def _zst(path: Path, data: bytes) -> Path:
    path.write_bytes(zstandard.ZstdCompressor().compress(data))
    return path


def _bomb(path: Path, mib: int = 512) -> Path:
    """A 16 KB zstd file that expands to ``mib`` MiB with no newline."""
    compressor = zstandard.ZstdCompressor(level=3).compressobj(size=mib * 2**20)
    chunk = b"a" * 2**20
    path.write_bytes(b"".join([*(compressor.compress(chunk) for _ in range(mib)), compressor.flush()]))
    return path


def _make_files(tmp: Path) -> None:
    """The files the cases name: each a thing a user might point the CLI at by mistake."""
    (tmp / "empty").mkdir()
    (tmp / "a-file").write_text("not a directory\n")
    (tmp / "plain.jsonl.zst").write_text("hello, not zstd\n")
    _zst(tmp / "rest-only.jsonl.zst", b'{"t":1,"c":"binance:rest 200 /api/v3/depth","d":"{}"}\n')
    _zst(tmp / "text.jsonl.zst", b"hello\nworld\n")
    _zst(tmp / "keys.jsonl.zst", b'{"x":1}\n')
    _zst(tmp / "list.jsonl.zst", b"[1,2,3]\n")
    _zst(tmp / "b64.jsonl.zst", b'{"t":1,"c":"x-0","b":"abc"}\n')
    _zst(tmp / "name.jsonl.zst", b'{"t":1,"c":"../../../etc/x","d":"{}"}\n')
    _zst(tmp / "status.jsonl.zst", b'{"t":1,"c":"binance:rest abc /x","d":"{}"}\n')
    _zst(tmp / "time.jsonl.zst", b'{"t":"soon","c":"binance-0","d":"{}"}\n')
    _bomb(tmp / "bomb.jsonl.zst")


RUN = ["--duration", "0.2", "--no-serve", "--venues", "binance"]  # where a mistake would only show in a run
REST_ONLY = "{tmp}/rest-only.jsonl.zst"
CASES: dict[str, tuple[str, list[str]]] = {
    # the whole CLI
    "no-command": ("cli", []),
    "unknown-command": ("cli", ["frobnicate"]),
    "unknown-option": ("cli", ["demo", "--bogus"]),
    # demo
    "demo-symbol-slashes": ("cli", ["demo", "--symbols", "BTC/US/DT", *RUN]),
    "demo-symbol-empty": ("cli", ["demo", "--symbols", ",", *RUN]),
    "demo-symbol-punctuation": ("cli", ["demo", "--symbols", "BTC!", *RUN]),
    "demo-interval-zero": ("cli", ["demo", "--interval", "0", *RUN]),
    "demo-interval-negative": ("cli", ["demo", "--interval", "-1", *RUN]),
    "demo-interval-nan": ("cli", ["demo", "--interval", "nan", *RUN]),
    "demo-interval-inf": ("cli", ["demo", "--interval", "inf", *RUN]),
    "demo-interval-text": ("cli", ["demo", "--interval", "fast", *RUN]),
    "demo-serve-too-high": ("cli", ["demo", "--serve", "99999", "--duration", "0.2", "--venues", "binance"]),
    "demo-serve-negative": ("cli", ["demo", "--serve", "-1", "--duration", "0.2", "--venues", "binance"]),
    "demo-serve-text": ("cli", ["demo", "--serve", "http", "--duration", "0.2", "--venues", "binance"]),
    "demo-export-unwritable": ("cli", ["demo", "--export", "/proc/x", *RUN]),
    "demo-export-is-a-file": ("cli", ["demo", "--export", "{tmp}/a-file", *RUN]),
    "demo-duration-negative": ("cli", ["demo", "--duration", "-5", "--no-serve", "--venues", "binance"]),
    "demo-duration-nan": ("cli", ["demo", "--duration", "nan", "--no-serve", "--venues", "binance"]),
    "demo-fault-unknown": ("cli", ["demo", "--fault", "explode", *RUN]),
    "demo-fault-time-text": ("cli", ["demo", "--fault", "gap@soon", *RUN]),
    "demo-fault-time-nan": ("cli", ["demo", "--fault", "gap@nan", *RUN]),
    "demo-fault-time-negative": ("cli", ["demo", "--fault", "gap@-3", *RUN]),
    "demo-venue-unknown": ("cli", ["demo", "--venues", "nasdaq", "--duration", "0.2", "--no-serve"]),
    "demo-venues-empty": ("cli", ["demo", "--venues", "", "--duration", "0.2", "--no-serve"]),
    "demo-seed-text": ("cli", ["demo", "--seed", "x", *RUN]),
    "demo-eth-node-without-chain": ("cli", ["demo", "--eth-node", "ws://127.0.0.1:1", *RUN]),
    "demo-chain-live-without-node": ("cli", ["demo", "--chain", "--live", *RUN]),
    # sim
    "sim-port-too-high": ("cli", ["sim", "--port", "99999"]),
    "sim-port-negative": ("cli", ["sim", "--port", "-1"]),
    "sim-port-busy": ("cli", ["sim", "--port", "{busy}"]),
    "sim-symbol-without-quote": ("cli", ["sim", "BTCUSDT"]),
    "sim-symbol-punctuation": ("cli", ["sim", "BTC-USDT!"]),
    "sim-interval-zero": ("cli", ["sim", "--interval", "0"]),
    "sim-interval-negative": ("cli", ["sim", "--interval", "-0.5"]),
    "sim-seed-text": ("cli", ["sim", "--seed", "one"]),
    # python -m livefeed.sim
    "sim-main-port-too-high": ("sim-main", ["--port", "70000"]),
    "sim-main-port-busy": ("sim-main", ["--port", "{busy}"]),
    "sim-main-symbols": ("sim-main", ["--symbols", "BTCUSDT"]),
    "sim-main-interval-zero": ("sim-main", ["--interval", "0"]),
    "sim-main-levels-zero": ("sim-main", ["--levels", "0"]),
    "sim-main-levels-below-the-market-minimum": ("sim-main", ["--levels", "9"]),
    "sim-main-host-unknown": ("sim-main", ["--host", "no-such-host.invalid", "--port", "0"]),
    "sim-main-venue-unknown": ("sim-main", ["--venue", "ftx"]),
    "sim-main-venue-one-unknown": ("sim-main", ["--venue", "okx", "binance.us"]),
    "sim-main-venue-missing": ("sim-main", ["--venue"]),
    "sim-main-second-venue-host-unknown": ("sim-main", ["--venue", "all", "--host", "no-such-host.invalid"]),
    # replay
    "replay-missing-path": ("cli", ["replay", "{tmp}/missing"]),
    "replay-empty-directory": ("cli", ["replay", "{tmp}/empty"]),
    "replay-not-zstd": ("cli", ["replay", "{tmp}/plain.jsonl.zst"]),
    "replay-zstd-not-json": ("cli", ["replay", "{tmp}/text.jsonl.zst"]),
    "replay-json-missing-keys": ("cli", ["replay", "{tmp}/keys.jsonl.zst"]),
    "replay-json-a-list": ("cli", ["replay", "{tmp}/list.jsonl.zst"]),
    "replay-bad-base64": ("cli", ["replay", "{tmp}/b64.jsonl.zst"]),
    "replay-hostile-connection-name": (
        "cli", ["replay", "{tmp}/name.jsonl.zst"]),
    "replay-rest-status-not-a-number": (
        "cli", ["replay", "{tmp}/status.jsonl.zst"]),
    "replay-time-not-a-number": (
        "cli", ["replay", "{tmp}/time.jsonl.zst"]),
    "replay-rest-only": ("cli", ["replay", REST_ONLY]),
    "replay-zstd-bomb": ("cli", ["replay", "{tmp}/bomb.jsonl.zst"]),
    "replay-speed-zero": ("cli", ["replay", REST_ONLY, "--speed", "0"]),
    "replay-speed-nan": ("cli", ["replay", REST_ONLY, "--speed", "nan"]),
    "replay-port-too-high": ("cli", ["replay", REST_ONLY, "--port", "99999"]),
    "replay-port-busy": ("cli", ["replay", REST_ONLY, "--port", "{busy}"]),
    # capture: everything a worker would hit is caught before any worker starts
    "capture-no-target": ("cli", ["capture", "binance:BTC-USDT"]),
    "capture-unknown-venue": ("cli", ["capture", "nasdaq:AAPL", "--to", "out"]),
    "capture-bad-symbol": ("cli", ["capture", "binance:BTCUSDT!", "--to", "out"]),
    "capture-no-venue": ("cli", ["capture", "BTC-USDT", "--to", "out"]),
    "capture-channel-typo": ("cli", ["capture", "binance:BTC-USDT", "--to", "out", "--channels", "trade"]),
    "capture-channels-empty": ("cli", ["capture", "binance:BTC-USDT", "--to", "out", "--channels", ","]),
    "capture-to-unwritable": ("cli", ["capture", "binance:BTC-USDT", "--to", "/proc/x"]),
    "capture-to-is-a-file": ("cli", ["capture", "binance:BTC-USDT", "--to", "{tmp}/a-file"]),
    "capture-redis-not-redis": ("cli", ["capture", "binance:BTC-USDT", "--redis", "http://127.0.0.1:6379"]),
    "capture-redis-bad-port": ("cli", ["capture", "binance:BTC-USDT", "--redis", "redis://127.0.0.1:port"]),
    "capture-redis-no-host": ("cli", ["capture", "binance:BTC-USDT", "--redis", "redis://"]),
    "capture-endpoint-empty-url": ("cli", ["capture", "binance:BTC-USDT", "--to", "out", "--endpoint", "foo="]),
    "capture-endpoint-no-venue": ("cli", ["capture", "binance:BTC-USDT", "--to", "out", "--endpoint", "=ws://x"]),
    "capture-endpoint-unknown-venue": (
        "cli", ["capture", "binance:BTC-USDT", "--to", "out", "--endpoint", "foo=http://127.0.0.1:1"]),
    "capture-endpoint-not-a-url": (
        "cli", ["capture", "binance:BTC-USDT", "--to", "out", "--endpoint", "binance=somewhere"]),
    "capture-metrics-port-too-high": (
        "cli", ["capture", "binance:BTC-USDT", "--to", "out", "--metrics-port", "99999"]),
    "capture-metrics-port-busy": (
        "cli", ["capture", "binance:BTC-USDT", "--to", "out", "--metrics-port", "{busy}"]),
    "capture-metrics-port-past-the-end": (
        "cli", ["capture", "binance:BTC-USDT", "binance:ETH-USDT", "--to", "out", "--workers", "2",
                "--metrics-port", "65535"]),
    "capture-workers-zero": ("cli", ["capture", "binance:BTC-USDT", "--to", "out", "--workers", "0"]),
    "capture-workers-text": ("cli", ["capture", "binance:BTC-USDT", "--to", "out", "--workers", "two"]),
    "capture-workers-too-many": ("cli", ["capture", "binance:BTC-USDT", "--to", "out", "--workers", "1000"]),
    "capture-duration-text": ("cli", ["capture", "binance:BTC-USDT", "--to", "out", "--duration", "soon"]),
}
"""id -> (entry point, argv); ``{tmp}`` is the folder of the files above, ``{busy}`` a port in use."""


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory, busy_port: int) -> dict[str, tuple[object, str]]:
    """Run every bad input once (each in its own forked process); id -> (exit code, stderr)."""
    tmp = tmp_path_factory.mktemp("bad-inputs")
    _make_files(tmp)
    cases = {name: (entry, [a.format(tmp=tmp, busy=busy_port) for a in argv]) for name, (entry, argv) in CASES.items()}
    work = tmp / "cwd"
    work.mkdir()
    table = [
        {"entry": entry, "argv": argv, "cwd": str(work), "out": str(tmp / f"{i}.out"), "err": str(tmp / f"{i}.err"),
         "timeout": CHILD_TIMEOUT}
        for i, (entry, argv) in enumerate(cases.values())
    ]
    result = subprocess.run([sys.executable, "-c", _RUNNER], input=json.dumps(table), capture_output=True,
                            text=True, timeout=CHILD_TIMEOUT * len(table) + 120)
    assert result.returncode == 0, result.stderr[-2000:]
    codes = json.loads(result.stdout.strip().splitlines()[-1])
    for name, (code, seconds) in zip(cases, codes, strict=True):
        print(f"{name}: exit {code} in {seconds} s")
    return {name: (code, Path(case["err"]).read_text()) for name, (code, _), case in zip(cases, codes, table, strict=True)}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_one_line_and_a_nonzero_exit(name: str, outcomes: dict[str, tuple[object, str]]) -> None:
    code, stderr = outcomes[name]
    assert code != "timeout", f"{name}: accepted (still running after {CHILD_TIMEOUT} s); stderr: {stderr[-500:]}"
    assert code != 0, f"{name}: exit code 0; stderr: {stderr[-500:]}"
    assert "Traceback" not in stderr, f"{name}:\n{stderr[-3000:]}"
    lines = stderr.splitlines()
    assert len(lines) == 1, f"{name}: {len(lines)} lines on stderr:\n{stderr[-3000:]}"
    assert lines[0].startswith(("livefeed", "python -m livefeed.sim")), lines[0]


@pytest.mark.parametrize("argv", [["demo", "--interval", "0"], ["replay", "/nonexistent/capture"]])
def test_the_console_entry_point_itself(argv: list[str]) -> None:
    """The same promise through ``python -m livefeed.cli``, not the fork helper."""
    result = subprocess.run([sys.executable, "-m", "livefeed.cli", *argv], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
