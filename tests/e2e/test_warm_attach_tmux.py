"""``barnum watch`` and ``barnum shell`` attached to the warm session, on the real fleet.

They take the session's state and events over its Unix socket and run their
actions through it (no SSH connection of their own: the host keeps one
``bailey --serve``), count as its clients (its idle expiry waits for them),
and leave it running when they close.  A terminal is a real one (tmux).
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time

import pytest

from tests.e2e.test_warm_e2e import Warm, _endpoint, _start, warm  # noqa: F401 (fixture)
from tests.e2e.tmux import tmux  # noqa: F401 (fixture)
from tests.waiting import until

pytestmark = [pytest.mark.fleet,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

HOST, USER = "host1", "user1"
IDLE = 8.0  # the short idle life of a session in these tests (s): watch attaches within it


def _argv(w: Warm, *args: str) -> list[str]:
    return [sys.executable, "-m", "barnum", "--config", str(w.users),
            "--ssh-config", str(w.fleet.ssh_config), *args]


def _env_words(w: Warm, persist: str = "10m") -> str:
    env = w.env(persist)
    return "env " + " ".join(shlex.quote(f"{k}={env[k]}") for k in
                             ("BARNUM_PERSIST", "XDG_RUNTIME_DIR", "XDG_STATE_HOME", "PATH"))


def _serves(fleet, host: str) -> int:
    """How many ``bailey --serve`` run on the host (the warm session's alone: 1)."""
    out = fleet.exec(host, ["pgrep", "-fc", "bailey --serve"]).stdout.strip()
    return int(out or 0)


def _clients(w: Warm) -> int | None:
    st = w.status()
    return None if st is None else st["clients"]


def _ticker(fleet, ctl: list[str]) -> str:
    return fleet.exec(HOST, [*ctl, "status", "ticker"], user=USER).stdout.strip()


def _ticker_stopped(screen: str) -> bool:
    return any("ticker" in ln and "stopped" in ln for ln in screen.splitlines())


def test_watch_attached_shows_a_change_counts_as_a_client_and_leaves_the_session(
        warm, tmux, tmp_path):  # noqa: F811
    fleet = warm.fleet
    pid = _start(warm)["pid"]
    assert until(lambda: _serves(fleet, HOST) == 1, 30), "the session's bailey --serve"
    ctl = [str(fleet.venv / "bin" / "circusctl"), "--endpoint", _endpoint(fleet, USER)]
    term, done = tmux("watch-warm"), tmp_path / "exit"
    term.start_then_record_exit(_argv(warm, "watch", HOST), done, env=_env_words(warm),
                                width=140, height=40)
    term.wait(lambda s: f"circus_{USER}_{HOST}.service" in s and "ticker" in s
              and not _ticker_stopped(s), what="the instance's watchers")
    assert until(lambda: _clients(warm) == 1, 20), "watch is not the session's client"
    assert _serves(fleet, HOST) == 1, "watch opened a connection of its own"
    try:
        assert fleet.exec(HOST, [*ctl, "stop", "ticker"], user=USER).returncode == 0
        term.wait(_ticker_stopped, what="ticker stopped (pushed through the session)")
    finally:
        fleet.exec(HOST, [*ctl, "start", "ticker"], user=USER)
    term.wait(lambda s: not _ticker_stopped(s) and "ticker" in s, what="ticker again")
    _quit_leaving_the_session(term, done, warm, pid)


def test_shell_attached_runs_stop_and_start_through_the_session(warm, tmux, tmp_path):  # noqa: F811
    fleet = warm.fleet
    pid = _start(warm)["pid"]
    ctl = [str(fleet.venv / "bin" / "circusctl"), "--endpoint", _endpoint(fleet, USER)]
    term, done = tmux("shell-warm"), tmp_path / "exit"
    term.start_then_record_exit(_argv(warm, "shell", f"{USER}@{HOST}"), done,
                                env=_env_words(warm), width=140, height=40)
    term.wait(lambda s: "barnum shell:" in s and s.rstrip().endswith(">"), what="the prompt")
    assert until(lambda: _clients(warm) == 1, 20), "the shell is not the session's client"
    try:
        term.type("stop ticker")
        term.keys("Enter")
        term.wait(lambda s: f"{USER}@{HOST}" in s and "ok" in s.split("stop ticker", 1)[1],
                  what="the stop's answer")
        assert until(lambda: _ticker(fleet, ctl) == "stopped", 20), _ticker(fleet, ctl)
        term.type("start ticker")
        term.keys("Enter")
        term.wait(lambda s: "ok" in s.split("start ticker", 1)[1], what="the start's answer")
        assert until(lambda: _ticker(fleet, ctl) == "active", 20), _ticker(fleet, ctl)
    finally:
        fleet.exec(HOST, [*ctl, "start", "ticker"], user=USER)
    assert _serves(fleet, HOST) == 1, "the shell opened a connection of its own"
    term.keys("C-d")
    assert term.exit_status(done) == 0
    st = warm.status()
    assert st is not None and st["pid"] == pid, "the session did not outlive the shell"


def _socket_gone(w: Warm) -> bool:
    """No session socket left (asking the session would count as a call: not idle)."""
    return not list((w.run_dir / "barnum").glob("s-*.sock"))


def test_an_attached_watch_holds_off_idle_expiry_and_ends_with_the_session(warm):  # noqa: F811
    warm.run(persist=f"{IDLE}s")
    st = warm.ready()
    assert st["persist"] == IDLE, st
    watch = subprocess.Popen(_argv(warm, "watch", "--json"), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=warm.env(f"{IDLE}s"))
    try:
        assert until(lambda: _clients(warm) == 1, 20), "watch is not the session's client"
        time.sleep(IDLE + 4)  # past the idle life: the attached watch keeps the session
        assert not _socket_gone(warm), "the session expired under an attached watch"
        warm.run("session", "stop")
        out, err = watch.communicate(timeout=60)
    finally:
        if watch.poll() is None:
            watch.kill()
    assert watch.returncode == 0, err
    lines = [json.loads(ln) for ln in out.splitlines()]
    assert lines[0]["kind"] == "resync", lines[0]
    assert lines[-1]["kind"] == "end" and lines[-1]["stream"] == "subscribe", lines[-1]


def test_a_watch_that_left_lets_the_session_expire(warm):  # noqa: F811
    warm.run(persist=f"{IDLE}s")
    warm.ready()
    watch = subprocess.Popen(_argv(warm, "watch", "--json"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=warm.env(f"{IDLE}s"))
    try:
        assert until(lambda: _clients(warm) == 1, 20), "watch is not the session's client"
    finally:
        watch.terminate()  # killed: its connection just closes
        watch.wait(30)
    assert until(lambda: _socket_gone(warm), IDLE + 30), "the session outlived its idle life"


def _quit_leaving_the_session(term, done, w: Warm, pid: int) -> None:
    """``q`` in an attached watch: it exits 0, the session stops counting it and runs on."""
    term.keys("q")
    assert term.exit_status(done) == 0
    assert until(lambda: _clients(w) == 0, 20), "watch still counted after it left"
    st = w.status()
    assert st is not None and st["pid"] == pid, "the session did not outlive watch"


def _ordered_start(w: Warm) -> subprocess.Popen:
    """A warm ``start --ordered`` of the chain ending at user1@host1:ticker, its output
    piped (read it with _lines_of)."""
    return subprocess.Popen(
        _argv(w, "start", "--ordered", "user1@host1:ticker", "--wait", "20"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=w.env(), stdin=subprocess.DEVNULL)


def _lines_of(proc: subprocess.Popen) -> list[str]:
    """The process's stdout lines as they arrive (a reader thread appends them)."""
    import threading

    got: list[str] = []

    def read() -> None:
        for ln in proc.stdout:  # type: ignore[union-attr]
            got.append(ln)

    threading.Thread(target=read, daemon=True).start()
    return got


def test_a_warm_ordered_start_shows_each_step_as_it_is_done(warm):  # noqa: F811
    """The last step waits on a hung circusd: the first steps' lines are on the client
    while the call still runs (the session sends output as it is written)."""
    from tests.e2e.test_ordered_e2e import CHAIN, DEPENDS, ctl

    fleet = warm.fleet
    warm.users.write_text(warm.users.read_text() + DEPENDS)
    _start(warm)
    for h, u, w in CHAIN:
        ctl(fleet, h, u, "stop", w)
    proc = None
    try:
        with fleet.circusd_hang("host1", "user1"):  # the chain's last step: held
            before = warm.served()
            proc = _ordered_start(warm)
            lines = _lines_of(proc)
            assert until(lambda: any(ln.startswith("2. ") for ln in lines), 60), lines
            assert proc.poll() is None, "the call ended before its last step"
            assert lines[0].startswith("1. user1@host2:ticker: active"), lines
        proc.wait(90)
        assert warm.served() == before + 1, "not served warm"
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        for h, u, w in CHAIN:
            ctl(fleet, h, u, "start", w)


def test_a_slow_warm_call_does_not_hold_up_another(warm):  # noqa: F811
    """A check held by a hung circusd on host1 runs while an overview of host2 is
    served warm and answered: calls run in parallel in the session."""
    fleet = warm.fleet
    _start(warm)
    before = warm.served()
    with fleet.circusd_hang("host1", "user2"):
        slow = subprocess.Popen(_argv(warm, "check", "host1"), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=warm.env(),
                                stdin=subprocess.DEVNULL)
        assert until(lambda: warm.status()["clients"] >= 1, 20), "the check never came"
        quick = warm.run("host2")
        assert slow.poll() is None, "the overview waited for the check"
        assert quick.returncode == 0, quick.stderr
        assert "host2" in quick.stdout
    slow.communicate(timeout=90)
    assert warm.served() == before + 2, "not both served warm"


def test_a_host_gone_from_the_session_reads_down_in_an_attached_watch(warm):  # noqa: F811
    """Staleness is never hidden: the session's own word on a host that went away
    reaches the attached watch (its events and its states)."""
    fleet = warm.fleet
    warm.run("--timeout", "3")  # the session's liveness: stale after 3 s of silence
    warm.ready()
    watch = subprocess.Popen(_argv(warm, "watch", "--json", "host3"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=warm.env())
    lines = _lines_of(watch)
    try:
        assert until(lambda: lines and json.loads(lines[0])["kind"] == "resync", 30), lines
        assert json.loads(lines[0])["state"] == "up", lines[0]
        with fleet.host_down("host3"):
            def gone() -> bool:
                return any(d["kind"] == "host" and d["host"] == "host3"
                           and d["state"] in ("stale", "down") for d in map(json.loads, lines))
            assert until(gone, 60), lines
            st = warm.status()
            assert st is not None and st["hosts"]["host3"] in ("stale", "down"), st
    finally:
        watch.terminate()
        watch.wait(30)
    assert all(json.loads(ln)["host"] in ("host3", "") for ln in lines), lines


def test_an_attached_watch_says_so_when_the_session_ends(warm, tmux, tmp_path):  # noqa: F811
    """Never an old state: the session stopped under the view, every host reads down
    with the reason, and q still leaves."""
    _start(warm)
    term, done = tmux("watch-end"), tmp_path / "exit"
    term.start_then_record_exit(_argv(warm, "watch", HOST, "host2"), done,
                                env=_env_words(warm), width=140, height=40)
    term.wait(lambda s: f"circus_{USER}_{HOST}.service" in s, what="the instances")
    assert until(lambda: _clients(warm) == 1, 20), "watch is not the session's client"
    warm.run("session", "stop")
    screen = term.wait(lambda s: s.count("the warm session closed") >= 2
                       and "circus_" not in s, what="both hosts down")
    assert "host1" in screen and "host2" in screen
    term.keys("q")
    assert term.exit_status(done) == 0


def test_ctrl_c_at_the_client_interrupts_the_warm_call_as_cold(warm):  # noqa: F811
    """Ctrl-C while step 2 of a warm ordered start waits on a hung circusd: the session
    interrupts the call at its next request, so step 3 is never started (cold stops
    there too)."""
    import signal

    from tests.e2e.test_ordered_e2e import CHAIN, DEPENDS, ctl, status

    fleet = warm.fleet
    warm.users.write_text(warm.users.read_text() + DEPENDS)
    _start(warm)
    for h, u, w in CHAIN:
        ctl(fleet, h, u, "stop", w)
    try:
        with fleet.circusd_hang("host2", "user2"):  # step 2 waits here
            proc = _ordered_start(warm)
            lines = _lines_of(proc)
            assert until(lambda: any(ln.startswith("1. ") for ln in lines), 60), lines
            proc.send_signal(signal.SIGINT)
            assert proc.wait(30) == 130
        assert until(lambda: _clients(warm) == 0, 90), "the call never ended"
        assert status(fleet, "host1", "user1", "ticker") == "stopped", "step 3 was run"
    finally:
        for h, u, w in CHAIN:
            ctl(fleet, h, u, "start", w)
