"""barnum end to end: every documented example and every fault, on the real fleet.

barnum runs here as the operator would run it (the console script, as a
subprocess); the truth it is compared with is read from the hosts directly
(nsenter + systemctl/circusctl), never from barnum itself.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.fleet

ANSI = re.compile(r"\x1b\[")
TIMEOUT = 6  # barnum --timeout used by fault tests
HARD_LIMIT = 90  # a run that takes this long has stalled: fail, do not hang


def barnum_cmd() -> list[str]:
    exe = shutil.which("barnum")
    return [exe] if exe else [sys.executable, "-m", "barnum"]


def run_barnum(fleet, *args: str, env: dict | None = None, config: Path | None = None,
               cwd: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [*barnum_cmd(), "--config", str(config or fleet.users_file),
           "--ssh-config", str(fleet.ssh_config), *args]
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    full_env.update(env or {})
    return subprocess.run(cmd, capture_output=True, text=True, timeout=HARD_LIMIT,
                          env=full_env, stdin=subprocess.DEVNULL, cwd=cwd)


# -- the truth, read from the hosts without barnum ---------------------------------------


def truth_units(fleet, host: str) -> dict[str, dict[str, str]]:
    """unit -> {UnitFileState, ActiveState, User} as systemd on ``host`` says."""
    listing = fleet.exec(host, ["systemctl", "list-unit-files", "--no-legend", "--no-pager",
                                "circus_*"])
    units = [line.split()[0] for line in listing.stdout.splitlines() if line.strip()]
    if not units:
        return {}
    show = fleet.exec(host, ["systemctl", "show", "-p", "Id,UnitFileState,ActiveState,User",
                             *units])
    out: dict[str, dict[str, str]] = {}
    for block in show.stdout.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        out[props["Id"]] = props
    return out


def circusctl(fleet, host: str, endpoint: str, *args: str) -> subprocess.CompletedProcess:
    return fleet.exec(host, [str(fleet.venv / "bin" / "circusctl"), "--endpoint", endpoint,
                             *args])


def healthy_hosts(fleet) -> list[str]:
    """Hosts whose every unit is enabled, running and has a good config."""
    return [
        h.name for h in fleet.layout
        if h.bailey_installed and h.units
        and all(u.enabled and u.started and u.config == "ok" for u in h.units)
    ]


def running(fleet) -> list[tuple[str, str]]:
    """(host, user) of every instance staged to run with a good config."""
    return [(h.name, u.user) for h in fleet.layout for u in h.units
            if u.started and u.config == "ok"]


def json_run(fleet, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    p = run_barnum(fleet, "--json", *args)
    return p, json.loads(p.stdout)


def instances_of(doc: dict, host: str) -> dict[str, dict]:
    h = next(x for x in doc["hosts"] if x["host"] == host)
    assert h["bailey"] is not None, h
    return {i["unit"]: i for i in h["bailey"]["instances"]}


def endpoint_of(doc: dict, host: str, user: str) -> str:
    return next(i["endpoint"] for i in instances_of(doc, host).values() if i["user"] == user)


# -- the README's examples ----------------------------------------------------------------


def test_overview_matches_the_hosts(fleet):
    p = run_barnum(fleet)
    for h in fleet.layout:
        assert h.name in p.stdout
        for unit, props in truth_units(fleet, h.name).items():
            assert unit in p.stdout
            line = next(line for line in p.stdout.splitlines() if unit in line)
            assert props["UnitFileState"] in line
            assert props["ActiveState"] in line
    assert "No circus expected" in p.stdout
    assert "sleeper: active" in p.stdout
    staged_bad = any(u.config != "ok" or (not u.started and u.enabled)
                     for h in fleet.layout for u in h.units)
    assert p.returncode == (1 if staged_bad else 0), p.stderr


def test_json_matches_systemd_and_circusctl(fleet):
    p, doc = json_run(fleet)
    assert doc["schema"] == "barnum/1"
    assert doc["exit"] == p.returncode
    assert sorted(h["host"] for h in doc["hosts"]) == sorted(h.name for h in fleet.layout)
    for h in fleet.layout:
        truth = truth_units(fleet, h.name)
        got = instances_of(doc, h.name)
        assert set(got) == set(truth), h.name
        for unit, props in truth.items():
            assert got[unit]["unit_file_state"] == props["UnitFileState"]
            assert got[unit]["active_state"] == props["ActiveState"]
    for host, user in running(fleet):
        inst = next(i for i in instances_of(doc, host).values() if i["user"] == user)
        direct = circusctl(fleet, host, inst["endpoint"], "status")
        assert direct.returncode == 0, direct.stderr
        assert inst["state"] == "ok"
        assert inst["stdout"].strip() == direct.stdout.strip()
        assert inst["watchers"] == dict(
            line.split(": ", 1) for line in direct.stdout.strip().splitlines()
        )


def test_host_verbose(fleet):
    host = healthy_hosts(fleet)[0]
    p = run_barnum(fleet, host, "--verbose")
    assert p.returncode == 0, p.stderr
    assert "barnum: Circus is configured on the following hosts: " in p.stderr
    assert f"barnum: Processing {host}" in p.stderr
    assert "bailey cmd:" in p.stderr
    assert re.search(r"bailey: circus cmd: \S*circusctl --endpoint", p.stderr)  # relayed
    others = [h.name for h in fleet.layout if h.name != host]
    shown = {h for h in others if re.search(rf"^\s*{h}\b", p.stdout, re.M)}
    assert not shown  # only the target host's block
    for unit in truth_units(fleet, host):
        assert unit in p.stdout


def test_dry_run_connects_to_nothing(fleet):
    host = healthy_hosts(fleet)[0]
    with fleet.host_down(host):  # would fail if barnum tried to connect
        p = run_barnum(fleet, f"user1@{host}", "--dry-run")
    assert p.returncode == 0, p.stderr
    line = p.stdout.strip().splitlines()[-1]
    assert line.startswith("DRY RUN; would execute: ssh ")
    assert host in line and "user1" in line and "bailey" in line


def test_bailey_help_from_every_host(fleet):
    p = run_barnum(fleet, "--", "--help")
    assert p.returncode == 0, p.stderr
    for h in fleet.layout:
        assert h.name in p.stdout
    assert p.stdout.count("usage: bailey") == len(fleet.layout)


def test_circusctl_stats_for_one_instance(fleet):
    host = healthy_hosts(fleet)[0]
    p = run_barnum(fleet, f"user1@{host}", "--", "--", "stats")
    assert p.returncode == 0, p.stderr
    assert "sleeper:" in p.stdout and "ticker:" in p.stdout
    assert "user2" not in p.stdout


# -- fleet-wide actions, checked on each host independently ------------------------------


def _watcher_status(fleet, host: str, endpoint: str, watcher: str) -> str:
    return circusctl(fleet, host, endpoint, "status", watcher).stdout.strip()


def test_stop_start_restart_incr_decr_across_hosts(fleet):
    hosts = healthy_hosts(fleet)
    _, doc = json_run(fleet, *hosts)
    endpoints = [(h, i["endpoint"]) for h in hosts for i in instances_of(doc, h).values()]
    try:
        assert run_barnum(fleet, *hosts, "--", "--", "stop", "ticker").returncode == 0
        assert {_watcher_status(fleet, h, e, "ticker") for h, e in endpoints} == {"stopped"}
        assert {_watcher_status(fleet, h, e, "sleeper") for h, e in endpoints} == {"active"}

        assert run_barnum(fleet, *hosts, "--", "--", "start", "ticker").returncode == 0
        assert {_watcher_status(fleet, h, e, "ticker") for h, e in endpoints} == {"active"}

        pids = {(h, e): circusctl(fleet, h, e, "list", "ticker").stdout for h, e in endpoints}
        assert run_barnum(fleet, *hosts, "--", "--", "restart", "ticker").returncode == 0
        for (h, e), before in pids.items():
            assert circusctl(fleet, h, e, "list", "ticker").stdout != before, (h, e)

        assert run_barnum(fleet, *hosts, "--", "--", "incr", "sleeper").returncode == 0
        counts = {circusctl(fleet, h, e, "numprocesses", "sleeper").stdout.strip()
                  for h, e in endpoints}
        assert counts == {"2"}
        assert run_barnum(fleet, *hosts, "--", "--", "decr", "sleeper").returncode == 0
        counts = {circusctl(fleet, h, e, "numprocesses", "sleeper").stdout.strip()
                  for h, e in endpoints}
        assert counts == {"1"}
    finally:
        for h, e in endpoints:
            circusctl(fleet, h, e, "start", "ticker")
            circusctl(fleet, h, e, "set", "sleeper", "numprocesses", "1")


HOSTILE_ARG = """it's "quoted" $HOME; `touch /tmp/pwned-q` $(touch /tmp/pwned-q2) a  b"""


