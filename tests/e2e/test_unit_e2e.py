"""``barnum unit`` on the real fleet: systemctl on the circus units, as the non-root
operator (through ``sudo -n``, with and without the README's sudoers rule) and as
root; every result is checked on the host itself (systemctl through nsenter)."""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import time
from pathlib import Path

import pytest

from barnum.oneshot.units import SUDOERS_LINE
from tests.e2e.subcommand import run_sub
from tests.e2e.tmux import tmux  # noqa: F401 (fixture)
from tests.waiting import until

pytestmark = pytest.mark.fleet


@pytest.fixture(autouse=True)
def _sudo_on_machine():
    if shutil.which("sudo") is None or not Path("/etc/sudoers.d").is_dir():
        pytest.skip("sudo is not installed on this machine (invoke setup installs it)")


def unit(user, host):
    return f"circus_{user}_{host}.service"


def show(fleet, host, user, prop):
    p = fleet.exec(host, ["systemctl", "show", "-p", prop, "--value", unit(user, host)])
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def answers(fleet, host, user) -> bool:
    """circusctl, run on the host as the user, gets an answer from this circusd."""
    ini = fleet.homes / user / "circus" / host / "circus.ini"
    endpoint = re.search(r"^endpoint\s*=\s*(\S+)", ini.read_text(), re.M)[1]
    endpoint = re.sub(r"^tcp://(\*|0\.0\.0\.0):", "tcp://127.0.0.1:", endpoint)
    p = fleet.exec(host, ["circusctl", "--endpoint", endpoint, "--timeout", "2", "list"],
                   user=user, timeout=20)
    return p.returncode == 0 and "sleeper" in p.stdout


def unit_cmd(fleet, *args, config=None, ssh_config=None):
    extra = ["--ssh-config", str(ssh_config)] if ssh_config else []
    return run_sub(fleet, config or fleet.users_file, "unit", *extra, *args)


@pytest.fixture
def rule(fleet):
    """The README's sudoers line on host1 and host2 (the hosts' own sudoers.d)."""
    faults = [fleet.sudoers(h, SUDOERS_LINE) for h in ("host1", "host2")]
    yield
    for f in faults:
        f.__exit__(None, None, None)


def test_without_the_rule_each_unit_is_denied_with_the_line_to_add(fleet):
    pid = show(fleet, "host1", "user1", "MainPID")
    p = unit_cmd(fleet, "restart", "user1@host1", "user2@host1", "--yes")
    assert p.returncode == 1, p.stderr
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("host1")]
    assert len(lines) == 2 and all(" denied: " in ln for ln in lines), p.stdout
    err = [ln for ln in p.stderr.splitlines() if "sudoers" in ln]
    assert len(err) == 1 and SUDOERS_LINE in err[0], p.stderr
    assert "barnumop may not run 'systemctl restart circus_user1_host1.service'" in p.stdout
    assert show(fleet, "host1", "user1", "MainPID") == pid  # nothing was restarted


def test_with_the_rule_restart_stop_start_disable_enable(fleet, rule):
    pid = show(fleet, "host1", "user1", "MainPID")
    p = unit_cmd(fleet, "restart", "user1@host1", "--yes")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "host1  circus_user1_host1.service  ok" in p.stdout
    assert show(fleet, "host1", "user1", "ActiveState") == "active"
    assert show(fleet, "host1", "user1", "MainPID") not in (pid, "0")
    assert until(lambda: answers(fleet, "host1", "user1"), 20)

    p = unit_cmd(fleet, "stop", "user2@host[1-2]", "--yes")
    assert p.returncode == 0, p.stdout + p.stderr
    try:
        for h in ("host1", "host2"):
            assert show(fleet, h, "user2", "ActiveState") == "inactive"
        assert show(fleet, "host1", "user1", "ActiveState") == "active"  # not selected
    finally:
        p = unit_cmd(fleet, "start", "user2@host[1-2]", "--yes")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "unit start: 2/2 units ok on 2 hosts" in p.stdout
    for h in ("host1", "host2"):
        assert show(fleet, h, "user2", "ActiveState") == "active"

    p = unit_cmd(fleet, "disable", "circus_user2_host2.service", "--yes")
    assert p.returncode == 0, p.stdout + p.stderr
    try:
        assert show(fleet, "host2", "user2", "UnitFileState") == "disabled"
    finally:
        p = unit_cmd(fleet, "enable", "circus_user2_host2.service", "--yes")
    assert p.returncode == 0, p.stdout + p.stderr
    assert show(fleet, "host2", "user2", "UnitFileState") == "enabled"


