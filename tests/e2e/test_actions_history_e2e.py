"""One-shot actions land in the history with who did them and the result: ``barnum
TARGET -- -- stop W``, ``barnum start W TARGET`` and the shell's ``stop``, run on the
real fleet, each checked on the host (circusctl through nsenter) and then read back
with ``barnum history --kind action --json``."""

from __future__ import annotations

import json
import os
import pwd
import time

import pytest

from tests.e2e.subcommand import run_sub
from tests.e2e.test_barnum_e2e import circusctl, run_barnum
from tests.waiting import until

pytestmark = pytest.mark.fleet

HOST, USER, W = "host1", "user1", "ticker"


def _status(fleet) -> str:
    out = circusctl(fleet, HOST, f"tcp://127.0.0.1:{fleet.port(USER)}", "status").stdout
    return dict(ln.split(": ", 1) for ln in out.strip().splitlines() if ": " in ln)[W]


def test_one_shot_and_shell_actions_are_recorded_with_who_and_result(fleet, tmp_path,
                                                                     monkeypatch, request):
    from tests.e2e.test_shell_script import shell

    # a history of this test's own: barnum's subprocesses inherit it (the shell's too)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    request.addfinalizer(lambda: circusctl(
        fleet, HOST, f"tcp://127.0.0.1:{fleet.port(USER)}", "start", W))  # as it was
    t0 = time.time()
    p = run_barnum(fleet, f"{USER}@{HOST}", "--", "--", "stop", W)
    assert p.returncode == 0, p.stdout + p.stderr
    assert until(lambda: _status(fleet) == "stopped", 20)
    p = run_sub(fleet, fleet.users_file, "start", W, f"{USER}@{HOST}")
    assert p.returncode == 0, p.stdout + p.stderr
    assert until(lambda: _status(fleet) == "active", 20)
    r = shell(fleet, "-c", f"stop {W} {USER}@{HOST}; start {W} {USER}@{HOST}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert until(lambda: _status(fleet) == "active", 20)
    h = run_sub(fleet, fleet.users_file, "history", HOST, "--kind", "action", "--since",
                f"{time.time() - t0 + 5:.0f}s", "--json")
    assert h.returncode == 0, h.stderr
    me = pwd.getpwuid(os.getuid()).pw_name
    rows = [(r["action"], r["user"], r["watcher"], r["detail"]["who"], r["detail"]["via"],
             r["detail"]["result"]) for r in json.loads(h.stdout)["rows"]]
    assert rows == [
        ("stop", USER, W, me, "barnum", "started"), ("stop", USER, W, me, "barnum", "ok"),
        ("start", USER, W, me, "barnum start", "started"),
        ("start", USER, W, me, "barnum start", "ok"),
        ("stop", USER, W, me, "barnum shell", "started"),
        ("stop", USER, W, me, "barnum shell", "ok"),
        ("start", USER, W, me, "barnum shell", "started"),
        ("start", USER, W, me, "barnum shell", "ok")], rows
