"""systemctl output parsers, on outputs recorded from real systemctl (tests/data/systemctl)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bailey.units import (
    PROPERTIES,
    SystemctlError,
    list_command,
    list_units,
    parse_list_unit_files,
    parse_show,
    show_command,
    unit_from_properties,
    user_from_unit_name,
)

DATA = Path(__file__).parents[1] / "data" / "systemctl"


def test_three_column_listing_from_systemd_252():
    units = parse_list_unit_files((DATA / "list-unit-files.systemd252.txt").read_text())
    assert units == [
        ("circus_masked_host1.service", "masked"),
        ("circus_under_score_host1.service", "disabled"),
        ("circus_user1_host1.service", "enabled"),
        ("circus_user2_host1.service", "disabled"),
        ("circus_user3_host1.service", "enabled"),
    ]  # the template circus_@.service is not a unit that can run


def test_two_column_listing_of_older_systemd():
    units = parse_list_unit_files((DATA / "list-unit-files.two-columns.txt").read_text())
    assert units == [("circus_user1_host1.service", "enabled"),
                     ("circus_user2_host1.service", "disabled")]


def test_listing_tolerates_blank_lines_and_name_only_lines():
    assert parse_list_unit_files("\n  \ncircus_a_h.service\n") == [("circus_a_h.service", "")]


def test_show_blocks_split_on_blank_lines_and_first_equals():
    text = ("Id=a.service\nUser=u\nExecX=x=y\n\n\nId=b.service\nUser=\n\n")
    assert parse_show(text) == [{"Id": "a.service", "User": "u", "ExecX": "x=y"},
                                {"Id": "b.service", "User": ""}]


@pytest.mark.parametrize(("name", "user"), [
    ("circus_user1_host1.service", "user1"),
    ("circus_under_score_host1.service", "under_score"),
    ("circus_u_h-1.service", "u"),
    ("circus_nohost.service", None),
    ("circus__host.service", None),
    ("other_user1_host1.service", None),
    ("circus_user1_host1.socket", None),
])
def test_user_from_unit_name(name, user):
    assert user_from_unit_name(name) == user


def test_user_comes_from_user_property_first():
    u = unit_from_properties({"Id": "circus_user1_host1.service", "User": "alice",
                              "ActiveState": "active", "SubState": "running", "MainPID": "42",
                              "NRestarts": "3", "WorkingDirectory": "/srv"})
    assert (u.user, u.user_source, u.main_pid, u.n_restarts) == ("alice", "User=", 42, 3)
    assert u.running and not u.failed


def test_user_falls_back_to_unit_name():
    u = unit_from_properties({"Id": "circus_bob_host1.service", "User": "",
                              "ActiveState": "failed", "MainPID": "[not set]"})
    assert (u.user, u.user_source, u.main_pid) == ("bob", "unit name", 0)
    assert u.failed and not u.running


def test_commands_are_the_documented_ones():
    assert list_command("circus_*") == ["systemctl", "list-unit-files", "--no-legend",
                                        "--no-pager", "circus_*"]
    argv = show_command(["a.service", "b.service"])
    assert argv[:2] == ["systemctl", "show"] and argv[-2:] == ["a.service", "b.service"]
    assert argv[argv.index("-p") + 1] == ",".join(PROPERTIES)


def test_missing_systemctl_is_one_line_error(tmp_path):
    with pytest.raises(SystemctlError, match="not found"):
        list_units(systemctl=str(tmp_path / "no-systemctl"))


@pytest.mark.skipif(shutil.which("systemctl") is None, reason="no systemctl")
def test_pattern_matching_nothing_is_no_units():
    # real systemctl: exit 1 and no output for an empty listing
    assert list_units("bailey-no-such-unit-*") == []


@pytest.mark.skipif(shutil.which("systemctl") is None or os.path.exists("/run/systemd/system"),
                    reason="needs systemctl on a machine whose PID 1 is not systemd")
def test_show_without_systemd_is_a_host_error():
    # unit files exist (ssh), but show needs the manager: a real failure
    if not parse_list_unit_files(os.popen("systemctl list-unit-files --no-legend 's*'").read()):
        pytest.skip("no unit files to list")
    with pytest.raises(SystemctlError) as e:
        list_units("s*")
    assert "systemctl show failed" in str(e.value) and "\n" not in str(e.value)
