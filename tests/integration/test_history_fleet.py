"""History on the real fleet: what the recorder stores equals what happened on the hosts
(checked with circusctl and journalctl there), it survives a restart of ``barnum web``'s
session, and the time a host was out of reach is backfilled from its journal, marked.

Changes are staged on the hosts directly (nsenter), never through the session.
"""

from __future__ import annotations

import json
import time

import pytest

from barnum.history.recorder import Recorder
from barnum.history.store import open_store
from barnum.live.session import FleetSession
from barnum.model.config import HistorySettings, load_config
from barnum.transport.options import Options
from tests.e2e.test_barnum_e2e import circusctl
from tests.waiting import until

pytestmark = pytest.mark.fleet

HOST, USER = "host1", "user1"
UNIT = f"circus_{USER}_{HOST}.service"
TIMEOUT = 4


def _endpoint(fleet, user=USER):
    return f"tcp://127.0.0.1:{fleet.port(user)}"


def _open(fleet, path):
    cfg = load_config(fleet.users_file)
    opts = Options.from_config(cfg, ssh_config=str(fleet.ssh_config), timeout=TIMEOUT)
    session = FleetSession(cfg, opts).open()
    store = open_store(HistorySettings(path=str(path)), print)
    assert store is not None
    return session, store


def _rows(store, **kw):
    store.flush()
    return store.query(**kw)


def _journal(fleet, host, unit, since):
    """The unit's journal on the host since ``since``: [(time, message)]."""
    out = fleet.exec(host, ["journalctl", "--no-pager", "-o", "json", "-u", unit,
                            "--since", f"@{int(since)}"]).stdout
    recs = [json.loads(ln) for ln in out.splitlines() if ln.strip()]
    return [(int(r["__REALTIME_TIMESTAMP"]) / 1e6, r.get("MESSAGE")) for r in recs]


def _near(t, stamps, within=2.0):
    return any(abs(t - s) <= within for s in stamps)


@pytest.fixture
def recorded(fleet, tmp_path):
    session, store = _open(fleet, tmp_path / "history.db")
    rec = Recorder(session, store).start()
    yield session, store, rec
    rec.close()
    store.close()
    session.close()


def test_events_recorded_equal_what_happened_on_the_host(fleet, recorded):
    _session, store, _rec = recorded
    t0 = time.time() - 1
    ep = _endpoint(fleet)
    assert circusctl(fleet, HOST, ep, "stop", "ticker").returncode == 0
    assert circusctl(fleet, HOST, ep, "start", "ticker").returncode == 0
    victim = int(circusctl(fleet, HOST, ep, "list", "sleeper").stdout.strip().split(",")[0])
    fleet.exec(HOST, ["kill", "-KILL", str(victim)])

    def respawned():
        pids = circusctl(fleet, HOST, ep, "list", "sleeper").stdout.strip()
        return [int(p) for p in pids.split(",") if p.strip().isdigit() and int(p) != victim]
    new = until(respawned, 15)
    assert new
    fleet.exec(HOST, ["systemctl", "stop", UNIT])
    stopped_at = time.time()
    assert until(lambda: any(r.action.startswith("inactive") for r in
                             _rows(store, kinds=["unit"], hosts=[HOST])), 20)
    fleet.exec(HOST, ["systemctl", "start", UNIT])
    assert until(lambda: any(r.action == "active/running" and r.t > stopped_at
                             for r in _rows(store, kinds=["unit"], hosts=[HOST])), 30)

    rows = _rows(store, since=t0, hosts=[HOST])
    journal = _journal(fleet, HOST, UNIT, t0)
    said = {m: [t for t, msg in journal if msg and msg.endswith(m)]
            for m in ("[INFO] ticker stopped", "[INFO] ticker started")}
    # The watcher stop and start: a row each, at the host's time of the journal's line.
    stops = [r for r in rows if r.kind == "circus" and r.watcher == "ticker"
             and r.action == "stop"]
    starts = [r for r in rows if r.kind == "circus" and r.watcher == "ticker"
              and r.action == "start"]
    assert stops and all(r.ht is not None and r.source == "live" for r in stops)
    assert _near(stops[0].t, said["[INFO] ticker stopped"])
    assert starts and _near(starts[0].t, said["[INFO] ticker started"])
    # kill -9: the reap of exactly that pid, by signal 9, then a spawn of the new one.
    reaps = [r for r in rows if r.kind == "circus" and r.action == "reap"
             and r.detail.get("process_pid", r.detail.get("pid")) == victim]
    assert len(reaps) == 1 and reaps[0].detail.get("exit_code") == -9  # once, not repeated
    assert reaps[0].watcher == "sleeper" and reaps[0].user == USER
    spawns = [r.detail.get("process_pid", r.detail.get("pid")) for r in rows
              if r.kind == "circus" and r.action == "spawn" and r.t >= reaps[0].t]
    assert set(new) & set(spawns)
    # The unit stop: the unit went inactive when systemd says it stopped it.
    stopped = [t for t, msg in journal if msg and msg.startswith("Stopped circus_")]
    inactive = [r for r in rows if r.kind == "unit" and r.unit == UNIT
                and r.action.startswith("inactive")]
    assert stopped and inactive and _near(inactive[0].t, stopped, 5.0)
    assert all(r.rt >= r.t - 1 for r in rows if r.ht is not None)


