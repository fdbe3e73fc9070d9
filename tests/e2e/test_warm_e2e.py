"""Warm by default, on the real fleet: the background session answers as the cold path
does (byte for byte), sees changes made on the hosts, never shows an old state for a
host that went away, and leaves nothing behind.

Each test gets its own runtime folder (so its own sessions) and turns persistence
on; the cold answer it compares with is the same command with BARNUM_PERSIST=0.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.waiting import until

pytestmark = pytest.mark.fleet

HARD_LIMIT = 90
GROUPS = "groups:\n  itg: [host1, host2]\n  odd: [host1, host3]\n"


@pytest.fixture
def warm(fleet, tmp_path):
    """A runner of ``barnum`` with a private runtime folder; stops its sessions after."""
    run_dir = Path(tempfile.mkdtemp(prefix="bw", dir="/tmp"))  # short: a socket path is
    users = tmp_path / "circus_users.yaml"                      # at most 108 bytes
    users.write_text(fleet.users_file.read_text() + GROUPS)
    w = Warm(fleet, users, run_dir, tmp_path)
    yield w
    w.stop_all()
    shutil.rmtree(run_dir, ignore_errors=True)


class Warm:
    def __init__(self, fleet, users: Path, run_dir: Path, tmp: Path) -> None:
        self.fleet, self.users, self.run_dir, self.tmp = fleet, users, run_dir, tmp

    def env(self, persist: str = "10m", **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
        env.update(BARNUM_PERSIST=persist, XDG_RUNTIME_DIR=str(self.run_dir),
                   XDG_STATE_HOME=str(self.tmp / "state"), **extra)
        return env

    def run(self, *args: str, persist: str = "10m", **kw) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "barnum", "--config", str(self.users),
               "--ssh-config", str(self.fleet.ssh_config), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=HARD_LIMIT,
                              env=self.env(persist), stdin=subprocess.DEVNULL, **kw)

    def cold(self, *args: str) -> subprocess.CompletedProcess:
        return self.run(*args, persist="0")

    def status(self) -> dict | None:
        r = self.run("session", "status", "--json")
        return json.loads(r.stdout) if r.returncode == 0 else None

    def ready(self, within: float = 40.0) -> dict:
        """The session's status once every host has been tried (a first call starts it)."""
        def up():
            st = self.status()
            return st if st and all(v != "connecting" for v in st["hosts"].values()) else None
        st = until(up, within, 0.2)
        assert st, "no warm session came up"
        return st

    def served(self) -> int:
        st = self.status()
        assert st is not None
        return st["served"]

    def stop_all(self) -> None:
        self.run("session", "stop")
        for p in (self.run_dir / "barnum").glob("s-*.sock"):
            p.unlink(missing_ok=True)


ELAPSED = re.compile(r"(?m)^(\S.*?  )\d+\.\d\ds")  # a host's header: its name, its time


def _same(w: subprocess.CompletedProcess, c: subprocess.CompletedProcess) -> tuple:
    """(exit, stdout, stderr) with each host's time masked: the one field that differs."""
    return (w.returncode, ELAPSED.sub(r"\1T", w.stdout), w.stderr), \
        (c.returncode, ELAPSED.sub(r"\1T", c.stdout), c.stderr)


def _diff(got: tuple, want: tuple) -> str:
    import difflib

    return "\n".join(difflib.unified_diff(
        "\n".join(map(str, want)).splitlines(), "\n".join(map(str, got)).splitlines(),
        "cold", "warm", lineterm=""))


