"""barnum from its wheel, installed in a clean venv (not editable), on the real fleet.

``.ci/run`` builds the wheel, installs it in a fresh venv made from Debian's
python3 and points ``BARNUM_INSTALLED_BIN`` at that venv's ``bin``; without
it this file is skipped (a developer's ``./run test`` has no wheel).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.fleet

BIN = os.environ.get("BARNUM_INSTALLED_BIN")
CHECKOUT = Path(__file__).resolve().parents[2]

if not BIN:
    pytest.skip("BARNUM_INSTALLED_BIN is not set (.ci/run sets it after building the wheel)",
                allow_module_level=True)


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(BIN) / argv[0]), *argv[1:]], capture_output=True,
                          text=True, timeout=90, stdin=subprocess.DEVNULL, cwd="/")


def test_versions_come_from_the_installed_wheel():
    from barnum import __version__

    assert run("barnum", "--version").stdout == f"barnum {__version__}\n"
    assert run("bailey", "--version").stdout == f"bailey {__version__}\n"
    where = run("python", "-c", "import barnum, bailey; print(barnum.__file__, bailey.__file__)")
    for path in where.stdout.split():
        assert "site-packages" in path and not path.startswith(str(CHECKOUT)), where.stdout


def test_installed_barnum_runs_the_fleet(fleet):
    p = run("barnum", "--config", str(fleet.users_file), "--json", "host1", "host4")
    doc = json.loads(p.stdout)
    hosts = {h["host"]: h for h in doc["hosts"]}
    assert hosts["host1"]["ok"] and not hosts["host1"]["shipped"], p.stderr
    assert {i["state"] for i in hosts["host1"]["bailey"]["instances"]} == {"ok"}
    # host4 has no bailey: the wheel's own bailey source is shipped there
    assert hosts["host4"]["ok"] and hosts["host4"]["shipped"], p.stderr
    assert p.returncode == 1  # host4's staged failures, not a transport error