def test_history_survives_a_restart_and_fills_the_time_between(fleet, tmp_path):
    from barnum.web.recording import attach, seed
    from barnum.web.server import assemble

    path = tmp_path / "history.db"
    ep = _endpoint(fleet)
    session, store = _open(fleet, path)
    web = assemble(session, tmp_path / "state", journal=False)
    rec = attach(web, store)
    try:
        victim = int(circusctl(fleet, HOST, ep, "list", "sleeper").stdout.strip()
                     .split(",")[0])
        fleet.exec(HOST, ["kill", "-KILL", str(victim)])
        key = (HOST, USER, "sleeper")
        assert until(lambda: any(m.pid == victim for m in web.hub.history.moments(key)), 15)
        web.audit.record("operator:test", "stop", [{"host": HOST, "user": USER,
                                                    "watcher": "ticker", "ok": True}], "ok")
    finally:
        rec.close()
        store.close()
        web.hub.close()
        session.close()
    closed = time.time()
    # While no barnum is connected, something happens on the host.
    assert circusctl(fleet, HOST, ep, "stop", "ticker").returncode == 0
    assert circusctl(fleet, HOST, ep, "start", "ticker").returncode == 0

    session, store = _open(fleet, path)
    web = assemble(session, tmp_path / "state", journal=False)
    rec = attach(web, store)
    try:
        # The page's timeline comes back from the store, with the reap from before.
        moments = web.hub.history.moments(key)
        assert any(m.pid == victim and m.action == "reap" and m.signal == 9 for m in moments)
        acts = _rows(store, kinds=["action"])
        assert [(a.detail["who"], a.action, a.watcher, a.detail["result"]) for a in acts] == \
            [("operator:test", "stop", "ticker", "ok")]
        # The time between: the journal's lines, marked backfilled, and a gap row.
        gap = until(lambda: [r for r in _rows(store, kinds=["gap"], hosts=[HOST])
                             if r.action == "backfilled"], 20)
        assert gap and gap[0].t <= closed and gap[0].until >= closed
        filled = _rows(store, kinds=["journal"], hosts=[HOST])
        assert all(r.source == "backfill" for r in filled)
        mine = [(r.watcher, r.action) for r in filled if gap[0].t < r.t <= gap[0].until]
        assert ("ticker", "stop") in mine and ("ticker", "start") in mine
        truth = _journal(fleet, HOST, UNIT, closed)
        assert _near(next(r for r in filled if r.watcher == "ticker" and r.action == "stop"
                      and r.t > closed).t,
                     [t for t, m in truth if m and m.endswith("ticker stopped")], 0.01)
        assert seed(web.hub.history.__class__(), store) >= 1
    finally:
        rec.close()
        store.close()
        web.hub.close()
        session.close()


