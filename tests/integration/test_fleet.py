"""The test fleet itself: hosts, staged units, fault switches, clean removal.

Everything is checked from outside, through real SSH as the operator, the
way barnum and bailey see the hosts (fleet.exec only where root's view is
the point).
"""

from __future__ import annotations

import configparser
import re
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.fleet

HOSTS = ["host1", "host2", "host3", "host4"]
SHOW = "Id,User,UnitFileState,ActiveState"


def unit(user, host) -> str:
    return f"circus_{user}_{host}.service"


def staged_active(u) -> str:
    if not u.started:
        return "inactive"
    return "failed" if u.config in ("missing", "failing") else "active"


def spec(fleet, host):
    return next(h for h in fleet.layout if h.name == host)


def open_ini(fleet, host, user) -> str:
    """The endpoint in the user's circus.ini, as written."""
    cp = configparser.RawConfigParser()
    cp.read(fleet.homes / user / "circus" / host / "circus.ini")
    return cp.get("circus", "endpoint")


def ini_endpoint(fleet, host, user) -> str:
    """The endpoint in the user's circus.ini, bind-only forms mapped to loopback."""
    endpoint = open_ini(fleet, host, user)
    return re.sub(r"^tcp://(\*|0\.0\.0\.0):", "tcp://127.0.0.1:", endpoint)


