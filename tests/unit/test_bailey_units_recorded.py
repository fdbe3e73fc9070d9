"""bailey's systemctl parsers on outputs recorded from real systemd 252 on fleet hosts.

Recorded (see tests/data/systemctl/README.md) through SSH as the operator on
hosts of ``tests.fleet.test_layout()`` with exactly ``list_command()`` and
then ``show_command(<the listed units, sorted>)``:

- host3: user1 enabled and running, user2 disabled and inactive, user3
  enabled and failed (circusd rejected its ini);
- host4: user1 running (its ini was broken after start), user2 failed (no ini).

systemd prints ``show`` properties in its own order, not the ``-p`` order:
the parser must not depend on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bailey.units import PROPERTIES, parse_list_unit_files, parse_show, unit_from_properties

DATA = Path(__file__).parents[1] / "data" / "systemctl"

# unit -> (UnitFileState, ActiveState, SubState, running MainPID?)
STAGED = {
    "host3": {
        "circus_user1_host3.service": ("enabled", "active", "running", True),
        "circus_user2_host3.service": ("disabled", "inactive", "dead", False),
        "circus_user3_host3.service": ("enabled", "failed", "failed", False),
    },
    "host4": {
        "circus_user1_host4.service": ("enabled", "active", "running", True),
        "circus_user2_host4.service": ("enabled", "failed", "failed", False),
    },
}


def _read(kind: str, host: str) -> str:
    return (DATA / f"{kind}-fleet-{host}.txt").read_text()


@pytest.mark.parametrize("host", sorted(STAGED))
def test_recorded_listing(host):
    units = parse_list_unit_files(_read("list-unit-files", host))
    assert units == [(name, states[0]) for name, states in sorted(STAGED[host].items())]


@pytest.mark.parametrize("host", sorted(STAGED))
def test_recorded_show_has_one_block_per_unit_with_every_property(host):
    blocks = parse_show(_read("show", host))
    assert [b["Id"] for b in blocks] == sorted(STAGED[host])  # the order asked for
    # systemctl show omits empty lists; MemoryCurrent was asked for after these recordings
    # (tests/unit/test_bailey_units_memory.py has a recording with it)
    optional = {"Environment", "EnvironmentFiles", "MemoryCurrent"}
    for block in blocks:
        assert set(PROPERTIES) - optional <= set(block) <= set(PROPERTIES)


@pytest.mark.parametrize("host", sorted(STAGED))
def test_recorded_show_states(host):
    units = [unit_from_properties(b) for b in parse_show(_read("show", host))]
    for unit in units:
        file_state, active, sub, has_pid = STAGED[host][unit.name]
        user = unit.name.split("_")[1]
        assert (unit.unit_file_state, unit.active_state, unit.sub_state) == (
            file_state, active, sub)
        assert (unit.user, unit.user_source) == (user, "User=")
        assert unit.fragment_path == f"/etc/systemd/system/{unit.name}"
        assert unit.working_directory.endswith(f"/users/{user}")
        assert (unit.main_pid > 0) is has_pid
        assert unit.n_restarts == 0
        assert unit.running is (active == "active")
        assert unit.failed is (active == "failed")
