"""Start and stop a local ``anvil`` node (Foundry) for the tests, the benchmark and ``livefeed demo --chain``.

The binary comes from the npm package ``@foundry-rs/anvil-linux-amd64`` (``scripts/install-system-deps.sh`` puts
it at ``.tools/bin/anvil``). Readiness is read from anvil's own "Listening on" line, never guessed with a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
from pathlib import Path
from typing import Any

import httpx

from ... import live

__all__ = ["Anvil", "find_anvil", "free_port", "ACCOUNTS"]

ACCOUNTS = (
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
)
"""anvil's first default (unlocked, funded) accounts."""


def find_anvil() -> str | None:
    """``$LIVEFEED_ANVIL``, then ``.tools/bin/anvil`` of this checkout, then ``anvil`` on PATH."""
    explicit = os.environ.get("LIVEFEED_ANVIL")
    if explicit:
        return explicit
    for parent in Path(__file__).resolve().parents:
        candidate = parent / ".tools" / "bin" / "anvil"
        if candidate.exists():
            return str(candidate)
    return shutil.which("anvil")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Anvil:
    """One anvil process on a loopback port: ``async with Anvil() as node: node.ws_url``.

    ``state`` keeps the chain in a file across restarts (``--state``: loaded at start, dumped at exit), which is how
    a test kills and restarts the node mid-stream without losing history. ``automine=False`` leaves transactions
    pending until ``mine()``.
    """

    def __init__(self, port: int | None = None, *, state: Path | None = None, automine: bool = True,
                 binary: str | None = None, extra_args: tuple[str, ...] = ()) -> None:
        found = binary or find_anvil()
        if not found:
            raise FileNotFoundError("anvil not found: run scripts/install-system-deps.sh or set LIVEFEED_ANVIL")
        self.binary = found
        self.port = port or free_port()
        self.state = state
        self.automine = automine
        self.extra_args = extra_args
        self._proc: asyncio.subprocess.Process | None = None
        self._drain: asyncio.Task[None] | None = None
        self._id = 0
        # A notebook cell run again replaces the node its last run started (see livefeed.live).
        stop, active = live.weak_calls(self, Anvil._terminate)
        live.register(self, "node", stop, f"anvil on port {self.port}", active=active)

    def _terminate(self) -> None:
        """End the node process from any thread (a re-run cell or ``livefeed.stop_all()``)."""
        if self.running and self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signal.SIGTERM)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self, timeout: float = 20.0) -> Anvil:
        args = [self.binary, "--host", "127.0.0.1", "--port", str(self.port)]
        if self.state is not None:
            args += ["--state", str(self.state)]
        if not self.automine:
            args += ["--no-mining"]
        self._proc = await asyncio.create_subprocess_exec(
            *args, *self.extra_args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        assert self._proc.stdout is not None
        seen: list[str] = []
        try:
            async with asyncio.timeout(timeout):
                while True:
                    line = (await self._proc.stdout.readline()).decode(errors="replace")
                    if not line:
                        raise RuntimeError(f"anvil exited at start: {''.join(seen[-20:])}")
                    seen.append(line)
                    if line.startswith("Listening on"):
                        break
        except BaseException:
            await self.stop()
            raise
        self._drain = asyncio.create_task(self._discard(self._proc.stdout))
        return self

    @staticmethod
    async def _discard(stream: asyncio.StreamReader) -> None:
        # anvil logs every request; an unread pipe would fill and stall it.
        while await stream.read(65536):
            pass

    async def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (anvil dumps ``state`` on the way out) or SIGKILL, and wait for the exit."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill() if kill else proc.terminate()
            await proc.wait()
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain
            self._drain = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def rpc(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call over HTTP (test set-up and traffic; the feed itself uses the WebSocket)."""
        self._id += 1
        async with httpx.AsyncClient(timeout=30) as client:
            reply = (await client.post(self.http_url, json={
                "jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)})).json()
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result")

    async def mine(self, blocks: int = 1) -> None:
        await self.rpc("anvil_mine", hex(blocks))

    async def __aenter__(self) -> Anvil:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