def test_arguments_arrive_byte_identical(fleet):
    host = healthy_hosts(fleet)[0]
    _p, doc = json_run(fleet, f"user1@{host}", "--", "--", "get", "sleeper", HOSTILE_ARG)
    inst = next(iter(instances_of(doc, host).values()))
    assert inst["argv"][-3:] == ["get", "sleeper", HOSTILE_ARG]
    # circusctl itself got it whole: its error names the option as sent.
    endpoint = inst["endpoint"]
    direct = circusctl(fleet, host, endpoint, "get", "sleeper", HOSTILE_ARG)
    assert inst["exit"] == direct.returncode
    assert inst["stdout"] == direct.stdout
    for h in fleet.layout:
        ls = fleet.exec(h.name, ["sh", "-c", "ls /tmp"]).stdout
        assert "pwned" not in ls


# -- faults -------------------------------------------------------------------------------


def _fault_run(fleet, victim: str, *args: str) -> subprocess.CompletedProcess:
    start = time.monotonic()
    p = run_barnum(fleet, "--timeout", str(TIMEOUT), "--json", *args)
    elapsed = time.monotonic() - start
    assert elapsed < TIMEOUT + 20, f"run took {elapsed:.1f}s"
    return p


def _others_complete(fleet, doc: dict, victim: str) -> None:
    for h in fleet.layout:
        if h.name == victim:
            continue
        entry = next(x for x in doc["hosts"] if x["host"] == h.name)
        assert entry["error"] is None, entry
        assert set(instances_of(doc, h.name)) == set(truth_units(fleet, h.name))


