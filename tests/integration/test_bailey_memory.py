"""bailey's MemoryCurrent per unit equals what ``systemctl show`` says on the host.

The truth is read as root inside the host (nsenter), before and after bailey
reads it as the operator over SSH (both the D-Bus path and the systemctl
fallback).  Memory moves, so the comparison is exact only over a window in
which systemd's own answer did not change; the test retries until it gets one.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.fleet

CODE = """
import json, os
from bailey import units
a = {u.name: u.memory_current for u in units.list_units()}
os.environ["BAILEY_NO_DBUS"] = "1"
b = {u.name: u.memory_current for u in units.list_units()}
print(json.dumps({"dbus": a, "systemctl": b}))
"""


def _truth(fleet, host, names):
    p = fleet.exec(host, ["systemctl", "show", "-p", "Id,MemoryCurrent", *names])
    out = {}
    for block in p.stdout.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        out[props["Id"]] = props["MemoryCurrent"]
    return out


@pytest.mark.parametrize("host", ["host1", "host3"])
def test_memory_current_equals_systemds(fleet, host):
    from tests.e2e.test_barnum_e2e import truth_units

    names = sorted(truth_units(fleet, host))
    assert names
    for _ in range(20):
        before = _truth(fleet, host, names)
        p = fleet.ssh(host, [str(fleet.venv / "bin" / "python"), "-c", CODE])
        assert p.returncode == 0, p.stderr
        after = _truth(fleet, host, names)
        if before == after:
            break
    else:
        pytest.fail(f"MemoryCurrent on {host} never held still over one bailey read")
    got = json.loads(p.stdout)
    want = {n: None if v == "[not set]" else int(v) for n, v in before.items()}
    assert got["dbus"] == want
    assert got["systemctl"] == want
    # the test fleet accounts memory: a running unit has a figure, a stopped one none
    states = truth_units(fleet, host)
    assert any(want[n] for n in names if states[n]["ActiveState"] == "active")
    assert all(want[n] is None for n in names if states[n]["ActiveState"] != "active")
