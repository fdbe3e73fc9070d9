"""A compromised host against the live session, on the real fleet (issue 18, sections 2, 6, 7).

The victim runs a fake ``bailey --serve`` (a script in its /usr/local/bin
named bailey-fake; the other host's bailey-fake is the real bailey).  It says
hello and subscribes like bailey, then answers with what the red team sent:
stats of the wrong shape, log lines whose time is a word, circus events from
the year 10^292 and NaN, a flood of unit events for unknown units, a status
of the wrong shape and an answer to a request never made.  Other modes
trickle a byte every 2 s and never say hello, or send JSON nested too deeply.
The healthy host must show through every front end, each exits with a host
error (3), and nothing says "internal error".
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time

import pytest

from tests.e2e.test_barnum_e2e import HARD_LIMIT, barnum_cmd, healthy_hosts
from tests.e2e.test_hostile_e2e import place_fake
from tests.waiting import until

pytestmark = pytest.mark.fleet

FAKE = "bailey-fake"
TIMEOUT = 4

SERVE = r'''#!/usr/bin/python3
import json, sys, time
MODE, HOST = %(mode)r, %(host)r
UNIT = "circus_user1_%%s.service" %% HOST
seq = 0

def emit(obj):
    global seq
    seq += 1
    obj.update(seq=seq, epoch="f" * 16, t=float("nan"))
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()

if MODE == "trickle":
    while True:
        sys.stdout.write(" ")
        sys.stdout.flush()
        time.sleep(2)
if MODE == "flood":  # after the hello and the snapshot: 512 KiB log lines, 16 MiB/s
    inst = {"unit": UNIT, "user": "user1", "user_source": "User=", "unit_file_state": "enabled",
            "active_state": "active", "sub_state": "running", "state": "ok",
            "watchers": {"sleeper": "active"}}
    doc = {"schema": "bailey/1", "host": HOST, "bailey_version": "0.1.0",
           "circusctl_args": ["status"], "instances": [inst]}
    print(json.dumps({"event": "hello", "protocol": "bailey-serve/1", "seq": 1, "epoch": "f"}),
          flush=True)
    rid = json.loads(sys.stdin.readline())["id"]  # the subscription
    print(json.dumps({"id": rid, "ok": True, "result": {"snapshot": doc}, "seq": 2,
                      "epoch": "f"}), flush=True)
    big, n = "x" * (512 * 1024), 2
    while True:
        n += 1
        sys.stdout.write(json.dumps({"event": "log", "sub": 9, "unit": UNIT, "seq": n,
                                     "epoch": "f", "line": {"t": 1, "message": big}}) + "\n")
        sys.stdout.flush()
        time.sleep(1 / 32)
if MODE == "huge":  # a 5 MiB first line: over max_output (4 MiB), never a hello
    sys.stdout.write("x" * (5 << 20))
    sys.stdout.flush()
    time.sleep(300)
if MODE == "deep":
    sys.stdout.write("[" * 200000 + "\n")
    sys.stdout.flush()
    time.sleep(300)

def doc(bad=False):
    inst = {"unit": UNIT, "user": "user1", "user_source": "User=",
            "unit_file_state": "enabled", "active_state": "active", "sub_state": "running",
            "state": "ok", "watchers": {"sleeper": "active"}}
    if bad:
        inst["watchers"] = ["sleeper"]
    return {"schema": "bailey/1", "host": HOST, "bailey_version": "0.1.0",
            "circusctl_args": ["status"], "dry_run": False, "errors": [], "instances": [inst]}

emit({"event": "hello", "protocol": "bailey-serve/1", "bailey_version": "0.1.0",
      "host": HOST, "pid": 1})
for line in sys.stdin:
    req = json.loads(line)
    rid, op = req.get("id"), req.get("op")
    if op == "subscribe":
        emit({"id": rid, "ok": True, "result": {"snapshot": doc()}})
        for t in (1e300, float("nan"), -1e300, "soon"):
            emit({"event": "circus", "unit": UNIT, "user": "user1", "watcher": "sleeper",
                  "action": "reap", "data": {"time": t, "process_pid": 7, "exit_code": 1}})
        emit({"event": "stats", "result": {"instances": [{"watchers": "many"}]}})
        emit({"id": 4242, "ok": True, "result": []})
        for n in range(300):
            emit({"event": "unit", "unit": "circus_u%%d_%%s.service" %% (n, HOST),
                  "active_state": "active"})
        seq += 50
        emit({"event": "log", "sub": 1, "unit": UNIT, "line": {"t": "soon", "message": "x"}})
    elif op == "stats":
        emit({"id": rid, "ok": True, "result": {"instances": [{
            "unit": UNIT, "user": "user1", "watchers": [{
                "name": "sleeper", "status": "active", "numprocesses": "one",
                "processes": {"cpu": "lots"}}]}]}})
    elif op == "logs":
        emit({"id": rid, "ok": True, "result": {"unit": UNIT, "lines": [
            {"t": 1e300, "message": "far"}, {"t": "soon", "message": "word"}]}})
    elif op in ("status", "circusctl"):
        emit({"id": rid, "ok": True, "result": doc(bad=True)})
    elif op == "ping":
        emit({"id": rid, "ok": True, "result": {"t": float("inf")}})
        emit({"event": "circus", "unit": UNIT, "data": "not an object"})
    else:
        emit({"id": rid, "ok": False, "error": "no"})
'''


@pytest.fixture
def compromised(fleet):
    """``install(mode)``: bailey-fake is the fake on the victim, the real bailey elsewhere."""
    victim, other = healthy_hosts(fleet)[:2]
    made = []

    def install(mode: str) -> tuple[str, str]:
        made.extend(place_fake(fleet, victim, other, SERVE % {"mode": mode, "host": victim},
                               FAKE))
        return victim, other

    yield install
    fleet.exec(victim, ["pkill", "-f", FAKE])  # a fake that sleeps past its channel
    for p in made:
        p.unlink(missing_ok=True)


def barnum(fleet, name: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [*barnum_cmd(), name, "--config", str(fleet.users_file), "--ssh-config",
           str(fleet.ssh_config), "--bailey", FAKE, "--timeout", str(TIMEOUT), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=HARD_LIMIT,
                          stdin=subprocess.DEVNULL)


def no_crash(p: subprocess.CompletedProcess) -> None:
    text = p.stdout + p.stderr
    assert "internal error" not in text and "Traceback" not in text, text[-2000:]


def test_cli_stats_logs_and_shell_show_the_other_host(fleet, compromised):
    victim, other = compromised("hostile")
    user_unit = f"circus_user1_{other}.service"

    p = barnum(fleet, "stats", victim, other)
    no_crash(p)
    assert p.returncode == 3, p.stderr
    assert any(ln.startswith(f"{other} ") and "sleeper" in ln for ln in p.stdout.splitlines())
    assert f"{victim}: bailey: sent an invalid stats answer: stats.instances[0].watchers[0]" \
           ".processes is an object, not a list" in p.stderr

    p = barnum(fleet, "stats", "--json", victim, other)
    no_crash(p)
    assert p.returncode == 3
    doc = json.loads(p.stdout)
    assert {w["host"] for w in doc["watchers"]} == {other}
    assert doc["errors"][victim].startswith("bailey: sent an invalid stats answer")

    p = barnum(fleet, "logs", "-n", "3", victim, other)
    no_crash(p)
    assert p.returncode == 3
    assert any(ln.startswith(f"{other} user1: ") for ln in p.stdout.splitlines()), p.stdout
    assert (f"{victim}: circus_user1_{victim}.service: bailey: sent an invalid logs answer: "
            "logs.lines[1].t is a string, not a number") in p.stderr

    p = barnum(fleet, "shell", "-c", "status", victim, other)
    no_crash(p)
    assert p.returncode == 3, p.stdout + p.stderr
    assert user_unit in p.stdout
    assert "sent an invalid status answer: status: instances[0].watchers is a list" in p.stdout


def test_watch_json_goes_on_and_notes_the_dropped_messages(fleet, compromised):
    victim, other = compromised("hostile")
    cmd = [*barnum_cmd(), "watch", "--json", "--config", str(fleet.users_file),
           "--ssh-config", str(fleet.ssh_config), "--bailey", FAKE, "--timeout", str(TIMEOUT),
           victim, other]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    lines: list[dict] = []

    def read() -> None:
        for raw in proc.stdout:
            lines.append(json.loads(raw))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        first = until(lambda: [x for x in lines if x["kind"] == "resync"
                               and x["host"] == other and x["report"]], within=HARD_LIMIT)
        assert first, lines[:5]
        noted = until(lambda: [x for x in lines if x["kind"] == "rejected"
                               and x["host"] == victim], within=15)
        assert noted and noted[0]["count"] >= 1, [x["kind"] for x in lines][:40]
        assert proc.poll() is None  # still watching
        threads = int(subprocess.run(["ps", "-o", "nlwp=", "-p", str(proc.pid)],
                                     capture_output=True, text=True).stdout.strip())
        assert threads < 40, threads  # 300 unit events for unknown units: one refresh thread
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert "internal error" not in err and "Traceback" not in err, err


@pytest.mark.parametrize("mode, reason", [
    ("trickle", f"bailey --serve sent no hello within {TIMEOUT}s"),
    ("deep", "bailey sent JSON nested too deeply to read"),
    ("huge", "bailey --serve sent a line over 4194304 bytes before its hello"),
])
def test_a_host_that_never_says_a_usable_hello_is_down_with_a_reason(fleet, compromised,
                                                                    mode, reason):
    victim, other = compromised(mode)
    t0 = time.monotonic()
    p = barnum(fleet, "stats", victim, other)
    no_crash(p)
    assert p.returncode == 3
    assert f"{victim}: {reason}" in p.stderr, p.stderr
    assert any(ln.startswith(f"{other} ") for ln in p.stdout.splitlines()), p.stdout
    assert time.monotonic() - t0 < 3 * TIMEOUT + 10


def test_web_endpoints_show_the_other_host(fleet, compromised, tmp_path):
    import httpx

    from barnum.live.session import FleetSession
    from barnum.model.config import load_config
    from barnum.transport.options import Options
    from barnum.web.server import Background, Listen, assemble

    victim, other = compromised("hostile")
    cfg = load_config(fleet.users_file)
    opts = Options.from_config(cfg, ssh_config=str(fleet.ssh_config), timeout=TIMEOUT,
                               bailey=FAKE)
    session = FleetSession(cfg, opts, targets=[victim, other]).open()
    web = assemble(session, tmp_path, threshold=5, journal=False)
    bg = Background(web, Listen("127.0.0.1", 0)).start()
    base = f"http://127.0.0.1:{bg.port}"
    try:
        with httpx.Client(base_url=base, follow_redirects=False, timeout=HARD_LIMIT) as c:
            r = c.post("/login", data={"token": web.tokens.operator}, headers={"Origin": base})
            assert r.status_code == 303, r.text
            # the victim's reaps with absurd times reach the history (a timeline entry)
            assert until(lambda: session.host_states()[victim].rejected >= 3, within=15)
            for path in ("/", "/api/fleet", "/metrics",
                         f"/logs?host={victim}&unit=circus_user1_{victim}.service",
                         f"/logs?host={other}&unit=circus_user1_{other}.service"):
                r = c.get(path)
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
                assert "Internal Server Error" not in r.text
            page = c.get("/").text
            assert f'id="host-{other}"' in page and f"circus_user1_{other}.service" in page
            assert "bad messages from bailey dropped" in page
            fleet_doc = c.get("/api/fleet").json()
            hosts = {h["host"]: h for h in fleet_doc["hosts"]}
            assert hosts[other]["state"] == "up" and hosts[other]["instances"]
            assert any("dropped" in e for e in hosts[victim]["errors"])
            assert f'barnum_host_up{{host="{other}",state="up"}} 1' in c.get("/metrics").text
            victim_logs = c.get(f"/logs?host={victim}&unit=circus_user1_{victim}.service").text
            assert "sent an invalid logs answer" in victim_logs
    finally:
        bg.stop()
        web.hub.close()
        session.close()


def rss_mb(pid: int) -> float:
    return int(subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True,
                              text=True).stdout.strip() or 0) / 1024


def test_a_slow_reader_of_a_flooding_host_stays_bounded_and_is_told(fleet, compromised):
    """``barnum watch --json`` whose reader does not read: the queue drops, memory stays."""
    victim, other = compromised("flood")
    cmd = [*barnum_cmd(), "watch", "--json", "--config", str(fleet.users_file),
           "--ssh-config", str(fleet.ssh_config), "--bailey", FAKE, "--timeout", str(TIMEOUT),
           victim, other]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    try:
        peak = 0.0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 25:  # about 400 MiB sent meanwhile, none of it read
            assert proc.poll() is None, proc.stderr.read()[-500:]
            peak = max(peak, rss_mb(proc.pid))
            time.sleep(0.5)
        assert peak < 150, f"watch grew to {peak:.0f} MB"  # 82 MB measured; 252 unbounded
        seen = []
        deadline = time.monotonic() + HARD_LIMIT
        while time.monotonic() < deadline:
            line = json.loads(proc.stdout.readline())
            seen.append(line["kind"])
            if line["kind"] == "dropped":
                assert line["count"] > 100 and line["host"] == ""
                break
        else:
            raise AssertionError(seen[:50])
    finally:
        proc.kill()
        proc.communicate()


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_terminal_watch_shows_the_other_host_and_the_note(fleet, compromised, tmp_path):
    victim, other = compromised("hostile")
    sock = f"barnum-hostile-{os.getpid()}"

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True,
                              timeout=10).stdout

    cmd = shlex.join([*barnum_cmd(), "watch", "--config", str(fleet.users_file),
                      "--ssh-config", str(fleet.ssh_config), "--bailey", FAKE,
                      "--timeout", str(TIMEOUT), victim, other])
    done = tmp_path / "exit"
    try:
        tmux("new-session", "-d", "-s", "w", "-x", "200", "-y", "40",
             f"{cmd} 2>{shlex.quote(str(tmp_path / 'err'))}; "
             f"echo $? > {shlex.quote(str(done))}; sleep 60")
        screen = until(lambda: (lambda s: s if f"circus_user1_{other}.service" in s
                                and "bad messages from bailey dropped" in s else "")(
            tmux("capture-pane", "-p", "-t", "w")), within=HARD_LIMIT)
        assert screen, tmux("capture-pane", "-p", "-t", "w")
        time.sleep(3)  # the victim goes on sending; the view goes on
        assert not done.exists(), (tmp_path / "err").read_text()
        tmux("send-keys", "-t", "w", "q")
        assert until(done.exists, within=10)
        assert done.read_text().strip() == "0"
        err = (tmp_path / "err").read_text()
        assert "internal error" not in err and "Traceback" not in err, err
    finally:
        tmux("kill-server")