def _host_error(doc: dict, host: str) -> str:
    entry = next(x for x in doc["hosts"] if x["host"] == host)
    assert entry["ok"] is False
    return entry["error"]


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        ("host_down", r"connect|unreachable|refused|timed out|no route"),
        ("sshd_hang", r"timed out|timeout"),
        ("refuse_key", r"auth"),
        ("change_host_key", r"host key"),
    ],
)
def test_host_faults(fleet, fault, cause):
    victim = healthy_hosts(fleet)[-1]
    with getattr(fleet, fault)(victim):
        p = _fault_run(fleet, victim)
    doc = json.loads(p.stdout)
    assert p.returncode == 3, p.stderr
    err = _host_error(doc, victim)
    assert re.search(cause, err, re.I), err
    assert "\n" not in err
    assert f"barnum: {victim}: {err}" in p.stderr.splitlines(), p.stderr
    assert "Traceback" not in p.stderr
    _others_complete(fleet, doc, victim)


def test_circusd_hung(fleet):
    host = healthy_hosts(fleet)[0]
    with fleet.circusd_hang(host, "user1"):
        p = _fault_run(fleet, host, host)
    doc = json.loads(p.stdout)
    assert p.returncode == 1, p.stderr
    insts = instances_of(doc, host)
    bad = [i for i in insts.values() if i["user"] == "user1"]
    good = [i for i in insts.values() if i["user"] != "user1"]
    assert bad[0]["state"] == "error" and bad[0]["error"]
    assert all(i["state"] == "ok" for i in good)


def _staged(fleet, config: str) -> tuple[str, str]:
    return next((h.name, u.user) for h in fleet.layout for u in h.units if u.config == config)