def test_the_rule_allows_one_circus_unit_per_command_and_nothing_else(fleet, rule):
    """What the regular expression buys over a ``*`` wildcard: sudo itself refuses
    a second unit, another unit, an option, a glob."""
    for argv in (["systemctl", "stop", unit("user1", "host1"), "ssh.service"],
                 ["systemctl", "stop", "ssh.service"],
                 ["systemctl", "stop", "circus_user1_host1.service", "--no-block"],
                 ["systemctl", "stop", "circus_*.service"],
                 ["systemctl", "kill", unit("user1", "host1")]):
        p = fleet.ssh("host1", ["sudo", "-n", *argv])
        assert p.returncode == 1 and "password is required" in p.stderr, (argv, p.stderr)
    assert show(fleet, "host1", "user1", "ActiveState") == "active"
    assert fleet.exec("host1", ["systemctl", "is-active", "ssh.service"]).stdout.strip() \
        == "active"


def test_reset_failed_clears_a_failed_unit(fleet, rule):
    with fleet.sudoers("host3", SUDOERS_LINE):
        assert show(fleet, "host3", "user3", "ActiveState") == "failed"
        p = unit_cmd(fleet, "reset-failed", "user3@host3", "--yes")
        assert p.returncode == 0, p.stdout + p.stderr
        assert show(fleet, "host3", "user3", "ActiveState") == "inactive"
        # Its ini is still bad: systemd starts circusd (Type=simple: the job is
        # done once it runs), circusd then exits and the unit is failed again.
        p = unit_cmd(fleet, "start", "user3@host3", "--yes")
    assert p.returncode == 0, p.stdout + p.stderr
    assert until(lambda: show(fleet, "host3", "user3", "ActiveState") == "failed", 20)


def test_as_root_systemctl_runs_without_sudo(fleet, tmp_path):
    cfg = tmp_path / "ssh_config"
    cfg.write_text(fleet.ssh_config.read_text().replace("User barnumop", "User root"))
    p = unit_cmd(fleet, "restart", "user1@host2", "--dry-run", ssh_config=cfg)
    assert p.stdout.splitlines() == [
        f"DRY RUN; would execute: ssh -q -F {cfg} host2 systemctl restart "
        "circus_user1_host2.service"], p.stdout + p.stderr
    pid = show(fleet, "host2", "user1", "MainPID")
    with fleet.root_login("host2"):
        p = unit_cmd(fleet, "restart", "user1@host2", "--yes", ssh_config=cfg)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "host2  circus_user1_host2.service  ok" in p.stdout
    assert show(fleet, "host2", "user1", "MainPID") not in (pid, "0")
    assert show(fleet, "host2", "user1", "ActiveState") == "active"
    # without the key for root: the host is unreachable, exit 3, the unit untouched
    pid = show(fleet, "host2", "user1", "MainPID")
    p = unit_cmd(fleet, "restart", "user1@host2", "--yes", ssh_config=cfg)
    assert p.returncode == 3
    assert "host2  circus_user1_host2.service  unreachable: authentication failed for root" \
        in p.stdout
    assert show(fleet, "host2", "user1", "MainPID") == pid


@pytest.mark.parametrize("name", ["ssh.service", "circus_user1_host9.service",
                                  "circus_User1_host1.service", "circus_user1_host1;id.service",
                                  "circus_user1_host1.service x.service", "circus_.service"])
def test_names_outside_circus_units_are_refused_before_anything_runs(fleet, name):
    pid = show(fleet, "host1", "user1", "MainPID")
    p = unit_cmd(fleet, "stop", "user1@host1", name, "--yes")
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stdout == ""
    assert re.search(r"barnum: error: refusing '.*'", p.stderr), p.stderr
    assert show(fleet, "host1", "user1", "MainPID") == pid


