"""The progress line of a one-shot run: shown on a terminal (tmux), never in a pipe.

host2's sshd is SIGSTOPped, so the run waits for it until ``--timeout``:
on a terminal the line names it while it is pending and is gone once the
run ends; with stderr piped not a byte of it is written.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.e2e.test_barnum_e2e import barnum_cmd
from tests.e2e.tmux import tmux  # noqa: F401 (fixture)

pytestmark = [pytest.mark.fleet,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

# host1 must answer well within it, even on a loaded machine: the line shows only
# while host1 is done and host2 still pending
TIMEOUT = "10"


def _cmd(fleet) -> list[str]:
    return [*barnum_cmd(), "--config", str(fleet.users_file), "--ssh-config",
            str(fleet.ssh_config), "--timeout", TIMEOUT, "host1", "host2"]


def test_progress_line_names_the_pending_host_then_vanishes(fleet, tmux, tmp_path):  # noqa: F811
    term, done = tmux("progress"), tmp_path / "exit"
    with fleet.sshd_hang("host2"):
        term.start_then_record_exit(_cmd(fleet), done, width=120, height=30)
        term.wait(lambda s: "1/2 hosts done; waiting for host2" in s, what="the progress line")
        assert term.exit_status(done, 60) == 3  # host2 timed out
    term.wait(lambda s: "host2: timed out" in s and "circus_user1_host1.service" in s,
              what="the run's output")
    assert "hosts done" not in term.screen()  # the program has exited: this screen is final


def test_no_progress_line_when_piped(fleet):
    with fleet.sshd_hang("host2"):
        p = subprocess.run(_cmd(fleet), capture_output=True, timeout=120,
                           stdin=subprocess.DEVNULL)
    assert p.returncode == 3
    assert b"host2: timed out" in p.stderr
    assert b"hosts done" not in p.stderr and b"\x1b" not in p.stderr, p.stderr
