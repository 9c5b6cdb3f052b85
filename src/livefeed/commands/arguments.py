"""Argument types shared by the subcommands: each refuses a bad value with one line that says what is allowed."""

from __future__ import annotations

import argparse
import math
import os
import socket
import tempfile
from pathlib import Path

from ..errors import ConfigError, LivefeedError
from ..symbols import canonical

__all__ = [
    "OneLineParser", "port", "interval", "non_negative_seconds", "positive_number", "symbol", "writable_directory",
    "check_port_free", "MIN_INTERVAL",
]

MIN_INTERVAL = 0.001
"""Shortest simulator step: below it a simulator spins a core and no client keeps up."""


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr (``--help`` still shows the usage)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def port(text: str) -> int:
    """A TCP port, 0..65535 (0: any free port)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port {text!r} is not a whole number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is out of range: use 1..65535, or 0 for any free port")
    return value


def interval(text: str) -> float:
    """Seconds between simulator steps: at least ``MIN_INTERVAL``."""
    value = _number(text)
    if value < MIN_INTERVAL:
        raise argparse.ArgumentTypeError(f"interval {text} is too short: give at least {MIN_INTERVAL} seconds")
    return value


def non_negative_seconds(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} seconds is negative")
    return value


def positive_number(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be positive")
    return value


def symbol(text: str) -> str:
    """A canonical ``BASE-QUOTE`` symbol (``btc/usdt`` -> ``BTC-USDT``)."""
    try:
        return canonical(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def writable_directory(path: str | Path, what: str) -> Path:
    """Create ``path`` if needed and prove a file can be written there, before any work that would be lost."""
    target = Path(path).expanduser()
    try:
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target, prefix=".livefeed-write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise LivefeedError(f"{what} {str(target)!r} is not a writable directory: {reason}") from None
    return target


def check_port_free(port_number: int, what: str, host: str = "127.0.0.1") -> None:
    """Refuse a port something else already listens on (a free port is closed again at once)."""
    if port_number == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if os.name == "posix":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port_number))
        except OSError as exc:
            raise ConfigError(f"{what} port {port_number} is not available on {host}: "
                              f"{exc.strerror or exc}") from None
