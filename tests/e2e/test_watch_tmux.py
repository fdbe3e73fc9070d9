"""``barnum watch`` in a real terminal (tmux), on the real fleet.

Keys go in with ``tmux send-keys``; the screen comes back with
``capture-pane``.  A watcher stopped on a host by nsenter must show on the
open view by itself, and ``q`` must leave cleanly.
"""

from __future__ import annotations

import shutil

import pytest

from bailey.watch import PROBE_EVERY
from tests.e2e.test_barnum_e2e import barnum_cmd, circusctl
from tests.e2e.tmux import tmux  # noqa: F401 (fixture)
from tests.waiting import until

pytestmark = [pytest.mark.fleet,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

HOST, USER = "host1", "user1"
HUNG_BOUND = 2 * PROBE_EVERY + 15  # the probe's period twice, its timeout, a redraw


def _ticker_stopped(screen: str) -> bool:
    return any("ticker" in ln and "stopped" in ln for ln in screen.splitlines())


def test_watch_shows_a_change_made_on_the_host_and_quits_on_q(fleet, tmux, tmp_path):  # noqa: F811
    endpoint = f"tcp://127.0.0.1:{fleet.port(USER)}"
    term, done = tmux("watch"), tmp_path / "exit"
    term.start_then_record_exit(
        [*barnum_cmd(), "watch", "--config", str(fleet.users_file), "--ssh-config",
         str(fleet.ssh_config), "--timeout", "15", HOST], done, width=140, height=40)
    term.wait(lambda s: f"circus_{USER}_{HOST}.service" in s and "ticker" in s
              and "sleeper" in s and not _ticker_stopped(s), what="the instance's watchers")
    try:
        circusctl(fleet, HOST, endpoint, "stop", "ticker")
        term.wait(_ticker_stopped, what="ticker stopped")
    finally:
        circusctl(fleet, HOST, endpoint, "start", "ticker")
    term.keys("q")
    assert term.exit_status(done) == 0
    # bailey sees EOF and exits: nothing left
    assert until(lambda: not fleet.exec(HOST, ["pgrep", "-f", "bailey --serve"]).stdout.strip(),
                 30), "bailey --serve left on the host"


def test_watch_names_a_hung_circusd_by_itself(fleet, tmux, tmp_path):  # noqa: F811
    """SIGSTOP one circusd on its host: the open view says "circusd not answering" on
    that unit's row alone, and not once it resumes: bailey's liveness probe finds both
    changes within about twice its period, well before its 60 s safety re-read."""
    from barnum.model.circusd import NOT_ANSWERING

    unit = f"circus_user2_{HOST}"  # the column may cut ".service" short
    term, done = tmux("watch-hung"), tmp_path / "exit"
    term.start_then_record_exit(
        [*barnum_cmd(), "watch", "--config", str(fleet.users_file), "--ssh-config",
         str(fleet.ssh_config), "--timeout", "5", HOST], done, width=140, height=40)
    term.wait(lambda s: unit in s and f"circus_{USER}_{HOST}.service" in s,
              what="the instances")
    with fleet.circusd_hang(HOST, "user2"):
        screen = term.wait(lambda s: NOT_ANSWERING in s, within=HUNG_BOUND,
                           what="circusd not answering")
        rows = [ln for ln in screen.splitlines() if NOT_ANSWERING in ln]
        assert len(rows) == 1 and unit in rows[0] and "active (running)" not in rows[0], screen
    term.wait(lambda s: NOT_ANSWERING not in s and unit in s, within=HUNG_BOUND,
              what="the row healthy again")
    term.keys("q")
    assert term.exit_status(done) == 0
