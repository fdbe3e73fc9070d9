"""bailey asks systemd over D-Bus (bailey.sdbus) and gets what systemctl says, on the real fleet.

Run on every host as the operator (through SSH, as barnum runs bailey): the
units listed over the bus must equal, field for field, those parsed from
``systemctl list-unit-files`` + ``systemctl show``, for running, disabled,
failed and config-less units alike.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.fleet

CODE = """
import json, os
from bailey import units
over_bus = units._over_dbus(units.DEFAULT_PATTERN, 10) is not None
# MemoryCurrent moves between two reads; test_bailey_memory.py checks it against systemd
a = [{**u.__dict__, "memory_current": None} for u in units.list_units()]
os.environ["BAILEY_NO_DBUS"] = "1"
b = [{**u.__dict__, "memory_current": None} for u in units.list_units()]
print(json.dumps({"over_bus": over_bus, "dbus": a, "systemctl": b}))
"""


@pytest.mark.parametrize("host", ["host1", "host3", "host4"])
def test_dbus_answer_equals_systemctls(fleet, host):
    p = fleet.ssh(host, [str(fleet.venv / "bin" / "python"), "-c", CODE])
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["over_bus"], "the bus was not used"
    assert out["dbus"] == out["systemctl"]
    states = {u["active_state"] for u in out["dbus"]}
    assert len(out["dbus"]) >= 2 and states <= {"active", "inactive", "failed"}
