"""``barnum watch`` and ``barnum shell`` with no warm session running start one (as a
first plain ``barnum`` call does) and attach to it: it stays after they leave, and
the next ``barnum`` is served warm.  A terminal is a real one (tmux); the hosts are
read through nsenter (how many ``bailey --serve`` each runs).
"""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.test_warm_attach_tmux import (
    _argv,
    _clients,
    _env_words,
    _quit_leaving_the_session,
    _serves,
)
from tests.e2e.test_warm_e2e import _diff, _same, warm  # noqa: F401 (fixture)
from tests.e2e.tmux import tmux  # noqa: F401 (fixture)
from tests.waiting import until

pytestmark = [pytest.mark.fleet,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

HOST, USER = "host1", "user1"


def test_watch_with_no_session_starts_one_that_serves_the_next_call(warm, tmux, tmp_path):  # noqa: F811
    fleet = warm.fleet
    assert warm.status() is None, "a session ran before the test"
    term, done = tmux("watch-starts"), tmp_path / "exit"
    term.start_then_record_exit(_argv(warm, "watch"), done, env=_env_words(warm),
                                width=160, height=50)
    term.wait(lambda s: f"circus_{USER}_{HOST}.service" in s and "ticker" in s,
              what="the fleet's instances")
    st = warm.status()
    assert st is not None, "watch left no session running"
    assert until(lambda: _clients(warm) == 1, 20), "watch is not attached to the session"
    assert until(lambda: _serves(fleet, HOST) == 1, 20), "watch opened a connection of its own"
    pid = st["pid"]
    before = warm.served()
    w = warm.run()
    assert warm.served() == before + 1, "the overview after watch was not served warm"
    got, want = _same(w, warm.cold())
    assert got == want, _diff(got, want)
    _quit_leaving_the_session(term, done, warm, pid)


def test_shell_with_no_session_starts_one_and_leaves_it(warm, tmux, tmp_path):  # noqa: F811
    assert warm.status() is None, "a session ran before the test"
    term, done = tmux("shell-starts"), tmp_path / "exit"
    term.start_then_record_exit(_argv(warm, "shell"), done, env=_env_words(warm),
                                width=140, height=40)
    term.wait(lambda s: "barnum shell:" in s and s.rstrip().endswith(">"), what="the prompt")
    assert until(lambda: _clients(warm) == 1, 20), "the shell is not attached to a session"
    assert until(lambda: _serves(warm.fleet, HOST) == 1, 20), "the shell opened one of its own"
    pid = warm.status()["pid"]  # type: ignore[index]
    term.keys("C-d")
    assert term.exit_status(done) == 0
    before = warm.served()
    assert warm.run().returncode in (0, 1, 3)
    assert warm.served() == before + 1, "the overview after the shell was not served warm"
    st = warm.status()
    assert st is not None and st["pid"] == pid, "the session did not outlive the shell"


def test_a_watch_of_one_host_starts_the_session_for_the_next_call_and_keeps_its_own(
        warm, tmux, tmp_path):  # noqa: F811
    term, done = tmux("watch-some"), tmp_path / "exit"
    term.start_then_record_exit(_argv(warm, "watch", HOST), done, env=_env_words(warm),
                                width=160, height=50)
    term.wait(lambda s: f"circus_{USER}_{HOST}.service" in s, what="the host's instances")
    warm.ready()  # started in the background
    assert _clients(warm) == 0, "a watch of one host waited for the whole fleet's session"
    before = warm.served()
    assert warm.run().returncode in (0, 1, 3)
    assert warm.served() == before + 1, "the overview after watch was not served warm"
    term.keys("q")
    assert term.exit_status(done) == 0


def test_watch_with_persistence_off_starts_no_session(warm, tmux, tmp_path):  # noqa: F811
    term, done = tmux("watch-cold"), tmp_path / "exit"
    term.start_then_record_exit(_argv(warm, "watch"), done, env=_env_words(warm, "0"),
                                width=160, height=50)
    term.wait(lambda s: f"circus_{USER}_{HOST}.service" in s, what="the fleet's instances")
    # its own connection alone (the previous test's session may still be closing)
    assert until(lambda: _serves(warm.fleet, HOST) == 1, 20), _serves(warm.fleet, HOST)
    term.keys("q")
    assert term.exit_status(done) == 0
    assert warm.status() is None, "a session was started with persistence off"
