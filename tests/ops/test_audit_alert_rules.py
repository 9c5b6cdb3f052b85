"""The live-audit alert fires on any disagreement and only then: ``promtool test rules`` on
audit_alert_rules_test.yml (agreements and unverifiable tickers stay quiet; one disagreement fires at once)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .conftest import need_binary

TESTS = Path(__file__).resolve().parent / "audit_alert_rules_test.yml"


def test_audit_alert_unit_tests_pass() -> None:
    promtool = need_binary("promtool")
    result = subprocess.run([promtool, "test", "rules", TESTS.name], cwd=TESTS.parent, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