def ssh_raw(fleet, host, *options, timeout=15, command="hostname"):
    """ssh with extra options (fleet.ssh takes none); returns the CompletedProcess."""
    return subprocess.run(
        ["ssh", "-F", str(fleet.ssh_config), *options, host, "--", command],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def assert_reachable(fleet, host):
    p = fleet.ssh(host, ["hostname"])
    assert (p.returncode, p.stdout) == (0, f"{host}\n"), p.stderr


def circusctl_status(fleet, host, endpoint, timeout=5):
    return fleet.ssh(host, ["circusctl", "--endpoint", endpoint, "--timeout", str(timeout),
                            "status"], timeout=timeout + 20)


# -- hosts and staged units ----------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
def test_each_host_reports_its_own_hostname(fleet, host):
    p = fleet.ssh(host, ["sh", "-c", "hostname; uname -n; cat /etc/hostname; id -un"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [host, host, host, "barnumop"]


@pytest.mark.parametrize("host", HOSTS)
def test_list_unit_files_lists_the_staged_units(fleet, host):
    p = fleet.ssh(host, ["systemctl", "list-unit-files", "--no-legend", "--no-pager",
                         "circus_*"])
    assert p.returncode == 0, p.stderr
    listed = {line.split()[0]: line.split()[1] for line in p.stdout.splitlines() if line}
    assert listed == {unit(u.user, host): "enabled" if u.enabled else "disabled"
                      for u in spec(fleet, host).units}
    for user in spec(fleet, host).orphan_configs:  # a config tree, no unit
        assert (fleet.homes / user / "circus" / host / "circus.ini").exists()
        assert unit(user, host) not in listed


@pytest.mark.parametrize("host", HOSTS)
def test_show_gives_the_staged_states(fleet, host):
    units = [unit(u.user, host) for u in spec(fleet, host).units]
    p = fleet.ssh(host, ["systemctl", "show", "--no-pager", "-p", SHOW, *units])
    assert p.returncode == 0, p.stderr
    blocks = [dict(line.split("=", 1) for line in block.splitlines())
              for block in p.stdout.strip().split("\n\n")]
    assert blocks == [
        {"Id": unit(u.user, host), "User": u.user,
         "UnitFileState": "enabled" if u.enabled else "disabled",
         "ActiveState": staged_active(u)}
        for u in spec(fleet, host).units
    ]


def _running(fleet):
    return [(h.name, u) for h in fleet.layout for u in h.units if staged_active(u) == "active"]


def test_circusctl_answers_for_each_running_instance(fleet):
    running = _running(fleet)
    assert len(running) == 6  # host1 and host2: 2 each; host3 and host4: 1 each
    for host, u in running:
        if u.config == "broken":
            # circusd read its ini before it was broken: it listens where staged
            ini = fleet.homes / u.user / "circus" / host / "circus.ini"
            assert "a line that is not ini" in ini.read_text()
            endpoint = f"tcp://127.0.0.1:{fleet.port(u.user)}"
        else:
            endpoint = ini_endpoint(fleet, host, u.user)
        p = circusctl_status(fleet, host, endpoint)
        assert (p.returncode, p.stdout) == (0, "sleeper: active\nticker: active\n"), (
            host, u.user, p.stderr)


def test_circusd_runs_as_the_units_user(fleet):
    for host, u in _running(fleet):
        pid = fleet.main_pid(host, unit(u.user, host))
        p = fleet.exec(host, ["stat", "-c", "%U", f"/proc/{pid}"])
        assert p.stdout.strip() == u.user, (host, u.user, p.stderr)


def test_nothing_answers_for_a_unit_that_is_not_running(fleet):
    for user in ("user2", "user3"):  # host3: disabled, failed
        p = circusctl_status(fleet, "host3", ini_endpoint(fleet, "host3", user), timeout=1)
        assert p.returncode == 1 and "Timed out." in p.stderr, (user, p.stdout, p.stderr)


def test_bind_only_endpoint_forms_are_staged(fleet):
    forms = {u: open_ini(fleet, "host1", u) for u in ("user1", "user2")}
    assert forms["user1"].startswith("tcp://127.0.0.1:")
    assert forms["user2"].startswith("tcp://0.0.0.0:")
    assert open_ini(fleet, "host4", "user3").startswith("tcp://*:")


# -- fault switches ------------------------------------------------------------------------


def test_host_down_then_up(fleet):
    with fleet.host_down("host2"):
        p = ssh_raw(fleet, "host2", "-o", "ConnectTimeout=3")
        assert p.returncode == 255
        assert re.search(r"No route to host|timed out", p.stderr), p.stderr
        assert_reachable(fleet, "host1")  # the others are unaffected
    assert_reachable(fleet, "host2")


def test_sshd_hang_times_out_then_resumes(fleet):
    with fleet.sshd_hang("host2"):
        start = time.monotonic()
        p = ssh_raw(fleet, "host2", "-o", "ConnectTimeout=3", timeout=15)
        elapsed = time.monotonic() - start
        assert p.returncode == 255
        assert "timed out" in p.stderr, p.stderr
        assert 2.5 < elapsed < 10, elapsed
    assert_reachable(fleet, "host2")


def test_refuse_key_then_accept(fleet):
    with fleet.refuse_key("host2"):
        p = fleet.ssh("host2", ["hostname"])
        assert p.returncode == 255
        assert "Permission denied (publickey)" in p.stderr, p.stderr
    assert_reachable(fleet, "host2")


def test_change_host_key_then_restore(fleet):
    with fleet.change_host_key("host2"):
        p = fleet.ssh("host2", ["hostname"])
        assert p.returncode == 255
        assert "Host key verification failed." in p.stderr, p.stderr
    assert_reachable(fleet, "host2")


def test_circusd_hang_times_out_then_answers(fleet):
    endpoint = ini_endpoint(fleet, "host2", "user1")
    with fleet.circusd_hang("host2", "user1"):
        p = circusctl_status(fleet, "host2", endpoint, timeout=2)
        assert p.returncode == 1
        assert "Timed out." in p.stderr, p.stderr
        other = circusctl_status(fleet, "host2", ini_endpoint(fleet, "host2", "user2"))
        assert other.returncode == 0, other.stderr
    p = circusctl_status(fleet, "host2", endpoint)
    assert (p.returncode, p.stdout) == (0, "sleeper: active\nticker: active\n"), p.stderr


# -- down() leaves nothing -----------------------------------------------------------------


def _traces(name: str) -> dict[str, list[str]]:
    """Everything on this machine that carries the fleet's name."""
    from tests.fleet.fleet import CGROUP_ROOTS, ROOT

    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    mounts = Path("/proc/self/mountinfo").read_text()
    procs = []
    for cg in Path("/proc").glob("[0-9]*/cgroup"):
        try:
            text = cg.read_text()
        except OSError:
            continue
        if re.search(rf":/{name}(/|$)", text, re.M):
            procs.append(cg.parent.name)
    return {
        "netns": [ns for ns in netns.split() if ns.startswith(f"{name}-")],
        "links": [line for line in links.splitlines()
                  if re.match(rf"\d+: {name}[-\d]", line)],
        "cgroups": [str(r / name) for r in CGROUP_ROOTS if (r / name).exists()],
        "mounts": [line for line in mounts.splitlines() if name in line],
        "state": [str(ROOT / name)] if (ROOT / name).exists() else [],
        "procs": procs,
    }


def test_down_leaves_nothing(fleet):
    from tests.fleet import Fleet, default_layout

    name = "bidown"
    small = Fleet(name, default_layout(1))
    try:
        small.up()
        assert_reachable(small, "host1")
        up = _traces(name)
        for kind in ("netns", "links", "cgroups", "mounts", "state", "procs"):
            assert up[kind], f"nothing of kind {kind} while up: the check would prove nothing"
        pids = [int(p) for p in up["procs"]]
    finally:
        small.down()
    assert _traces(name) == {k: [] for k in
                             ("netns", "links", "cgroups", "mounts", "state", "procs")}
    for pid in pids:  # gone, or (pid reused) no longer in the fleet's cgroup
        cg = Path(f"/proc/{pid}/cgroup")
        if cg.exists():
            assert f"/{name}/" not in cg.read_text()
    assert_reachable(fleet, "host1")  # the session's fleet is untouched
