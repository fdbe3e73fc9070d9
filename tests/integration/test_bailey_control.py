"""``barnum -- -- stop w`` / ``start w`` on the real fleet, answered by bailey's native
client: the watchers change state (read on the host with circusctl, inside its
namespaces), and barnum prints byte for byte what the ``--no-native`` path (one
circusctl subprocess per instance) prints, cold and warm.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.waiting import until

pytestmark = pytest.mark.fleet

HARD_LIMIT = 120
# Where ticker runs and bailey reaches circusd (test_layout: host3's user2 is disabled,
# its user3 failing; host4's configs are broken or missing).
RUNNING = [("host1", "user1"), ("host1", "user2"), ("host2", "user1"), ("host2", "user2"),
           ("host3", "user1")]
ELAPSED = re.compile(r"(?m)^(\S.*?  )\d+\.\d\ds")  # a host's header: its name, its time


def barnum(fleet, *args: str, persist: str = "0", run_dir: str | None = None):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["BARNUM_PERSIST"] = persist
    if run_dir:
        env["XDG_RUNTIME_DIR"] = run_dir
    timeout = [] if args[:1] == ("session",) else ["--timeout", "20"]  # a loaded machine
    cmd = [sys.executable, "-m", "barnum", "--config", str(fleet.users_file),
           "--ssh-config", str(fleet.ssh_config), *timeout, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=HARD_LIMIT, env=env,
                          stdin=subprocess.DEVNULL)


def shown(p: subprocess.CompletedProcess) -> tuple[int, str, str]:
    """(exit, stdout, stderr) with each host's time masked: the one field that differs."""
    return p.returncode, ELAPSED.sub(r"\1T", p.stdout), p.stderr


def endpoint(fleet, host: str, user: str) -> str:
    cp = configparser.RawConfigParser()
    cp.read(fleet.homes / user / "circus" / host / "circus.ini")
    return re.sub(r"^tcp://(\*|0\.0\.0\.0):", "tcp://127.0.0.1:", cp.get("circus", "endpoint"))


def on_host(fleet, host: str, user: str, watcher: str) -> str:
    """``circusctl status WATCHER`` run inside the host as the circus user."""
    ctl = str(fleet.venv / "bin" / "circusctl")
    p = fleet.exec(host, [ctl, "--endpoint", endpoint(fleet, host, user), "status", watcher],
                   user=user)
    return p.stdout.strip() if p.returncode == 0 else f"exit {p.returncode}: {p.stderr}"


def all_are(fleet, watcher: str, state: str) -> None:
    def settled():
        got = {hu: on_host(fleet, *hu, watcher) for hu in RUNNING}
        return got if set(got.values()) == {state} else None
    assert until(settled, 40, 0.2), {hu: on_host(fleet, *hu, watcher) for hu in RUNNING}


def vias(fleet, *circus_args: str, bailey_args: tuple[str, ...] = ()) -> set[str]:
    """How each instance was asked (``via`` in bailey's report), by a --json run."""
    p = barnum(fleet, "--json", "--", *bailey_args, "--", *circus_args)
    doc = json.loads(p.stdout)
    return {i["via"] for h in doc["hosts"] if h["bailey"] for i in h["bailey"]["instances"]
            if i["via"]}


@pytest.fixture
def ticker_restored(fleet):
    yield
    barnum(fleet, "--", "--", "start", "ticker")
    all_are(fleet, "ticker", "active")


def test_stop_and_start_act_and_print_what_circusctl_prints(fleet, ticker_restored):
    for verb, state in (("stop", "stopped"), ("start", "active")):
        native = barnum(fleet, "--", "--", verb, "ticker")
        all_are(fleet, "ticker", state)
        sub = barnum(fleet, "--", "--no-native", "--", verb, "ticker")
        assert shown(native) == shown(sub)
        assert native.stdout.count("ok") >= len(RUNNING), native.stdout
        all_are(fleet, "ticker", state)
    assert vias(fleet, "stop", "ticker") == {"native"}
    assert vias(fleet, "stop", "ticker", bailey_args=("--no-native",)) == {"circusctl"}


@pytest.mark.parametrize("args", [["stop", "nosuch"], ["restart", "ticker", "--waiting"],
                                  ["reload", "nosuch"]], ids=" ".join)
def test_other_answers_are_circusctls(fleet, ticker_restored, args):
    native = barnum(fleet, "--", "--", *args)
    sub = barnum(fleet, "--", "--no-native", "--", *args)
    assert shown(native) == shown(sub)


def test_hung_circusd_times_out_as_circusctl_does(fleet):
    with fleet.circusd_hang("host1", "user1"):
        native = barnum(fleet, "host1", "--", "--", "stop", "ticker")
        sub = barnum(fleet, "host1", "--", "--no-native", "--", "stop", "ticker")
    try:
        assert shown(native) == shown(sub)
        assert native.returncode != 0 and "Timed out." in native.stdout + native.stderr
    finally:
        barnum(fleet, "host1", "--", "--", "start", "ticker")
        all_are(fleet, "ticker", "active")


def test_warm_stop_and_start_print_what_circusctl_prints(fleet, ticker_restored):
    """The warm session's bailey --serve answers natively too (the speed target)."""
    run_dir = tempfile.mkdtemp(prefix="bnc", dir="/tmp")
    try:
        first = barnum(fleet, persist="10m", run_dir=run_dir)  # cold; starts the session
        seen = []

        def up():
            p = barnum(fleet, "session", "status", "--json", persist="10m", run_dir=run_dir)
            seen[:] = [p.returncode, p.stdout[-500:], p.stderr[-500:]]
            st = json.loads(p.stdout) if p.returncode == 0 else None
            return st if st and all(v != "connecting" for v in st["hosts"].values()) else None
        assert until(up, 60, 0.2), ("no warm session came up", first.stderr[-800:], seen)
        for verb, state in (("stop", "stopped"), ("start", "active")):
            warm = barnum(fleet, "--", "--", verb, "ticker", persist="10m", run_dir=run_dir)
            all_are(fleet, "ticker", state)
            sub = barnum(fleet, "--", "--no-native", "--", verb, "ticker")
            assert shown(warm) == shown(sub)
        st = up()
        assert st and st["served"] >= 2
    finally:
        barnum(fleet, "session", "stop", persist="10m", run_dir=run_dir)
        shutil.rmtree(Path(run_dir), ignore_errors=True)