def _paths(a, b, at: str = "") -> list[str]:
    """Where two JSON documents differ (for the failure message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for k in sorted(set(a) | set(b))
                for p in _paths(a.get(k), b.get(k), f"{at}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b, strict=True))
                for p in _paths(x, y, f"{at}[{i}]")]
    return [] if a == b else [f"{at}: {a!r} != {b!r}"]


TIMING_KEYS = {"elapsed", "circusd_started_us", "memory_current"}  # time and live measures
MS = re.compile(r" in \d+ ms")  # bailey's notes say how long each circusctl took


def _no_timing(doc):
    """A --json document without what measures time (the rest must be equal)."""
    if isinstance(doc, dict):
        return {k: _no_timing(v) for k, v in doc.items() if k not in TIMING_KEYS}
    if isinstance(doc, list):
        return [_no_timing(v) for v in doc]
    return MS.sub(" in N ms", doc) if isinstance(doc, str) else doc


def _start(warm) -> dict:
    first = warm.run()
    assert first.returncode in (0, 1, 3), first.stderr
    return warm.ready()


def test_warm_answers_equal_cold_byte_for_byte(warm):
    _start(warm)
    cases = [[], ["host1", "user1@host2"], ["@itg"], ["--group-by", "group"],
             ["host1", "--", "--", "list"], ["check"], ["check", "host3"]]
    for args in cases:
        before = warm.served()
        w = warm.run(*args)
        assert warm.served() == before + 1, (args, "not served warm")
        c = warm.cold(*args)
        got, want = _same(w, c)
        assert got == want, (args, _diff(got, want))
    for args in [["--json"], ["@itg", "--json"], ["host1", "--json", "--", "--", "list"],
                 ["check", "--json"]]:
        w, c = warm.run(*args), warm.cold(*args)
        assert w.returncode == c.returncode, args
        wd, cd = _no_timing(json.loads(w.stdout)), _no_timing(json.loads(c.stdout))
        assert wd == cd, (args, _paths(wd, cd))


def test_stats_served_warm_with_the_cold_shape(warm):
    _start(warm)
    before = warm.served()
    w = warm.run("stats", "host1", "host2", "--json")
    assert warm.served() == before + 1
    c = warm.cold("stats", "host1", "host2", "--json")
    assert w.returncode == c.returncode == 0, (w.stderr, c.stderr)

    def shape(doc):  # cpu and memory move between two calls; the watchers do not
        if isinstance(doc, dict):
            return {k: shape(v) for k, v in doc.items()}
        if isinstance(doc, list):
            return [shape(v) for v in doc]
        return type(doc).__name__ if isinstance(doc, int | float) else doc
    assert shape(json.loads(w.stdout)) == shape(json.loads(c.stdout))


def _endpoint(fleet, user: str) -> str:
    return f"tcp://127.0.0.1:{fleet.port(user)}"


def _ctl(fleet, user: str) -> list[str]:
    """circusctl on a host, at ``user``'s circusd."""
    return [str(fleet.venv / "bin" / "circusctl"), "--endpoint", _endpoint(fleet, user)]


def _watchers_settled(fleet, host: str, user: str) -> bool:
    """circusd answers and no watcher is between states ("starting", "stopping").

    A warm answer and the cold one asked after it are equal only when circusd's own
    state does not move between the two calls."""
    r = fleet.exec(host, [*_ctl(fleet, user), "status"], user=user)
    states = [line.rsplit(":", 1)[-1].strip() for line in r.stdout.splitlines() if ":" in line]
    return r.returncode == 0 and bool(states) and all(
        s in ("active", "stopped") for s in states)


def test_a_change_made_on_a_host_shows_in_the_next_warm_call(warm):
    fleet = warm.fleet
    _start(warm)
    ctl = _ctl(fleet, "user1")
    assert fleet.exec("host1", [*ctl, "stop", "ticker"], user="user1").returncode == 0
    assert until(lambda: fleet.exec("host1", [*ctl, "status", "ticker"], user="user1")
                 .stdout.strip() == "stopped", 20)  # the host's own word, then ours
    try:
        w = warm.run("user1@host1", "--json")
        doc = json.loads(w.stdout)
        watchers = doc["hosts"][0]["bailey"]["instances"][0]["watchers"]
        assert watchers["ticker"] == "stopped", watchers
        assert w.stdout.replace("\n", "") and w.returncode == warm.cold("user1@host1").returncode
    finally:
        fleet.exec("host1", [*ctl, "start", "ticker"], user="user1")
    assert until(lambda: _watchers_settled(fleet, "host1", "user1"), 20)
    w = warm.run("user1@host1", "--json")
    assert json.loads(w.stdout)["hosts"][0]["bailey"]["instances"][0]["watchers"]["ticker"] \
        == "active"


def test_a_host_gone_reads_as_down_never_as_its_old_state(warm):
    fleet = warm.fleet
    _start(warm)
    with fleet.host_down("host2"):
        w = warm.run("host1", "host2", "--timeout", "3", "--json")
        assert w.returncode == 3
        hosts = {h["host"]: h for h in json.loads(w.stdout)["hosts"]}
        assert hosts["host2"]["ok"] is False and hosts["host2"]["bailey"] is None
        assert hosts["host1"]["ok"] is True
        assert "host2" in w.stderr
    # every sshd of the host stopped, the one of the session's own connection too
    pids = _sshd_pids(fleet, "host3")
    assert fleet.exec("host3", ["kill", "-STOP", *pids]).returncode == 0
    try:
        w = warm.run("host3", "--timeout", "3", "--json")
        assert w.returncode == 3
        h = json.loads(w.stdout)["hosts"][0]
        assert h["ok"] is False and h["bailey"] is None and "timed out" in h["error"], h
    finally:
        fleet.exec("host3", ["kill", "-CONT", *pids])