def test_dry_run_prints_each_command_and_connects_to_nothing(fleet):
    with fleet.host_down("host1"):
        p = unit_cmd(fleet, "restart", "host1", "user1@host2", "--dry-run")
    assert p.returncode == 0, p.stderr
    cfg = fleet.ssh_config
    assert p.stdout.splitlines() == [
        f"DRY RUN; would execute: ssh -q -F {cfg} host1 sudo -n systemctl restart "
        "circus_user1_host1.service",
        f"DRY RUN; would execute: ssh -q -F {cfg} host1 sudo -n systemctl restart "
        "circus_user2_host1.service",
        f"DRY RUN; would execute: ssh -q -F {cfg} host2 sudo -n systemctl restart "
        "circus_user1_host2.service",
    ]


def test_no_terminal_and_no_yes_is_a_usage_error(fleet):
    pid = show(fleet, "host1", "user1", "MainPID")
    p = unit_cmd(fleet, "restart", "user1@host1")
    assert p.returncode == 2
    assert "unit restart: stdin is not a terminal: pass --yes to restart 1 unit on 1 host" \
        in p.stderr
    assert show(fleet, "host1", "user1", "MainPID") == pid


def test_an_unreachable_host_is_exit_3_and_the_others_still_act(fleet, rule):
    pid = show(fleet, "host1", "user1", "MainPID")
    with fleet.host_down("host2"):
        p = unit_cmd(fleet, "restart", "user1@host1", "user1@host2", "--yes", "--timeout", "3")
    assert p.returncode == 3, p.stdout + p.stderr
    assert "host1  circus_user1_host1.service  ok" in p.stdout
    assert re.search(r"host2  circus_user1_host2\.service  unreachable: ", p.stdout)
    assert show(fleet, "host1", "user1", "MainPID") not in (pid, "0")


def test_a_hung_circusd_is_brought_back_by_unit_restart(fleet, rule):
    from tests.e2e.test_barnum_e2e import run_barnum

    fleet.circusd_hang("host1", "user1")  # no undo: the restart replaces the process
    pid = show(fleet, "host1", "user1", "MainPID")
    assert not answers(fleet, "host1", "user1")
    p = run_barnum(fleet, "user1@host1", "--timeout", "4")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "circusd did not answer on tcp://" in p.stdout
    assert re.search(r"circus_user1_host1\.service .*active \(running\)  circusd not "
                     r"answering$", p.stdout, re.M), p.stdout
    assert show(fleet, "host1", "user1", "ActiveState") == "active"  # systemd sees no fault
    # check names the fix; run exactly what it printed
    p = run_sub(fleet, fleet.users_file, "check", "host1", "--timeout", "4")
    assert p.returncode == 1, p.stdout + p.stderr
    fixes = re.findall(r"^\s+fix: (barnum unit \S+ \S+)", p.stdout, re.M)
    assert fixes == ["barnum unit restart user1@host1"], p.stdout
    since = time.time() - 1
    p = unit_cmd(fleet, *fixes[0].split()[2:], "--yes")
    assert p.returncode == 0, p.stdout + p.stderr
    assert show(fleet, "host1", "user1", "ActiveState") == "active"
    assert show(fleet, "host1", "user1", "MainPID") not in (pid, "0")
    assert until(lambda: answers(fleet, "host1", "user1"), 20)
    assert run_barnum(fleet, "user1@host1").returncode == 0
    # the action is in the history: who (this account) and the result
    h = run_sub(fleet, fleet.users_file, "history", "host1", "--kind", "action", "--since",
                f"{time.time() - since + 5:.0f}s", "--json")
    assert h.returncode == 0, h.stderr
    rows = [(r["action"], r["unit"], r["detail"]["who"], r["detail"]["result"])
            for r in json.loads(h.stdout)["rows"]]
    me = pwd.getpwuid(os.getuid()).pw_name
    assert rows == [("unit-restart", "circus_user1_host1.service", me, "started"),
                    ("unit-restart", "circus_user1_host1.service", me, "ok")], rows


def test_drift_suggests_barnum_unit_commands_that_barnum_unit_accepts(fleet):
    import json

    p = run_sub(fleet, fleet.users_file, "drift", "host3", "host4", "--json")
    fixes = {(f["kind"], f["host"], f["user"]): f["fix"] for f in json.loads(p.stdout)["findings"]}
    assert fixes[("unit-failed", "host3", "user3")][:2] == [
        "fix the cause above, then barnum unit restart user3@host3",
        "or, to clear a dead instance: barnum unit reset-failed user3@host3 "
        "(the unit file stays)"]
    # user2 has no config on host4: its unit is named, not user2@host4
    assert fixes[("unit-without-config", "host4", "user2")][0] == (
        "barnum unit stop circus_user2_host4.service, then "
        "barnum unit disable circus_user2_host4.service")
    for cmd in ("barnum unit reset-failed user3@host3",
                "barnum unit stop circus_user2_host4.service"):
        d = unit_cmd(fleet, *cmd.split()[2:], "--dry-run")
        assert d.returncode == 0 and len(d.stdout.splitlines()) == 1, d.stdout + d.stderr


