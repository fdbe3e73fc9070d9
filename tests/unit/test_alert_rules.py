"""The shipped Prometheus alerting rules (docs/alerts/) pass promtool's own checks and
unit tests: each alert fires on the series it is written for, and only then."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ALERTS = Path(__file__).parents[2] / "docs" / "alerts"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("BARNUM_REQUIRE_FLEET") == "1":
            pytest.fail("promtool missing (Debian's prometheus package; invoke setup)")
        pytest.skip("promtool missing (apt install prometheus)")
    return path


def test_rules_are_valid(promtool):
    p = subprocess.run([promtool, "check", "rules", "barnum-rules.yml"], cwd=ALERTS,
                       capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS: 5 rules found" in p.stdout


def test_rules_fire_as_their_unit_tests_say(promtool):
    p = subprocess.run([promtool, "test", "rules", "barnum-rules_test.yml"], cwd=ALERTS,
                       capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