def _sshd_pids(fleet, host: str) -> list[str]:
    ps = fleet.exec(host, ["ps", "-eo", "pid=,comm="])
    return [line.split()[0] for line in ps.stdout.splitlines() if line.split()[1:] == ["sshd"]]


def test_changing_the_users_file_gives_a_new_session(warm):
    old = _start(warm)
    warm.users.write_text(warm.users.read_text() + "# changed\n")
    first = warm.run()  # a new key: answered cold, a new session started
    assert first.returncode in (0, 1, 3)
    new = warm.ready()
    assert new["pid"] != old["pid"] and new["socket"] != old["socket"]
    assert until(lambda: not _alive(old["pid"]), 20), "the old session did not retire"


def test_another_uid_cannot_connect_and_a_wrong_mode_is_refused(warm):
    st = _start(warm)
    sock = st["socket"]
    probe = ("import socket,sys; s=socket.socket(socket.AF_UNIX); "
             f"s.connect({sock!r}); print('connected')")
    r = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                        sys.executable, "-c", probe], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0 and "connected" not in r.stdout
    assert "Permission denied" in r.stderr
    os.chmod(sock, 0o666)
    try:
        r = warm.run()
        assert r.returncode == 2
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and "refusing it" in lines[0] and r.stdout == "", r.stderr
    finally:
        os.chmod(sock, 0o600)


def test_after_kill_9_the_next_call_works(warm):
    st = _start(warm)
    os.kill(st["pid"], signal.SIGKILL)
    until(lambda: not _alive(st["pid"]), 10)
    assert Path(st["socket"]).exists()  # stale: nobody listens
    r, c = warm.run(), warm.cold()
    got, want = _same(r, c)
    assert got == want
    new = warm.ready()
    assert new["pid"] != st["pid"]
    before = new["served"]
    got, want = _same(warm.run(), c)
    assert got == want
    assert warm.served() == before + 1


def test_idle_expiry_leaves_nothing_locally_or_on_the_hosts(warm):
    fleet = warm.fleet
    warm.run("--persist", "4s")
    st = warm.ready()
    assert _serving(fleet, "host1")
    assert until(lambda: not _alive(st["pid"]), 40), "the session did not expire"
    assert not Path(st["socket"]).exists()
    for h in fleet.hosts:
        assert until(lambda h=h: not _serving(fleet, h), 15), f"bailey --serve left on {h}"


def _serving(fleet, host: str) -> bool:
    ps = fleet.exec(host, ["ps", "-eo", "args="])
    return any("--serve" in line and "bailey" in line for line in ps.stdout.splitlines())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_start_stop_and_logs_are_served_warm_as_cold_says_them(warm):
    fleet = warm.fleet
    _start(warm)
    ctl = _ctl(fleet, "user1")
    try:
        for verb in ("stop", "start"):
            before = warm.served()
            w = warm.run(verb, "--ordered", "ticker", "user1@host1")
            assert warm.served() == before + 1, verb
            assert w.returncode == 0, w.stderr
            c = warm.cold(verb, "--ordered", "ticker", "user1@host1")  # already done: same words
            step = re.compile(r"\(\d+\.\ds\)")  # how long the step took
            assert (step.sub("T", w.stdout), w.stderr) == (step.sub("T", c.stdout), c.stderr)
            want = "stopped" if verb == "stop" else "active"
            st = fleet.exec("host1", [*ctl, "status", "ticker"], user="user1").stdout.strip()
            assert st == want, (verb, st)
    finally:
        fleet.exec("host1", [*ctl, "start", "ticker"], user="user1")
    before = warm.served()
    w = warm.run("logs", "host1", "-n", "2")
    assert warm.served() == before + 1 and w.returncode == 0, w.stderr
    assert "host1 user1: " in w.stdout


def _unit_states(w: subprocess.CompletedProcess, host: str) -> dict[str, tuple]:
    """unit -> (active_state, sub_state, main_pid) of ``host`` in a --json answer."""
    doc = json.loads(w.stdout)
    h = next(x for x in doc["hosts"] if x["host"] == host)
    return {i["unit"]: (i["active_state"], i["sub_state"], i["main_pid"])
            for i in (h["bailey"] or {}).get("instances", [])}


