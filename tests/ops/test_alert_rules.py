"""The shipped alert rules behave as their comments say: ``promtool test rules`` on alert_rules_test.yml (the
stale-connection alert fires after 60 s of silence plus its 1m ``for``, the gap, reconnect-storm, lag and dropping
alerts fire above their thresholds and not at them, and nothing fires on a healthy feed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .conftest import need_binary

TESTS = Path(__file__).resolve().parent / "alert_rules_test.yml"


def test_alert_rules_unit_tests_pass() -> None:
    promtool = need_binary("promtool")
    result = subprocess.run([promtool, "test", "rules", TESTS.name], cwd=TESTS.parent, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
