"""``barnum shell`` without a terminal: ``-c`` and stdin, on the real fleet.

The exit status says whether a command failed; nothing meant only for a
terminal (prompt, banner, events, escape codes) is printed.  The truth is
read on the hosts by nsenter + circusctl.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.e2e.test_barnum_e2e import HARD_LIMIT, barnum_cmd
from tests.e2e.test_shell_tmux import endpoint, wait_watcher, watchers_on

pytestmark = pytest.mark.fleet


def shell(fleet, *args: str, stdin: str | None = None, config=None
          ) -> subprocess.CompletedProcess:
    cmd = [*barnum_cmd(), "shell", "--config", str(config or fleet.users_file),
           "--ssh-config", str(fleet.ssh_config), "--timeout", "15", *args]  # a loaded machine
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return subprocess.run(cmd, input=stdin if stdin is not None else "", capture_output=True,
                          text=True, timeout=HARD_LIMIT, env=env)


def terminal_free(r: subprocess.CompletedProcess) -> None:
    for text in (r.stdout, r.stderr):
        assert "\x1b" not in text
        assert "barnum[" not in text and "Ctrl-D" not in text


def test_c_runs_commands_in_order_and_exits_0_when_all_succeed(fleet):
    from tests.e2e.test_barnum_e2e import circusctl

    try:
        r = shell(fleet, "-c", "stop ticker user1@host1; status user1@host1")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0] == "user1@host1 (1): ok"
        # status ran after the stop (circus may still be stopping the process)
        assert {"      ticker: stopped", "      ticker: stopping"} & set(lines), lines
        wait_watcher(fleet, "host1", "user1", "ticker", "stopped")
        assert watchers_on(fleet, "host1", "user2")["ticker"] == "active"
        terminal_free(r)
    finally:
        circusctl(fleet, "host1", endpoint(fleet, "user1"), "start", "ticker")


def test_c_one_failing_instance_exits_1_and_the_others_still_answer(fleet):
    r = shell(fleet, "-c", "stop nope host1; target host2; hosts")
    assert r.returncode == 1, r.stderr
    assert ("user[1-2]@host1 (2): circusctl exited 3: error: program nope not found"
            in r.stdout.splitlines())
    assert "targets: host2" in r.stdout  # the commands after the failure still ran
    assert "host4: up, 2 instances" in r.stdout
    terminal_free(r)


def test_failures_are_gathered_apart_from_successes(fleet):
    # host3: user1 running, user2's unit disabled, user3's unit failed
    r = shell(fleet, "-c", "circusctl numwatchers", "host3", "host1")
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = r.stdout.splitlines()
    assert lines[0].startswith("user3@host3 (1): ")  # the failure first
    assert "user2@host3 (1): inactive: no circus expected" in lines
    assert "user1@host[1,3],user2@host1 (3): 2" in lines


def test_usage_mistakes_exit_2_with_one_line_on_stderr(fleet):
    r = shell(fleet, "-c", "stop; status host1")
    assert r.returncode == 2
    assert r.stderr.splitlines() == ["barnum: error: usage: stop WATCHER [targets]"]
    assert "circus_user1_host1.service" in r.stdout  # the next command still ran
    r = shell(fleet, "-c", "status hots1")
    assert r.returncode == 2
    assert "unknown target 'hots1'" in r.stderr and "did you mean host1" in r.stderr
    r = shell(fleet, "hots1", "-c", "status")  # a bad starting set
    assert r.returncode == 2 and "unknown target 'hots1'" in r.stderr


def test_stdin_script_with_comments_and_its_exit_status(fleet):
    script = ("# a comment\n"
              "target host1\n"
              "circusctl status  # not a comment: circusctl gets it\n"
              "status\n"
              "users\n")
    r = shell(fleet, stdin=script)
    assert r.returncode == 1, (r.stdout, r.stderr)  # circusctl refused `status # not ...`
    assert "user[1-2]@host1 (2): circusctl exited 1: message invalid" in r.stdout
    assert "status host1" not in r.stdout
    assert "host1  " in r.stdout and "user1: host[1-4]" in r.stdout
    terminal_free(r)
    r = shell(fleet, stdin="target host1\nstatus\nexit\nstop nope\n")
    assert r.returncode == 0, r.stderr  # exit ended the script before the failure
    assert "nope" not in r.stdout
    r = shell(fleet, stdin="status host3\n")
    assert r.returncode == 1  # user3's unit failed on host3, as `barnum host3` says
    r = shell(fleet, stdin="exit 4\n")
    assert r.returncode == 4
    cmd = [*barnum_cmd(), "shell", "--config", str(fleet.users_file),
           "--ssh-config", str(fleet.ssh_config), "--timeout", "5"]
    raw = subprocess.run(cmd, input=b"stop \xff\xfe\nhosts\n", capture_output=True,
                         timeout=HARD_LIMIT)
    assert raw.returncode == 2
    assert raw.stderr.decode() == "barnum: error: stdin line 1 is not UTF-8 (skipped)\n"
    assert b"host1: up" in raw.stdout  # the next line still ran


def test_incr_and_decr_change_the_processes_on_the_host(fleet):
    from tests.e2e.test_barnum_e2e import circusctl

    def numprocesses() -> str:
        return circusctl(fleet, "host2", endpoint(fleet, "user2"), "numprocesses",
                         "ticker").stdout.strip()

    r = shell(fleet, "-c", "incr ticker 2 user2@host2")
    try:
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == ["user2@host2 (1): ok"]
        assert numprocesses() == "3"
    finally:
        r = shell(fleet, "-c", "decr ticker 2 user2@host2")
    assert r.returncode == 0 and r.stdout.splitlines() == ["user2@host2 (1): ok"]
    assert numprocesses() == "1"


def test_groups_from_the_users_file(fleet, tmp_path):
    from tests.e2e.test_barnum_e2e import circusctl

    grouped = tmp_path / "circus_users.yaml"
    grouped.write_text(fleet.users_file.read_text()
                       + "groups:\n  itg: [host1, host2]\n  ones: ['user1@*']\n")
    try:
        r = shell(fleet, "-c", "groups; stop ticker @itg&@ones; target @itg,!host2; status",
                  config=grouped)
        assert r.returncode == 0, (r.stdout, r.stderr)
        lines = r.stdout.splitlines()
        assert lines[:3] == [
            "@itg: host1, host2 -> host[1-2]",
            "@ones: user1@* -> user1@host[1-4]",
            "user1@host[1-2] (2): ok",
        ]
        for host in ("host1", "host2"):
            wait_watcher(fleet, host, "user1", "ticker", "stopped")
            assert watchers_on(fleet, host, "user2")["ticker"] == "active"
        after = lines[lines.index("targets: @itg,!host2"):]
        assert after[1] == "  host1: every instance"
        assert [ln.split()[0] for ln in after[2:] if not ln.startswith(" ")][:1] == ["host1"]
        assert not any(ln.startswith("host2") for ln in after)  # status: host1 only
    finally:
        for host in ("host1", "host2"):
            circusctl(fleet, host, endpoint(fleet, "user1"), "start", "ticker")
    r = shell(fleet, "-c", "groups")  # a users file without groups
    assert r.returncode == 0 and r.stdout == "no groups are defined (groups: in the users file)\n"