def test_a_unit_changed_by_nsenter_shows_in_the_very_next_warm_call(warm):
    """The warm overview takes systemd's part from bailey's watched status: a stop, a
    start and a kill -9 made on the host must each show in the next call, as cold says."""
    fleet = warm.fleet
    _start(warm)
    unit = "circus_user1_host1.service"
    warm.run("host1", "--json")  # bailey's watch is up and has read the units
    try:
        for step in (["systemctl", "stop", unit], ["systemctl", "start", unit], "kill"):
            if step == "kill":
                pid = fleet.main_pid("host1", unit)
                assert fleet.exec("host1", ["kill", "-9", str(pid)]).returncode == 0
                assert until(lambda: fleet.exec("host1", ["systemctl", "is-active", unit])
                             .stdout.strip() in ("failed", "activating", "inactive"), 20)
            else:
                assert fleet.exec("host1", step).returncode == 0, step
                if step[1] == "start":  # circusd's watchers take a moment to be "active"
                    assert until(lambda: _watchers_settled(fleet, "host1", "user1"), 20)
            shown = dict(line.split("=", 1) for line in fleet.exec("host1", [
                "systemctl", "show", "-p", "ActiveState,SubState,MainPID", unit]).stdout.split())
            want = [shown["ActiveState"], shown["SubState"], shown["MainPID"]]
            before = warm.served()
            w = warm.run("host1", "--json")
            assert warm.served() == before + 1, "not served warm"
            got = _unit_states(w, "host1")[unit]
            assert [got[0], got[1], str(got[2])] == want, (step, got, want)
            c = warm.cold("host1", "--json")
            assert _no_timing(json.loads(w.stdout)) == _no_timing(json.loads(c.stdout)), step
    finally:
        fleet.exec("host1", ["systemctl", "reset-failed", unit])
        fleet.exec("host1", ["systemctl", "start", unit])
        until(lambda: _watchers_settled(fleet, "host1", "user1"), 20)  # for the next test


def test_a_unit_file_added_without_daemon_reload_shows_in_the_next_warm_call(warm):
    """No signal says a unit file came or went (no daemon-reload): bailey's watched status
    hears it from inotify on systemd's unit folders, and the next warm call lists the
    unit (then no longer lists it), as cold does."""
    fleet = warm.fleet
    _start(warm)
    unit = "circus_user2b_host1.service"  # inactive: circusd is not asked
    path = f"/etc/systemd/system/{unit}"
    text = "[Unit]\nDescription=added by a test\n[Service]\nUser=user2\nExecStart=/bin/true\n"
    warm.run("host1", "--json")  # bailey's watch is up and has read the units
    warm.run("host1", "--json")  # ...and kept them

    def check(present: bool) -> None:
        before = warm.served()
        w = warm.run("host1", "--json")
        assert warm.served() == before + 1, "not served warm"
        assert (unit in _unit_states(w, "host1")) == present, (present, w.stdout[-2000:])
        c = warm.cold("host1", "--json")
        got, want = (_no_timing(json.loads(x.stdout)) for x in (w, c))
        assert got == want, _paths(got, want)  # bailey's report, remote_exit, the summary
        assert w.returncode == c.returncode, (w.returncode, c.returncode)

    try:
        put = ["sh", "-c", 'printf "%s" "$1" > "$2"', "sh", text, path]
        assert fleet.exec("host1", put).returncode == 0
        check(True)
        assert fleet.exec("host1", ["rm", path]).returncode == 0
        check(False)
    finally:
        fleet.exec("host1", ["rm", "-f", path])
        fleet.exec("host1", ["systemctl", "daemon-reload"])


def test_a_stuck_dbus_never_shows_the_old_state(warm):
    """dbus-daemon stopped on a host: bailey's watch hears nothing; a unit stopped then
    (systemctl as root needs no bus) must not read as running in the next warm call."""
    fleet = warm.fleet
    _start(warm)
    unit = "circus_user1_host2.service"
    warm.run("host2", "--json")
    dbus = fleet.exec("host2", ["pidof", "dbus-daemon"]).stdout.split()
    assert dbus
    assert fleet.exec("host2", ["kill", "-STOP", *dbus]).returncode == 0
    try:
        assert fleet.exec("host2", ["systemctl", "stop", unit], timeout=60).returncode == 0
        w = warm.run("host2", "--timeout", "3", "--json")
        doc = json.loads(w.stdout)
        h = doc["hosts"][0]
        if h["ok"] and h["bailey"]:  # an answer: then a true one
            assert _unit_states(w, "host2")[unit][0] != "active", h
        else:
            assert w.returncode == 3 and h["error"], h
    finally:
        fleet.exec("host2", ["kill", "-CONT", *dbus])
        fleet.exec("host2", ["systemctl", "start", unit])
