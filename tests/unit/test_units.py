"""barnum.oneshot.units, pure parts: names, plans, commands, outcomes."""

from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest

from barnum import EXIT_HOST, EXIT_INSTANCE, EXIT_OK, BarnumError
from barnum.cli.commands.unit import split_units
from barnum.oneshot.units import (
    SUDOERS_LINE,
    UnitJob,
    UnitNameError,
    UnitResult,
    exit_code,
    outcome,
    parse_unit,
    plan_units,
    suggest,
    unit_argv,
)

INSTANCES = {"host1": ["user1", "user2"], "host2": ["user1"], "host10": ["user1"]}

# What sudo -n and systemctl printed on the fleet's hosts (Debian 12, sudo 1.9.13).
SUDO_NO_RULE = "sudo: a password is required\n"
SUDO_MISSING = "bash: line 1: sudo: command not found\n"
NOT_FOUND = "Failed to restart circus_user9_host1.service: Unit circus_user9_host1.service " \
    "not found.\n"


@pytest.mark.parametrize("name", [
    "ssh.service", "circus_.service", "circus_user1_.service", "circus_User1_host1.service",
    "circus_user1_host1.service x.service", "circus_user1_host1;id.service",
    "circus_user1_host1.socket", "circus_*.service", "circus_user1_-host1.service",
    "circus_user1_host1.service\n", "circus_user1_host1",
])
def test_names_outside_circus_units_are_refused(name):
    with pytest.raises(UnitNameError, match="refusing"):
        parse_unit(name)


def test_a_unit_name_splits_at_the_last_underscore():
    assert parse_unit("circus_my_user_web-1.lab.service") == ("web-1.lab", "my_user")


def test_plan_expands_whole_hosts_and_orders_naturally():
    p = plan_units("restart", {"host10": [], "host1": [], "host2": ["user1"]}, INSTANCES)
    assert [j.unit for j in p.jobs] == [
        "circus_user1_host1.service", "circus_user2_host1.service",
        "circus_user1_host2.service", "circus_user1_host10.service"]
    assert p.summary() == "restart 4 units on 3 hosts"


def test_plan_takes_unit_names_of_known_hosts_and_users_only():
    p = plan_units("stop", {}, INSTANCES, ["circus_user3_host2.service"], users=["user3"])
    assert p.jobs == [UnitJob("host2", "user3")]  # a unit whose config is gone
    with pytest.raises(UnitNameError, match="host9 is not a discovered"):
        plan_units("stop", {}, INSTANCES, ["circus_user1_host9.service"])
    with pytest.raises(UnitNameError, match="user7 is not a user"):
        plan_units("stop", {}, INSTANCES, ["circus_user7_host1.service"], users=["user1"])
    with pytest.raises(BarnumError, match="unknown verb"):
        plan_units("kill", {"host1": []}, INSTANCES)


def test_a_unit_named_twice_is_planned_once():
    p = plan_units("start", {"host1": ["user1"]}, INSTANCES, ["circus_user1_host1.service"])
    assert p.jobs == [UnitJob("host1", "user1")]
    assert p.summary() == "start 1 unit on 1 host"


def test_confirm_word_above_the_threshold():
    one = plan_units("restart", {"host2": []}, INSTANCES)
    assert one.confirm_word(5) is None
    assert one.confirm_word(0) == "circus_user1_host2.service"
    four = plan_units("restart", {h: [] for h in INSTANCES}, INSTANCES)
    assert four.confirm_word(3) == "4" and four.confirm_word(4) is None


def test_commands_are_argv_with_sudo_only_when_not_root():
    assert unit_argv("reset-failed", "circus_u_h.service", True) == \
        ["systemctl", "reset-failed", "circus_u_h.service"]
    assert unit_argv("stop", "circus_u_h.service", False) == \
        ["sudo", "-n", "systemctl", "stop", "circus_u_h.service"]
    with pytest.raises(UnitNameError):
        unit_argv("stop", "circus_u_h.service; reboot", True)


