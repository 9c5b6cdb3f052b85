"""The optional extras: without their package, a feature fails with one error naming the extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCK_AND_IMPORT = """
import sys
sys.modules[{package!r}] = None  # as if it were not installed: importing it raises ImportError
try:
    {statement}
except ImportError as exc:
    print(type(exc).__name__, exc)
else:
    print("imported")
"""


@pytest.mark.parametrize(("package", "statement", "extra"), [
    ("redis", "from livefeed import from_redis", "redis"),
    ("redis", "from livefeed.sinks.redis import RedisSink", "redis"),
    ("aiokafka", "from livefeed.sinks.kafka import KafkaSink", "kafka"),
])
def test_a_missing_optional_package_names_its_extra(package: str, statement: str, extra: str) -> None:
    code = BLOCK_AND_IMPORT.format(package=package, statement=statement)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.startswith("MissingExtraError ") and f"pip install 'livefeed[{extra}]'" in out, out


def test_the_core_feed_needs_no_extra() -> None:
    """A market feed, its frames and plots import with redis and aiokafka both missing."""
    code = BLOCK_AND_IMPORT.format(package="redis", statement=(
        "sys.modules['aiokafka'] = None; import livefeed; from livefeed.viz.notebook import Plots; "
        "livefeed.Feed(['binance:BTC-USDT'])"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "imported", out
