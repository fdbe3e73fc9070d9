"""Each common option on both paths, on the real fleet: the one-shot ``barnum`` and a
session command (``barnum stats``), both going through barnum.transport.connector.

barnum runs as the operator runs it (the console script, as a subprocess); for
``--local`` it runs inside a fleet host (nsenter), where that host is "this machine".
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess

import pytest

from tests.e2e.subcommand import run_sub
from tests.e2e.test_barnum_e2e import HARD_LIMIT, run_barnum

pytestmark = pytest.mark.fleet

# The two paths, each as argv words after barnum's own options: the one-shot
# overview (--json: a document to read) and a session command.
ONESHOT = ("oneshot",)
SESSION = ("session",)
PATHS = [ONESHOT, SESSION]


def _run(fleet, path: tuple[str], *args: str) -> subprocess.CompletedProcess:
    if path == ONESHOT:
        return run_barnum(fleet, "--json", *args)
    return run_sub(fleet, fleet.users_file, "stats", "--json", *args)


def _ok_host(fleet) -> str:
    return next(h.name for h in fleet.layout if h.bailey_installed and
                all(u.started and u.config == "ok" for u in h.units))


def _no_bailey_host(fleet) -> str:
    return next(h.name for h in fleet.layout if not h.bailey_installed)


@pytest.mark.parametrize("path", PATHS, ids=["oneshot", "session"])
def test_timeout_reaches_bailey(fleet, path):
    """--timeout 4: bailey gets --timeout 2 for circusctl on both paths (seen with -v)."""
    host = _ok_host(fleet)
    p = _run(fleet, path, "--timeout", "4", "-v", host)
    assert p.returncode == 0, p.stderr
    mode = "--json" if path == ONESHOT else "--serve"
    cmd = [m for m in p.stderr.splitlines() if m.startswith(f"barnum: {host}: bailey cmd: ")]
    assert cmd, p.stderr
    words = shlex.split(cmd[0].split("bailey cmd: ", 1)[1])
    assert mode in words and words[words.index("--timeout") + 1] == "2", cmd


def test_timeout_reaches_bailey_so_a_hung_circusd_does_not_take_the_host(fleet):
    """Session: with one circusd hung, the host's other instance still answers within
    barnum's --timeout (bailey's own 5 s circusctl timeout would outlive a 4 s one)."""
    host = _ok_host(fleet)
    with fleet.circusd_hang(host, "user1"):
        p = run_sub(fleet, fleet.users_file, "stats", "--json", "--timeout", "4", host)
    doc = json.loads(p.stdout)
    assert p.returncode == 3, p.stderr  # an instance's error is reported
    assert {w["user"] for w in doc["watchers"] if w["host"] == host} == {"user2"}, doc
    assert "no answer" not in p.stderr, p.stderr  # the host answered, user1 errored


@pytest.mark.parametrize("path", PATHS, ids=["oneshot", "session"])
def test_fanout_one_host_at_a_time(fleet, path):
    """--fanout 1 -v: every host's start line is followed by its end before the next
    host starts (Processing H ... H: finished | H: up | H: not up)."""
    p = _run(fleet, path, "--fanout", "1", "-v")
    assert p.returncode != 2, p.stderr
    start = re.compile(r"^barnum: Processing (\S+)$")
    end = re.compile(r"^barnum: (\S+): (finished|up|not up)\b")
    busy: list[str] = []
    seen = set()
    for line in p.stderr.splitlines():
        if m := start.match(line):
            assert not busy, f"{m[1]} started while {busy} was busy:\n{p.stderr}"
            busy.append(m[1])
            seen.add(m[1])
        elif (m := end.match(line)) and m[1] in busy:
            busy.remove(m[1])
    assert seen == set(fleet.hosts), p.stderr


@pytest.mark.parametrize("path", PATHS, ids=["oneshot", "session"])
def test_max_output_caps_what_a_host_sends(fleet, path):
    host = _ok_host(fleet)
    p = _run(fleet, path, "--max-output", "1024", host)
    assert p.returncode == 3, p.stderr
    want = "output too large: over 1024 bytes" if path == ONESHOT else \
        "bailey sent a line over 1024 bytes"
    assert f"barnum: {host}: {want}" in p.stderr, p.stderr


@pytest.mark.parametrize("path", PATHS, ids=["oneshot", "session"])
def test_no_ship_and_ship(fleet, path):
    """The one ship rule: a host without bailey is shipped to, unless --no-ship."""
    bare = _no_bailey_host(fleet)
    p = _run(fleet, path, "--no-ship", bare)
    assert p.returncode == 3
    assert f"barnum: {bare}: bailey not found; rerun with --ship" in p.stderr, p.stderr
    p = _run(fleet, path, "-v", bare)
    assert f"{bare}: bailey not installed; shipping it to python3" in p.stderr
    assert "bailey not found" not in p.stderr, p.stderr
    ok = _ok_host(fleet)
    p = _run(fleet, path, "--ship", "-v", ok)  # bailey there, shipped all the same
    assert p.returncode == 0, p.stderr
    cmds = [m for m in p.stderr.splitlines() if m.startswith(f"barnum: {ok}: bailey cmd: ")]
    assert cmds and all(m.endswith(" (shipped)") for m in cmds), p.stderr


@pytest.mark.parametrize("path", PATHS, ids=["oneshot", "session"])
def test_bailey_command_is_the_one_given(fleet, path):
    host = _ok_host(fleet)
    p = _run(fleet, path, "--no-ship", "--bailey", "/nonexistent/venv/bin/bailey", host)
    assert p.returncode == 3
    assert f"barnum: {host}: bailey not found; rerun with --ship" in p.stderr, p.stderr


@pytest.mark.parametrize("path", PATHS, ids=["oneshot", "session"])
def test_host_key_policy(fleet, path, tmp_path):
    """An empty known_hosts: strict refuses the host, off accepts it with a warning,
    accept-new (the default) records its key."""
    host = _ok_host(fleet)
    known = tmp_path / "known_hosts"
    known.write_text("")
    cfg = tmp_path / "ssh_config"
    cfg.write_text(fleet.ssh_config.read_text().replace(str(fleet.known_hosts), str(known)))
    args = ["--ssh-config", str(cfg), host]
    p = _run(fleet, path, "--host-key-policy", "strict", *args)
    assert p.returncode == 3
    assert re.search(rf"^barnum: {host}: unknown host key for \S+ and --host-key-policy "
                     "strict", p.stderr, re.M), p.stderr
    p = _run(fleet, path, "--host-key-policy", "off", *args)
    assert p.returncode == 0, p.stderr
    assert "host key NOT verified" in p.stderr and known.read_text() == ""
    p = _run(fleet, path, *args)
    assert p.returncode == 0, p.stderr
    assert known.read_text().count("\n") == 1


@pytest.mark.parametrize("path", PATHS, ids=["oneshot", "session"])
def test_verbose_shows_each_layer(fleet, path):
    host = _ok_host(fleet)
    p = _run(fleet, path, "-v", "-t", host)
    assert p.returncode == 0, p.stderr
    for said in (f"barnum: Processing {host}", f"barnum: {host}: connecting over SSH",
                 f"barnum: {host}: bailey cmd: "):
        assert said in p.stderr, (said, p.stderr)
    quiet = _run(fleet, path, host)
    assert "Processing" not in quiet.stderr and "bailey cmd" not in quiet.stderr


# -- --local: barnum inside a host, where that host is this machine ----------------------


@pytest.fixture
def inside(fleet):
    """barnum run inside a host: its users file, and an ssh_config that sends the host
    to a closed port, so only a run without SSH can answer."""
    host = _ok_host(fleet)
    users = fleet.state / "conn-local-users.yaml"
    ssh_config = fleet.state / "conn-local-ssh_config"
    template = f"{fleet.homes}/{{user}}/circus/{{host}}/circus.ini"
    users.write_text(f"users: [{', '.join(fleet.users)}]\nconfig_template: {template}\n"
                     f"hosts: [{host}]\n")
    ssh_config.write_text(f"Host {host}\n  HostName 127.0.0.1\n  Port 1\n")

    def run(*args: str) -> subprocess.CompletedProcess:
        return fleet.exec(host, [str(fleet.venv / "bin" / "barnum"), *args, "--config",
                                 str(users), "--ssh-config", str(ssh_config), host],
                          timeout=HARD_LIMIT)

    yield host, run
    users.unlink(missing_ok=True)
    ssh_config.unlink(missing_ok=True)


@pytest.mark.parametrize("command", [[], ["stats"]], ids=["oneshot", "session"])
def test_local_runs_bailey_without_ssh(inside, command):
    host, run = inside
    p = run(*command, "--json", "--local", "-v")
    assert p.returncode == 0, p.stderr
    assert f"barnum: {host}: this machine (--local): running bailey without SSH" in p.stderr
    assert "over SSH" not in p.stderr, p.stderr
    doc = json.loads(p.stdout)
    if command:
        users = {w["user"] for w in doc["watchers"] if w["host"] == host}
    else:
        users = {i["user"] for h in doc["hosts"] if h["host"] == host
                 for i in h["bailey"]["instances"]}
    assert users == {"user1", "user2"}, doc
    p = run(*command, "--json")  # the same, without --local: over SSH, to the closed port
    assert p.returncode == 3
    assert "connection refused" in p.stderr, p.stderr
