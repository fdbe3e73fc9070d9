"""An idle live session on the real fleet: asleep, yet it hears everything in time.

The session's readers block until a line comes or a ping is due, paramiko's
readers sleep 30 s, and bailey re-reads systemd only every minute when all
is still (barnum.live.liveness, bailey.watch). These tests let the session
go quiet first, then check that pushes, a dead host, requests and close all
still happen, each waited for up to a bound well under those sleeps.
"""

from __future__ import annotations

import threading
import time

import paramiko
import pytest

from bailey.watch import SAFETY_POLL
from barnum.live.liveness import DEFAULT, Polling
from barnum.live.session import FleetSession
from barnum.model.config import load_config
from barnum.transport.options import Options
from tests.e2e.test_barnum_e2e import circusctl
from tests.waiting import until

pytestmark = pytest.mark.fleet

HOST, USER = "host1", "user1"
UNIT = f"circus_{USER}_{HOST}.service"
TIMEOUT = 4
QUIET = TIMEOUT + 2  # long enough for every reader to have gone back to sleep
PUSHED = 15  # well under bailey's safety poll: a change seen by then was pushed
SLACK = 4  # scheduling on a loaded 2-core machine


def _open(fleet, polling: Polling = DEFAULT) -> FleetSession:
    cfg = load_config(fleet.users_file)
    opts = Options.from_config(cfg, ssh_config=str(fleet.ssh_config), timeout=TIMEOUT)
    s = FleetSession(cfg, opts, polling=polling).open()
    assert until(lambda: all(st.state == "up" for st in s.host_states().values()), 30), \
        s.host_states()
    return s


@pytest.fixture
def session(fleet):
    s = _open(fleet)
    yield s
    s.close()


def _endpoint(fleet, user=USER):
    return f"tcp://127.0.0.1:{fleet.port(user)}"


def _instance(session, host=HOST, unit=UNIT):
    rep = session.host_states()[host].report
    return next((i for i in rep.instances if i.unit == unit), None) if rep else None


def _watchers(session):
    inst = _instance(session)
    return dict(inst.watchers or {}) if inst else None


def _start_ticker(fleet) -> None:
    """circusctl start, asked again until circusd took it: on a loaded machine circusctl
    can time out (or find circusd busy) and the watcher would stay stopped."""
    def started() -> bool:
        circusctl(fleet, HOST, _endpoint(fleet), "start", "ticker")
        out = circusctl(fleet, HOST, _endpoint(fleet), "status", "ticker")
        return out.stdout.strip() == "active"
    assert until(started, 60), "circusd never started ticker again"


def test_the_hosts_poll_slowly_when_still():
    assert PUSHED < SAFETY_POLL  # else the tests below could not tell a push from a poll


def test_an_idle_session_hears_changes_pushed(fleet, session):
    time.sleep(QUIET)
    try:
        assert circusctl(fleet, HOST, _endpoint(fleet), "stop", "ticker").returncode == 0
        assert until(lambda: (_watchers(session) or {}).get("ticker") == "stopped", PUSHED)
    finally:
        _start_ticker(fleet)
    assert until(lambda: (_watchers(session) or {}).get("ticker") == "active", PUSHED)
    time.sleep(QUIET)
    try:
        fleet.exec(HOST, ["systemctl", "stop", UNIT])  # inotify: the invocation link goes
        assert until(lambda: getattr(_instance(session), "active_state", None) == "inactive",
                     PUSHED), _instance(session)
    finally:
        fleet.exec(HOST, ["systemctl", "start", UNIT])
    # activating, then active: the end of the transition touches no watched file, so
    # only the settle poll (not the minute's safety poll) can see it this soon
    assert until(lambda: getattr(_instance(session), "active_state", None) == "active"
                 and _watchers(session) == {"sleeper": "active", "ticker": "active"},
                 PUSHED), _instance(session)


def test_an_idle_host_that_dies_reads_down_within_the_bound(fleet, session):
    victim = "host2"
    time.sleep(QUIET)
    assert session.down_within == 3 * TIMEOUT  # the documented bound, at this timeout
    with fleet.host_down(victim):  # silent: no FIN, no RST; only the pings can tell
        assert until(lambda: session.host_states()[victim].state == "down",
                     session.down_within + SLACK), session.host_states()[victim]
        assert "no answer" in (session.host_states()[victim].error or "")
        assert session.host_states()[HOST].state == "up"  # the others stay live
        assert session.snapshot([victim]).hosts[0].error  # never its old state as current
    assert until(lambda: session.host_states()[victim].state == "up", 40)


def test_requests_wake_a_reader_that_would_sleep_an_hour(fleet):
    """Pings and verdicts an hour apart: only the answer's arrival can wake the
    reader, and each request must be answered within its timeout."""
    s = _open(fleet, Polling(ping_idle=3600.0, max_wait=3600.0))
    try:
        time.sleep(QUIET)
        r = s.circusctl(["stop", "ticker"], [f"{USER}@{HOST}"])
        assert r.exit_code == 0, [h.error for h in r.hosts]
        assert "ticker: stopped" in circusctl(fleet, HOST, _endpoint(fleet), "status").stdout
        r = s.circusctl(["start", "ticker"], [f"{USER}@{HOST}"])
        assert r.exit_code == 0, [h.error for h in r.hosts]
        refreshed = s.refresh()
        assert {h.host for h in refreshed.hosts if h.error is None} == set(fleet.hosts)
        assert s.stats([HOST])[HOST]["instances"]
    finally:
        s.close()


def test_close_ends_every_connection_at_once(fleet):
    """paramiko's readers sleep 30 s: close wakes them, so the TCP connections,
    sshd's sessions and bailey all end now, not half a minute later."""
    before = {t for t in threading.enumerate() if isinstance(t, paramiko.Transport)}
    s = _open(fleet)
    mine = {t for t in threading.enumerate() if isinstance(t, paramiko.Transport)} - before
    assert len(mine) == len(fleet.hosts)
    time.sleep(QUIET)
    s.close()
    assert until(lambda: not any(t.is_alive() for t in mine), 5)
    for h in fleet.hosts:
        assert until(lambda h=h: fleet.exec(h, ["pgrep", "-f", "bailey --serve|sshd: "
                                                "barnumop"]).stdout.strip() == "", 5), \
            fleet.exec(h, ["pgrep", "-af", "bailey|sshd"]).stdout
