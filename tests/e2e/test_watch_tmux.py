"""``barnum watch`` in a real terminal (tmux), on the real fleet.

Keys go in with ``tmux send-keys``; the screen comes back with
``capture-pane``.  A watcher stopped on a host by nsenter must show on the
open view by itself, and ``q`` must leave cleanly.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time

import pytest

from tests.e2e.test_barnum_e2e import barnum_cmd, circusctl

pytestmark = [pytest.mark.fleet,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

HOST, USER = "host1", "user1"


@pytest.fixture
def tmux(tmp_path):
    sock = f"barnum-test-{os.getpid()}"

    def run(*args: str) -> str:
        return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True,
                              timeout=10).stdout

    yield run
    subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)


def _screen_until(tmux, pred, within=20.0) -> str:
    deadline = time.monotonic() + within
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux("capture-pane", "-p", "-t", "w")
        if pred(screen):
            return screen
        time.sleep(0.2)
    return screen


def test_watch_shows_a_change_made_on_the_host_and_quits_on_q(fleet, tmux, tmp_path):
    endpoint = f"tcp://127.0.0.1:{fleet.port(USER)}"
    cmd = shlex.join([*barnum_cmd(), "watch", "--config", str(fleet.users_file),
                      "--ssh-config", str(fleet.ssh_config), "--timeout", "5", HOST])
    done = tmp_path / "exit"
    tmux("new-session", "-d", "-s", "w", "-x", "140", "-y", "40",
         f"{cmd}; echo $? > {shlex.quote(str(done))}; sleep 60")
    screen = _screen_until(tmux, lambda s: "ticker" in s and "sleeper" in s)
    assert f"circus_{USER}_{HOST}.service" in screen, screen
    try:
        circusctl(fleet, HOST, endpoint, "stop", "ticker")
        screen = _screen_until(tmux, lambda s: any("ticker" in ln and "stopped" in ln
                                                   for ln in s.splitlines()), 10)
        assert any("ticker" in ln and "stopped" in ln for ln in screen.splitlines()), screen
    finally:
        circusctl(fleet, HOST, endpoint, "start", "ticker")
    tmux("send-keys", "-t", "w", "q")
    deadline = time.monotonic() + 15
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert done.exists(), tmux("capture-pane", "-p", "-t", "w")
    assert done.read_text().strip() == "0"
    deadline = time.monotonic() + 5  # bailey sees EOF and exits: nothing left
    while fleet.exec(HOST, ["pgrep", "-f", "bailey --serve"]).stdout.strip():
        assert time.monotonic() < deadline, "bailey --serve left on the host"
        time.sleep(0.2)