def test_a_host_out_of_reach_is_backfilled_and_marked(fleet, recorded):
    _session, store, _rec = recorded
    victim = "host2"
    unit = f"circus_{USER}_{victim}.service"
    ep = _endpoint(fleet)
    with fleet.host_down(victim):
        assert until(lambda: any(r.action == "down" for r in
                                 _rows(store, kinds=["host"], hosts=[victim])),
                     2 * TIMEOUT + 10)
        down = next(r for r in _rows(store, kinds=["host"], hosts=[victim])
                    if r.action == "down")
        assert down.detail.get("reason")
        cut = time.time()
        assert circusctl(fleet, victim, ep, "stop", "ticker").returncode == 0
        assert circusctl(fleet, victim, ep, "start", "ticker").returncode == 0
        assert not [r for r in _rows(store, hosts=[victim], since=cut)
                    if r.kind == "circus"]  # nothing live while out of reach
    assert until(lambda: [r for r in _rows(store, kinds=["gap"], hosts=[victim])
                          if r.action == "backfilled"], 40)
    gap = next(r for r in _rows(store, kinds=["gap"], hosts=[victim])
               if r.action == "backfilled")
    assert gap.t < cut < gap.until and gap.detail["lines"] >= 2
    filled = [r for r in _rows(store, kinds=["journal"], hosts=[victim])
              if r.unit == unit]
    assert {("ticker", "stop"), ("ticker", "start")} <= {(r.watcher, r.action) for r in filled}
    assert all(r.source == "backfill" and gap.t < r.t <= gap.until for r in filled)
    truth = [t for t, m in _journal(fleet, victim, unit, cut) if m and "ticker" in m]
    assert sorted(r.t for r in filled if r.watcher == "ticker") == pytest.approx(sorted(truth))
    assert any(r.action == "up" for r in _rows(store, kinds=["host"], hosts=[victim])
               if r.t > cut)


def _web(fleet, tmp_path, wait_for: str):
    """``barnum web --port 0`` on the fleet with its state under tmp_path: its stdout and
    stderr once stdout says ``wait_for`` (then it is stopped with SIGINT, as Ctrl-C)."""
    import os
    import signal
    import subprocess
    import threading

    from tests.e2e.test_barnum_e2e import barnum_cmd

    pytest.importorskip("uvicorn")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "xdg")}
    cmd = [*barnum_cmd(), "web", "--config", str(fleet.users_file), "--ssh-config",
           str(fleet.ssh_config), "--port", "0", "--state-dir", str(tmp_path / "state"),
           "--no-journal"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, env=env)
    out: list[str] = []
    err: list[str] = []
    threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True).start()
    threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True).start()
    try:
        assert until(lambda: any(wait_for in ln for ln in out), 60), (out, err)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # never left behind to hold the fleet's hosts
            proc.kill()
            proc.wait()
            raise
    return out, err


def test_barnum_web_with_a_corrupt_history_warns_once_and_serves(fleet, tmp_path):
    db = tmp_path / "xdg" / "barnum" / "history.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"not a database, garbage\n" * 500)
    _out, err = _web(fleet, tmp_path, "barnum web: http")
    warns = [ln for ln in err if "history" in ln and "without history" in ln]
    assert len(warns) == 1 and str(db) in warns[0], err
    assert db.read_bytes().startswith(b"not a database")  # left for the operator


def test_barnum_web_records_and_barnum_history_reads(fleet, tmp_path):
    import os
    import subprocess

    from tests.e2e.test_barnum_e2e import barnum_cmd

    _out, err = _web(fleet, tmp_path, "barnum web: http")
    assert not [ln for ln in err if "history" in ln], err
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "xdg")}
    p = subprocess.run([*barnum_cmd(), "history", "--config", str(fleet.users_file),
                        "--kind", "host", "--json"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    ups = {r["host"] for r in json.loads(p.stdout)["rows"] if r["action"] == "up"}
    assert ups == set(fleet.hosts)