def _in_terminal(tmux, fleet, tmp_path, *args):  # noqa: F811
    from tests.e2e.test_barnum_e2e import barnum_cmd

    t = tmux("unit")
    done = tmp_path / f"done-{len(list(tmp_path.iterdir()))}"
    t.start_then_record_exit([*barnum_cmd(), "unit", "--config", str(fleet.users_file),
                              "--ssh-config", str(fleet.ssh_config), *args], done)
    return t, done


def test_in_a_terminal_it_asks_and_no_means_nothing(fleet, rule, tmux, tmp_path):  # noqa: F811
    pid = show(fleet, "host1", "user1", "MainPID")
    t, done = _in_terminal(tmux, fleet, tmp_path, "restart", "user1@host1")
    t.wait(lambda s: "restart 1 unit on 1 host? [y/N]" in s and
           "host1  circus_user1_host1.service" in s, what="the question")
    t.type("n")
    t.keys("Enter")
    assert t.exit_status(done) == 1
    assert "not confirmed; nothing was restarted" in t.screen()
    assert show(fleet, "host1", "user1", "MainPID") == pid


def test_above_the_threshold_the_count_must_be_typed(fleet, rule, tmux, tmp_path):  # noqa: F811
    pids = {(h, u): show(fleet, h, u, "MainPID") for h in ("host1", "host2")
            for u in ("user1", "user2")}
    args = ("restart", "host1", "host2", "--confirm-threshold", "3")
    t, done = _in_terminal(tmux, fleet, tmp_path, *args)
    t.wait(lambda s: "restart 4 units on 2 hosts: type 4 to confirm:" in s, what="the question")
    t.type("y")
    t.keys("Enter")
    assert t.exit_status(done) == 1
    assert {k: show(fleet, *k, "MainPID") for k in pids} == pids  # "y" is not enough
    t2, done2 = _in_terminal(tmux, fleet, tmp_path, *args)
    t2.wait(lambda s: "type 4 to confirm:" in s, what="the question")
    t2.type("4")
    t2.keys("Enter")
    assert t2.exit_status(done2, within=120) == 0, t2.screen()
    assert "unit restart: 4/4 units ok on 2 hosts" in t2.screen()
    for (h, u), pid in pids.items():
        assert show(fleet, h, u, "MainPID") not in (pid, "0")
        assert until(lambda h=h, u=u: answers(fleet, h, u), 20)


def test_the_shell_restarts_a_hung_circusd(fleet, rule):
    from tests.e2e.test_shell_script import shell

    r = shell(fleet, "-c", "unit restart user1@host2")  # no terminal, no --yes
    assert r.returncode == 2
    assert "unit restart: stdin is not a terminal: pass --yes" in r.stderr
    fleet.circusd_hang("host2", "user1")
    pid = show(fleet, "host2", "user1", "MainPID")
    r = shell(fleet, "-c", "status user1@host2; target @failed; unit restart --yes")
    assert r.returncode == 1, r.stdout + r.stderr  # status found the hung one
    assert "circusd did not answer" in r.stdout
    assert re.search(r"circus_user1_host2\.service .*  circusd not answering$", r.stdout, re.M)
    assert "host2  circus_user1_host2.service  ok" in r.stdout
    assert "circus_user2_host2" not in r.stdout  # @failed: only the hung instance
    assert show(fleet, "host2", "user1", "MainPID") not in (pid, "0")
    assert until(lambda: answers(fleet, "host2", "user1"), 20)
    r = shell(fleet, "-c", "unit reset-failed --yes user1@host2; unit kill user1@host2")
    assert r.returncode == 2  # reset-failed of an active unit is fine; kill is no verb
    assert "host2  circus_user1_host2.service  ok" in r.stdout
    assert "usage: unit start|stop|restart|reset-failed" in r.stderr
