"""systemd's MemoryCurrent per circus unit, parsed from a real ``systemctl show``.

tests/data/systemctl/show-memory-fleet-host3.txt was recorded through SSH as
the operator on host3 of ``tests.fleet.test_layout()`` with exactly
``show_command(<the listed units, sorted>)`` (MemoryCurrent among the
properties): user1 running (its cgroup accounted), user2 inactive and user3
failed, for which systemd prints ``[not set]``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bailey.sdbus import as_show_text
from bailey.units import UNSET_U64, memory_bytes, parse_show, unit_from_properties

DATA = Path(__file__).parents[1] / "data" / "systemctl"


def test_recorded_show_gives_memory_of_the_running_unit_only():
    units = {u.name: u for u in map(unit_from_properties, parse_show(
        (DATA / "show-memory-fleet-host3.txt").read_text()))}
    assert units["circus_user1_host3.service"].memory_current == 30040064
    assert units["circus_user1_host3.service"].active_state == "active"
    assert units["circus_user2_host3.service"].memory_current is None
    assert units["circus_user3_host3.service"].memory_current is None


@pytest.mark.parametrize("text,want", [
    ("[not set]", None), ("", None), (None, None), (str(UNSET_U64), None),
    ("0", 0), ("4096", 4096), ("-1", None), ("12k", None),
])
def test_memory_bytes(text, want):
    assert memory_bytes(text) == want


def test_dbus_value_reads_as_systemctl_text_would():
    """Over D-Bus MemoryCurrent is a uint64 (2^64-1 when not accounted)."""
    assert memory_bytes(as_show_text("MemoryCurrent", UNSET_U64)) is None
    assert memory_bytes(as_show_text("MemoryCurrent", 30040064)) == 30040064
