"""The live session on the real fleet: events pushed from real circusd and systemd.

Changes are staged directly on a host (nsenter: circusctl, kill, systemctl),
never through the session; the session must learn of them by itself.  The
truth is read on the host.  Each test puts the host back as it found it.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.e2e.test_barnum_e2e import HARD_LIMIT, barnum_cmd, circusctl, run_barnum
from tests.waiting import until as _until

pytestmark = pytest.mark.fleet

HOST, USER = "host1", "user1"
UNIT = f"circus_{USER}_{HOST}.service"
TIMEOUT = 4


def run_command(fleet, name: str, *args: str) -> subprocess.CompletedProcess:
    """``barnum NAME --config ... ARGS``: a subcommand is the first word."""
    cmd = [*barnum_cmd(), name, "--config", str(fleet.users_file), "--ssh-config",
           str(fleet.ssh_config), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=HARD_LIMIT,
                          stdin=subprocess.DEVNULL)


def _endpoint(fleet, user=USER):
    return f"tcp://127.0.0.1:{fleet.port(user)}"


def _watchers(session, host=HOST, unit=UNIT):
    rep = session.host_states()[host].report
    inst = next((i for i in rep.instances if i.unit == unit), None) if rep else None
    return dict(inst.watchers or {}) if inst else None


def _wait_event(sub, pred, within=10.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        ev = sub.get(0.2)
        if ev is not None and pred(ev):
            return ev
    return None


def test_open_snapshot_is_the_one_shot_truth(fleet, session):
    states = session.host_states()
    assert {h: s.state for h, s in states.items()} == {h: "up" for h in fleet.hosts}, states
    one_shot = json.loads(run_barnum(fleet, "--json").stdout)
    for h in one_shot["hosts"]:
        truth = {i["unit"]: (i["state"], i["watchers"]) for i in h["bailey"]["instances"]}
        mine = {i.unit: (i.state, i.watchers) for i in states[h["host"]].report.instances}
        assert mine == truth, h["host"]


def test_watcher_stopped_on_the_host_is_pushed(fleet, session):
    sub = session.subscribe()
    try:
        t0 = time.monotonic()
        p = circusctl(fleet, HOST, _endpoint(fleet), "stop", "ticker")
        assert p.returncode == 0, p.stderr
        ev = _wait_event(sub, lambda e: e.kind == "circus" and e.data.get("action") == "stop"
                         and e.data.get("watcher") == "ticker" and e.host == HOST)
        assert ev is not None and time.monotonic() - t0 < 5
        assert _watchers(session)["ticker"] == "stopped"
    finally:
        circusctl(fleet, HOST, _endpoint(fleet), "start", "ticker")
        sub.close()
    assert _until(lambda: _watchers(session).get("ticker") == "active")


def test_killed_process_is_reaped_and_respawned(fleet, session):
    sub = session.subscribe()
    try:
        pids = circusctl(fleet, HOST, _endpoint(fleet), "list", "sleeper").stdout.strip()
        fleet.exec(HOST, ["kill", "-KILL", pids.split(",")[0]])
        reap = _wait_event(sub, lambda e: e.kind == "circus" and e.data.get("action") == "reap"
                           and e.data.get("watcher") == "sleeper")
        assert reap is not None and reap.data["data"].get("exit_code") == -9
        spawn = _wait_event(sub, lambda e: e.kind == "circus"
                            and e.data.get("action") == "spawn")
        assert spawn is not None
    finally:
        sub.close()


def test_unit_stopped_and_circusd_restarted(fleet, session):
    sub = session.subscribe()
    try:
        fleet.exec(HOST, ["systemctl", "stop", UNIT])
        ev = _wait_event(sub, lambda e: e.kind == "unit" and e.data.get("unit") == UNIT
                         and e.data.get("active_state") == "inactive")
        assert ev is not None
        rep = session.host_states()[HOST].report
        inst = next(i for i in rep.instances if i.unit == UNIT)
        assert (inst.active_state, inst.state) == ("inactive", "inactive")
    finally:
        fleet.exec(HOST, ["systemctl", "start", UNIT])
    assert _until(lambda: _watchers(session) == {"sleeper": "active", "ticker": "active"}, 20)
    # circusd restarted: the feed is resubscribed, and events flow again.
    fleet.exec(HOST, ["systemctl", "restart", UNIT])
    assert _until(lambda: _watchers(session) == {"sleeper": "active", "ticker": "active"}, 20)
    time.sleep(1.5)  # the feed reconnects to the new circusd
    try:
        circusctl(fleet, HOST, _endpoint(fleet), "stop", "sleeper")
        assert _wait_event(sub, lambda e: e.kind == "circus" and e.data.get("action") == "stop"
                           and e.data.get("watcher") == "sleeper", 10) is not None
    finally:
        circusctl(fleet, HOST, _endpoint(fleet), "start", "sleeper")
        sub.close()


def test_requests_through_the_session(fleet, session):
    r = session.circusctl(["stop", "ticker"], [f"{USER}@{HOST}"])
    try:
        assert r.exit_code == 0
        truth = circusctl(fleet, HOST, _endpoint(fleet), "status").stdout
        assert "ticker: stopped" in truth
    finally:
        session.circusctl(["start", "ticker"], [f"{USER}@{HOST}"])
    stats = session.stats([HOST])[HOST]
    names = {w["name"] for i in stats["instances"] for w in i["watchers"]}
    assert names == {"sleeper", "ticker"}
    refreshed = session.refresh()
    assert {h.host for h in refreshed.hosts if h.error is None} == set(fleet.hosts)


def test_logs_equal_the_journal_on_the_host(fleet, session):
    mine = [ln["message"] for ln in session.logs(UNIT, HOST, 15)]
    raw = fleet.exec(HOST, ["journalctl", "--no-pager", "-o", "cat", "-u", UNIT, "-n", "15"])
    assert mine == raw.stdout.splitlines()
    p = run_command(fleet, "logs", "-n", "5", f"{USER}@{HOST}")
    assert p.returncode == 0, p.stderr
    tail = raw.stdout.splitlines()[-5:]
    assert [ln.split(": ", 1)[1] for ln in p.stdout.splitlines()] == tail
    assert all(ln.startswith(f"{HOST} {USER}: ") for ln in p.stdout.splitlines())


def test_host_down_then_back(fleet, session):
    victim = "host2"
    with fleet.host_down(victim):
        assert _until(lambda: session.host_states()[victim].state == "down",
                      2 * TIMEOUT + 8), session.host_states()[victim]
        assert session.host_states()["host1"].state == "up"
        assert session.host_states()[victim].error
    assert _until(lambda: session.host_states()[victim].state == "up", 30)


def test_bailey_killed_reconnects_and_close_leaves_nothing(fleet, session):
    fleet.exec(HOST, ["pkill", "-KILL", "-f", "bailey --serve"])
    assert _until(lambda: session.host_states()[HOST].state != "up", 10)
    assert _until(lambda: session.host_states()[HOST].state == "up", 20)
    session.close()
    for h in fleet.hosts:
        left = _until(lambda h=h: fleet.exec(h, ["pgrep", "-f", "bailey|journalctl -f"])
                      .stdout.strip() == "", 5)
        assert left, fleet.exec(h, ["pgrep", "-af", "bailey|journalctl"]).stdout


def test_sshd_stopped_shows_down_while_others_stay_live(fleet, session):
    """Every sshd of a host SIGSTOPped (the session's own too): a half-open
    connection, noticed by the session's pings, not by TCP."""
    victim = "host2"
    fleet.exec(victim, ["pkill", "-STOP", "-x", "sshd"])
    try:
        t0 = time.monotonic()
        assert _until(lambda: session.host_states()[victim].state == "down",
                      2 * TIMEOUT + 6), session.host_states()[victim]
        assert time.monotonic() - t0 <= 2 * TIMEOUT + 6
        assert session.host_states()["host1"].state == "up"
        assert session.refresh(["host1"]).exit_code == 0  # the others answer meanwhile
    finally:
        fleet.exec(victim, ["pkill", "-CONT", "-x", "sshd"])
    assert _until(lambda: session.host_states()[victim].state == "up", 30)


def test_event_flood_keeps_memory_bounded(fleet, session):
    """A watcher respawning in a loop (10 processes exiting at once, for 20 s):
    the queue drops the oldest and counts them; the session's memory stays flat."""
    import resource

    from barnum.live.session import Subscription

    endpoint = _endpoint(fleet)
    slow = Subscription(session, maxlen=100)  # a reader that never reads
    with session._subs_lock:
        session._subs.append(slow)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    p = fleet.exec(HOST, [str(fleet.venv / "bin" / "circusctl"), "--endpoint", endpoint,
                          "add", "--start", "flapper", "/bin/sleep 0.05"], user=USER)
    assert p.returncode == 0, p.stderr
    try:
        circusctl(fleet, HOST, endpoint, "incr", "flapper", "9")
        time.sleep(20)
        assert slow.dropped > 100, slow.dropped  # it was a flood, and it was bounded
        assert len(slow._q) <= 100
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
        assert grown_mb < 50, f"the session grew by {grown_mb:.0f} MB"
        assert session.host_states()[HOST].state == "up"
    finally:
        circusctl(fleet, HOST, endpoint, "rm", "flapper")
        slow.close()