def test_no_sudo_rule_is_denied_with_the_sudoers_line():
    job = UnitJob("host1", "user1")
    argv = unit_argv("restart", job.unit, False)
    r = outcome(job, "restart", argv, 1, SUDO_NO_RULE, login="barnumop")
    assert r.state == "denied"
    assert r.error.startswith("barnumop may not run 'systemctl restart "
                              "circus_user1_host1.service' as root on host1")
    assert r.error.endswith(SUDOERS_LINE) and "\n" not in r.error
    missing = outcome(job, "restart", argv, 127, SUDO_MISSING)
    assert missing.state == "denied" and "sudo is not installed on host1" in missing.error


def test_systemctl_failures_are_its_first_line_and_clean():
    job = UnitJob("host1", "user9")
    r = outcome(job, "restart", unit_argv("restart", job.unit, True), 5, NOT_FOUND)
    assert (r.state, r.error) == ("failed", NOT_FOUND.strip())
    hostile = outcome(job, "restart", [], 1, "Failed: \x1b[31mred\x1b]0;title\x07\r\n")
    assert "\x1b" not in hostile.error and "\x07" not in hostile.error
    assert "\x1b" not in hostile.line()
    assert outcome(job, "stop", [], None, "").error == \
        "connection closed before systemctl finished"
    assert outcome(job, "stop", [], 0, "").ok


def test_exit_codes_unreachable_wins_over_failed():
    ok = UnitResult("h", "u", "circus_u_h.service", "ok")
    bad = UnitResult("h", "u", "circus_u_h.service", "denied", "x")
    down = UnitResult("h", "u", "circus_u_h.service", "unreachable", "x")
    assert exit_code([ok]) == EXIT_OK
    assert exit_code([ok, bad]) == EXIT_INSTANCE
    assert exit_code([bad, down, ok]) == EXIT_HOST


def test_split_units_and_suggest():
    assert split_units(["host1", "circus_a_b.service", "@itg"]) == \
        (["circus_a_b.service"], ["host1", "@itg"])
    assert suggest("restart", "host1", "user1") == "barnum unit restart user1@host1"
    assert suggest("stop", "host1", "user1", configured=False) == \
        "barnum unit stop circus_user1_host1.service"
    assert suggest("stop", "host1", None) is None
    assert suggest("stop", "a;b", "user1") is None
    assert shlex.split(suggest("start", "h-1.lab", "u.x"))[3] == "u.x@h-1.lab"


@pytest.mark.skipif(shutil.which("visudo") is None, reason="sudo is not installed")
def test_the_sudoers_line_parses(tmp_path):
    f = tmp_path / "barnum"
    f.write_text(SUDOERS_LINE + "\n")
    f.chmod(0o440)
    p = subprocess.run(["visudo", "-c", "-f", str(f)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_the_readme_and_the_docs_show_the_same_sudoers_line():
    from pathlib import Path

    root = Path(__file__).parents[2]
    for page in ("README.md", "docs/units.md"):
        assert SUDOERS_LINE in (root / page).read_text(), page


def test_the_shell_parses_unit_commands():
    from barnum.shell.parse import ParseError, parse_command

    c = parse_command(["unit", "restart", "--yes", "user1@host1", "@itg"])
    assert (c.name, c.watcher, c.targets, c.args) == \
        ("unit", "restart", ["user1@host1", "@itg"], ["--yes"])
    c = parse_command(["unit", "reset-failed"])
    assert (c.watcher, c.targets, c.args) == ("reset-failed", None, [])
    for words in (["unit"], ["unit", "kill", "host1"], ["unit", "enable"], ["unit", "--yes"]):
        with pytest.raises(ParseError, match="usage: unit"):
            parse_command(words)


def test_the_shell_completes_unit_verbs_then_targets():
    from barnum.shell.complete import Names, complete

    names = Names(hosts=["host2", "host1"], users={"host1": ["user1"], "host2": ["user1"]},
                  watchers={"ticker"}, groups=[])
    assert "unit" in [c.text for c in complete("un", names)]
    assert [c.text for c in complete("unit re", names)] == ["restart", "reset-failed"]
    assert [c.text for c in complete("unit restart host", names)] == ["host1", "host2"]
    assert [c.text for c in complete("unit restart --y", names)] == ["--yes"]
