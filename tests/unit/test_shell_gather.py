"""barnum shell: identical answers gathered into one block (clush -b style), and events."""

from __future__ import annotations

from barnum.live.session import SessionEvent
from barnum.shell.events import Echo, EventView, event_line
from barnum.shell.gather import Answer, gather
from barnum.shell.gather import fold as fold_names
from barnum.shell.runner import EXIT_INTERRUPTED, worst
from barnum.shell.selection import resolve_set


def test_fold():
    assert fold_names(["user1@host1", "user1@host2", "user1@host3"]) == "user1@host[1-3]"
    assert fold_names(["host1", "host2", "host4", "host5", "host9"]) == "host[1-2,4-5,9]"
    assert fold_names(["user1@host1", "user2@host1"]) == "user[1-2]@host1"
    assert fold_names(["db", "host1"]) == "db,host1"
    assert fold_names(["node01", "node02", "node03"]) == "node[01-03]"
    assert fold_names(["host1"]) == "host1"
    assert fold_names(["host10", "host11", "host12"]) == "host[10-12]"


def test_a_gathered_block_typed_back_selects_exactly_its_instances():
    """The shell prints blocks; `target <names>` must then select just those instances."""
    hosts = {f"host{i}": ["user1", "user2"] for i in (1, 2, 3, 10, 11, 12)}
    answers = [Answer(f"user1@host{i}", "ok") for i in (1, 10, 11, 12)] + [
        Answer("user2@host2", "ok"), Answer("user2@host3", "ok"), Answer("host3", "down", True)]
    for block in gather(answers):
        got = resolve_set([fold_names(block.names)], hosts)
        want: dict[str, list[str]] = {}
        for who in block.names:
            user, _, host = who.rpartition("@")
            if user:
                want.setdefault(host, []).append(user)
            else:
                want[host] = []
        assert got == {h: sorted(u) for h, u in sorted(want.items())}
    assert fold_names([a.who for a in answers if a.text == "ok"]) == \
        "user1@host[1,10-12],user2@host[2-3]"


def test_identical_answers_are_one_block_failures_first():
    answers = [
        Answer("user1@host1", "ok"), Answer("user1@host2", "ok"), Answer("user2@host1", "ok"),
        Answer("user1@host3", "circusctl exited 3: error: program x not found", True),
        Answer("host4", "timed out after 5s", True),
        Answer("user2@host2", "ok"),
    ]
    lines = [ln for b in gather(answers) for ln in b.lines()]
    assert lines == [
        "user1@host3 (1): circusctl exited 3: error: program x not found",
        "host4 (1): timed out after 5s",
        "user[1-2]@host[1-2] (4): ok",
    ]


def test_a_failure_never_merges_with_a_success_of_the_same_text():
    blocks = gather([Answer("a@h1", "x"), Answer("a@h2", "x", True)])
    assert [(b.names, b.failed) for b in blocks] == [(["a@h2"], True), (["a@h1"], False)]


def test_multi_line_answers_are_indented_under_their_names():
    text = "sleeper: active\nticker: active"
    lines = [ln for b in gather([Answer("u@h1", text), Answer("u@h2", text)])
             for ln in b.lines()]
    assert lines == ["u@h[1-2] (2):", "  sleeper: active", "  ticker: active"]


def test_worst_exit_status():
    assert worst([]) == 0
    assert worst([0, 1, 0]) == 1
    assert worst([1, 3]) == 3
    assert worst([3, 2, 1]) == 2
    assert worst([2, EXIT_INTERRUPTED]) == EXIT_INTERRUPTED


# Events as the session delivered them on the real fleet (recorded 2026-12-01).
KILL = {"event": "circus", "unit": "circus_user1_host1.service", "user": "user1",
        "watcher": "ticker", "action": "kill", "data": {"process_pid": 110, "time": 1.0}}
REAP = {**KILL, "action": "reap", "data": {"process_pid": 110, "time": 1.0, "exit_code": -15}}
STOP = {**KILL, "action": "stop", "data": {"time": 1.0}}


def ev(kind: str, host: str, data: dict) -> SessionEvent:
    return SessionEvent(kind, host, data, t=1.0)


def test_event_lines():
    assert event_line(ev("circus", "host1", STOP)) == "host1 user1: ticker stopped"
    assert event_line(ev("circus", "host1", REAP)) == \
        "host1 user1: ticker: process 110 exited (killed by signal 15)"
    assert event_line(ev("circus", "host1", KILL)) is None
    unit = {"event": "unit", "unit": "circus_user2_host3.service", "active_state": "failed",
            "sub_state": "failed"}
    assert event_line(ev("unit", "host3", unit)) == \
        "host3: circus_user2_host3.service is failed (failed)"
    assert event_line(ev("stats", "host1", {})) is None
    assert event_line(ev("resync", "host1", {})) is None


def test_a_host_is_said_down_once_not_at_every_retry():
    view = EventView()
    down = {"state": "down", "error": "connection refused"}
    seen = [view.line(ev("host", "host2", d)) for d in (
        down, {"state": "connecting"}, down, {"state": "connecting"}, {"state": "up"})]
    assert seen == ["host2: down: connection refused", None, None, None, "host2: up"]


def test_the_shells_own_command_is_not_echoed():
    echo = Echo()
    echo.expect(["host1"], "ticker", until=10.0)
    assert event_line(ev("circus", "host1", STOP), echo, now=5.0) is None
    assert event_line(ev("circus", "host1", STOP), echo, now=11.0) is not None
    other = {**STOP, "watcher": "sleeper"}
    assert event_line(ev("circus", "host1", other), echo, now=5.0) is not None
    echo.expect(["host2"], None, until=10.0)  # circusctl reloadconfig: any watcher
    assert event_line(ev("circus", "host2", other), echo, now=5.0) is None


def test_event_text_is_sanitized():
    hostile = {**STOP, "watcher": "t\x1b]0;pwned\x07", "user": "u\x1b[2J"}
    line = event_line(ev("circus", "host1", hostile))
    assert "\x1b" not in line and "\x07" not in line
    assert line == "host1 u\\e[2J: t\\e]0;pwned\\x07 stopped"