@pytest.mark.parametrize(
    ("config", "state", "cause"),
    [
        ("failing", "unit-failed", r"fail"),
        ("missing", None, r"circus\.ini|no such file|missing"),
        ("broken", None, r"circus\.ini"),
    ],
)
def test_instance_faults(fleet, config, state, cause):
    host, user = _staged(fleet, config)
    # A unit without config has no user@host in the config tree: target the host.
    p = run_barnum(fleet, "--json", host)
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    inst = next(i for i in instances_of(doc, host).values() if i["user"] == user)
    assert inst["state"] != "ok"
    if state:
        assert inst["state"] == state
    assert re.search(cause, inst["error"] or "", re.I), inst
    human = run_barnum(fleet, host)
    assert human.returncode == 1
    assert any(line.startswith(f"barnum: {host}: {inst['unit']}: ")
               and re.search(cause, line, re.I) for line in human.stderr.splitlines())


def test_bailey_not_installed_is_shipped(fleet):
    host = next(h.name for h in fleet.layout if not h.bailey_installed)
    _p, doc = json_run(fleet, host)
    entry = next(x for x in doc["hosts"] if x["host"] == host)
    assert entry["shipped"] is True
    assert set(instances_of(doc, host)) == set(truth_units(fleet, host))
    no_ship = run_barnum(fleet, "--no-ship", host)
    assert no_ship.returncode == 3
    assert "bailey" in no_ship.stderr and host in no_ship.stderr


@pytest.mark.parametrize("content", ["", "users: [user1\n", "- user1\n- {x: 1}\n", "42\n"])
def test_bad_users_file(fleet, tmp_path, content):
    bad = tmp_path / "circus_users.yaml"
    bad.write_text(content)
    p = run_barnum(fleet, config=bad)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0], p.stderr


def test_unknown_target_suggests(fleet):
    p = run_barnum(fleet, "hots1")
    assert p.returncode == 2
    assert "host1" in p.stderr and "Traceback" not in p.stderr


HOSTILE_DIRS = ["-oProxyCommand=touch pwned1", "a;touch pwned2", "$(touch pwned3)",
                "`touch pwned4`"]


def test_hostile_host_folders(fleet, tmp_path):
    home = fleet.homes / "user1"
    made = []
    try:
        for name in HOSTILE_DIRS:
            d = home / "circus" / name
            d.mkdir(parents=True)
            (d / "circus.ini").write_text("[circus]\n")
            made.append(d)
        p = run_barnum(fleet, cwd=tmp_path)
        for name in HOSTILE_DIRS:
            assert any("warning" in line and name in line for line in p.stderr.splitlines())
        assert all(x["host"] not in HOSTILE_DIRS for x in json_run(fleet)[1]["hosts"])
        places = [tmp_path, Path.cwd(), Path("/tmp"), fleet.homes]
        for place in places:
            assert not list(place.rglob("pwned*")), place
        for h in fleet.layout:
            found = fleet.exec(h.name, ["find", "/tmp", "/run", str(fleet.homes), "-name",
                                        "pwned*"]).stdout
            assert not found.strip(), (h.name, found)
    finally:
        for d in made:
            shutil.rmtree(d)


# -- output for people --------------------------------------------------------------------


def _on_a_terminal(fleet, env: dict) -> str:
    """Run barnum on a pseudo-terminal and return what it drew."""
    cmd = [*barnum_cmd(), "--config", str(fleet.users_file), "--ssh-config",
           str(fleet.ssh_config), healthy_hosts(fleet)[0]]
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    full_env.update({"TERM": "xterm-256color", **env})
    leader, follower = pty.openpty()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower,
                            env=full_env)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=HARD_LIMIT)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_colour_only_on_a_terminal_and_never_with_no_color(fleet):
    piped = run_barnum(fleet)
    assert not ANSI.search(piped.stdout) and not ANSI.search(piped.stderr)
    assert ANSI.search(_on_a_terminal(fleet, {}))  # the check below can fail
    assert not ANSI.search(_on_a_terminal(fleet, {"NO_COLOR": "1"}))
