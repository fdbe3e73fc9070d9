"""The progress line of a one-shot run: shown on a terminal (tmux), never in a pipe.

host2's sshd is SIGSTOPped, so the run waits for it until ``--timeout``:
on a terminal the line names it while it is pending and is gone once the
run ends; with stderr piped not a byte of it is written.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time

import pytest

from tests.e2e.test_barnum_e2e import barnum_cmd
from tests.e2e.test_watch_tmux import _screen_until, tmux  # noqa: F401 (fixture)

pytestmark = [pytest.mark.fleet,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

TIMEOUT = "4"


def _cmd(fleet) -> list[str]:
    return [*barnum_cmd(), "--config", str(fleet.users_file), "--ssh-config",
            str(fleet.ssh_config), "--timeout", TIMEOUT, "host1", "host2"]


def test_progress_line_names_the_pending_host_then_vanishes(fleet, tmux, tmp_path):  # noqa: F811
    done = tmp_path / "exit"
    with fleet.sshd_hang("host2"):
        tmux("new-session", "-d", "-s", "w", "-x", "120", "-y", "30",
             f"{shlex.join(_cmd(fleet))}; echo $? > {shlex.quote(str(done))}; sleep 60")
        during = _screen_until(tmux, lambda s: "1/2 hosts done; waiting for host2" in s, 15)
        assert "1/2 hosts done; waiting for host2" in during, during
        deadline = time.monotonic() + 30
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    after = tmux("capture-pane", "-p", "-t", "w")
    assert done.exists(), after
    assert done.read_text().strip() == "3"  # host2 timed out
    assert "hosts done" not in after, after
    assert "host2: timed out" in after and "circus_user1_host1.service" in after, after


def test_no_progress_line_when_piped(fleet):
    with fleet.sshd_hang("host2"):
        p = subprocess.run(_cmd(fleet), capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
    assert p.returncode == 3
    assert b"host2: timed out" in p.stderr
    assert b"hosts done" not in p.stderr and b"\x1b" not in p.stderr, p.stderr
