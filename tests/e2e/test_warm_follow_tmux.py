"""``barnum logs -f`` served by the warm session, in a real terminal (tmux), on the fleet.

A line logged on a host (``logger --journald`` inside it, as an authorized daemon
writing about the unit: what ``journalctl -u`` shows) reaches the warm follow as it
reaches a cold one, in the same words; after Ctrl-C no ``journalctl -f`` is left on
any host (read there: ps through nsenter) while the session keeps running.
"""

from __future__ import annotations

import shutil
import uuid

import pytest

from tests.e2e.test_warm_attach_tmux import _argv, _clients, _env_words, _serves
from tests.e2e.test_warm_e2e import _start, warm  # noqa: F401 (fixture)
from tests.e2e.tmux import tmux  # noqa: F401 (fixture)
from tests.waiting import until

pytestmark = [pytest.mark.fleet,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

HOST, USER = "host1", "user1"
UNIT = f"circus_{USER}_{HOST}.service"


def _followers(fleet, host: str) -> list[str]:
    """``journalctl ... -f`` processes on the host (bailey's followers), read inside it."""
    ps = fleet.exec(host, ["ps", "-eo", "pid=,args="]).stdout.splitlines()
    return [ln for ln in ps if "journalctl" in ln and ln.rstrip().endswith(" -f")]


def _log(fleet, text: str) -> None:
    """One journal line about the unit, written on the host (root: an authorized daemon)."""
    import subprocess

    cmd = ["nsenter", "-t", str(fleet.pids[HOST]), "-a", "logger", "--journald"]
    fields = f"MESSAGE={text}\nOBJECT_SYSTEMD_UNIT={UNIT}\nSYSLOG_IDENTIFIER=barnum-test\n"
    p = subprocess.run(cmd, input=fields, text=True, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr


def _line_with(screen: str, mark: str) -> str | None:
    return next((ln.rstrip() for ln in screen.splitlines() if mark in ln), None)


def test_a_warm_follow_shows_a_new_line_as_cold_does_and_leaves_no_follower(
        warm, tmux, tmp_path):  # noqa: F811
    fleet = warm.fleet
    pid = _start(warm)["pid"]
    assert until(lambda: _serves(fleet, HOST) == 1, 30), "the session's bailey --serve"
    served = warm.served()
    hot, hot_done = tmux("follow-warm"), tmp_path / "warm-exit"
    cold, cold_done = tmux("follow-cold"), tmp_path / "cold-exit"
    hot.start_then_record_exit(_argv(warm, "logs", "-f", "-n", "1", HOST), hot_done,
                               env=_env_words(warm), width=160, height=40)
    cold.start_then_record_exit(_argv(warm, "logs", "-f", "-n", "1", HOST), cold_done,
                                env=_env_words(warm, persist="0"), width=160, height=40)
    # one follower per unit of the host for each: the warm one's through the session
    units = len(fleet.exec(HOST, ["systemctl", "list-units", "--no-legend", "--plain",
                                  "circus_*"]).stdout.splitlines())
    assert units >= 1
    assert until(lambda: len(_followers(fleet, HOST)) == 2 * units, 30), _followers(fleet, HOST)
    assert until(lambda: _clients(warm) == 1, 20), "logs -f is not the session's client"
    assert until(lambda: _serves(fleet, HOST) == 2, 20), "the warm follow opened its own"

    mark = f"barnum-follow-{uuid.uuid4().hex[:8]}"
    _log(fleet, mark)
    hot_screen = hot.wait(lambda s: mark in s, what="the line logged on the host (warm)")
    cold_screen = cold.wait(lambda s: mark in s, what="the line logged on the host (cold)")
    assert _line_with(hot_screen, mark) == _line_with(cold_screen, mark) \
        == f"{HOST} {USER}: {mark}", (hot_screen, cold_screen)

    hot.keys("C-c")
    cold.keys("C-c")
    assert hot.exit_status(hot_done) == cold.exit_status(cold_done) == 0
    assert "interrupted" not in hot.screen(), hot.screen()
    for h in fleet.hosts:  # no follower left anywhere (the cold one's went with its ssh)
        assert until(lambda h=h: not _followers(fleet, h), 20), (h, _followers(fleet, h))
    st = warm.status()
    assert st is not None and st["pid"] == pid, "the session did not outlive the follow"
    assert st["served"] == served + 1, st  # the follow was served warm
    assert until(lambda: _serves(fleet, HOST) == 1, 20), "the cold follow's bailey stayed"


def test_two_warm_follows_each_show_a_line_once_and_one_leaving_keeps_the_other(
        warm, tmux, tmp_path):  # noqa: F811
    """Two follows of the same unit in one session: each its own lines (never the
    other's twice); Ctrl-C in one cancels its followers only."""
    fleet = warm.fleet
    _start(warm)
    a, a_done = tmux("follow-a"), tmp_path / "a-exit"
    b, b_done = tmux("follow-b"), tmp_path / "b-exit"
    for t, done in ((a, a_done), (b, b_done)):
        t.start_then_record_exit(_argv(warm, "logs", "-f", "-n", "0", f"{USER}@{HOST}"), done,
                                 env=_env_words(warm), width=160, height=40)
    assert until(lambda: len(_followers(fleet, HOST)) == 2, 30), _followers(fleet, HOST)
    assert until(lambda: _clients(warm) == 2, 20)
    mark = f"barnum-twice-{uuid.uuid4().hex[:8]}"
    _log(fleet, mark)
    for t in (a, b):
        t.wait(lambda s: mark in s, what="the logged line")
    a.keys("C-c")
    assert a.exit_status(a_done) == 0
    assert until(lambda: len(_followers(fleet, HOST)) == 1, 20), _followers(fleet, HOST)
    again = f"barnum-again-{uuid.uuid4().hex[:8]}"
    _log(fleet, again)
    screen = b.wait(lambda s: again in s, what="a line after the other follow left")
    assert sum(mark in ln for ln in screen.splitlines()) == 1, screen
    assert sum(again in ln for ln in screen.splitlines()) == 1, screen
    b.keys("C-c")
    assert b.exit_status(b_done) == 0
    assert until(lambda: not _followers(fleet, HOST), 20), _followers(fleet, HOST)
