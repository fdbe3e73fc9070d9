"""Session semantics in one place: host states, session errors, flapping, end events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from barnum.live.session import HostState, SessionEvent
from barnum.model.linkstate import LinkState, answers


def test_link_state_is_its_word():
    assert LinkState.UP == "up" and f"{LinkState.STALE}" == "stale"
    assert json.dumps({"state": LinkState.DOWN}) == '{"state": "down"}'


def test_only_up_and_stale_answer():
    assert {s for s in LinkState if s.answers} == {LinkState.UP, LinkState.STALE}
    assert answers("up") and answers("stale")
    assert not answers("down") and not answers(None) and not answers("absent")


def test_host_state_takes_a_word_as_the_type():
    st = HostState("host1", "stale")  # type: ignore[arg-type]  # as a recording gives it
    assert st.state is LinkState.STALE and st.state.answers


# -- typed session errors ---------------------------------------------------------------

def _session(hosts=("h1",)):
    from barnum.live.session import FleetSession
    from barnum.model.config import Config
    from barnum.model.discovery import Discovery
    from barnum.transport.options import Options

    return FleetSession(Config(users=["u1"]), Options(timeout=5),
                        discovery=Discovery(hosts={h: ["u1"] for h in hosts}))


def test_errors_carry_status_and_exit_code():
    from barnum import EXIT_HOST, EXIT_USAGE
    from barnum.live.errors import (
        BadRequest,
        HostFailed,
        NotFound,
        exit_code_of,
        from_refusal,
        worst_exit,
    )

    assert (BadRequest.status, BadRequest.exit_code) == (400, EXIT_USAGE)
    assert (NotFound.status, NotFound.exit_code) == (404, EXIT_USAGE)
    assert (HostFailed.status, HostFailed.exit_code) == (502, EXIT_HOST)
    assert type(from_refusal("bad_request", "x")) is BadRequest
    assert type(from_refusal("not_found", "x")) is NotFound
    assert type(from_refusal(None, "an older bailey")) is HostFailed
    assert type(from_refusal("some_later_code", "x")) is HostFailed
    assert exit_code_of(OSError("boom")) == EXIT_HOST
    assert worst_exit([BadRequest("a"), HostFailed("b")]) == EXIT_HOST
    assert worst_exit([NotFound("a")]) == EXIT_USAGE and worst_exit([]) == 0


def test_session_refuses_bad_requests_before_asking_a_host():
    from barnum.live.errors import BadRequest, HostFailed, NotFound

    s = _session()
    with pytest.raises(BadRequest, match="n must be"):
        s.output("h1", "circus_u1_h1.service", "w", "stdout", n=10001)
    with pytest.raises(BadRequest, match="stream"):
        s.output("h1", "circus_u1_h1.service", "w", "stdin")
    with pytest.raises(BadRequest):
        s.logs("circus_u1_h1.service", "h1", n=-1)
    with pytest.raises(NotFound, match="not a host"):
        s.logs("circus_u1_h1.service", "nosuch")
    with pytest.raises(HostFailed, match="not connected"):  # never opened
        s.logs("circus_u1_h1.service", "h1")


def test_web_maps_session_errors_to_400_404_502(tmp_path):
    from barnum.live.errors import HostFailed
    from tests.unit.webkit import RecordedSession, client, make_web

    def edit(doc):
        doc["hosts"]["host1"]["report"]["instances"][0]["stream_files"] = {
            "stdout:ticker": "/srv/users/user1/ticker.out"}

    session = RecordedSession(edit)
    c = client(make_web(tmp_path, session))
    base = {"host": "host1", "unit": "circus_user1_host1.service", "watcher": "ticker",
            "stream": "stdout"}
    r = c.get("/api/output", params={**base, "n": "lots"})
    assert r.status_code == 400 and "n must be" in r.json()["error"]
    assert c.get("/api/logs", params={**base, "n": "1e3"}).status_code == 400
    assert c.get("/api/output", params={**base, "watcher": "nosuch"}).status_code == 404
    assert c.get("/api/output", params={**base, "n": "3"}).status_code == 200

    def gone(*_a, **_k):
        raise HostFailed("connection lost: EOF")

    session.output = gone
    r = c.get("/api/output", params=base)
    assert r.status_code == 502 and r.json()["error"] == "connection lost: EOF"


# -- watcher names, once; one flapping detector ------------------------------------------

def _capitalised_link():
    """A session's link to h1 whose report knows the watcher "Big Ticker" (circus's
    events call it "big_ticker"), fed as bailey's lines would be, without a network."""
    from bailey.report import Instance, Report
    from barnum.live.state import valid_report

    s = _session()
    rep = Report(host="h1", bailey_version="0", circusctl_args=["status"])
    rep.instances.append(Instance("circus_u1_h1.service", "u1", "User=", "enabled", "active",
                                  "running", state="ok", watchers={"Big Ticker": "active"}))
    link = s.links["h1"]
    link.state.report = valid_report(rep.to_dict(), "h1")
    return s, link


def _reap(pid: int) -> dict:
    return {"event": "circus", "unit": "circus_u1_h1.service", "user": "u1",
            "watcher": "big_ticker", "action": "reap", "sub": 1,
            "data": {"process_pid": pid, "exit_code": 1}}


def test_session_names_a_watcher_once_before_publishing():
    s, link = _capitalised_link()
    sub = s.subscribe()
    link._event(_reap(10), 100)
    ev = sub.get(0)
    assert ev is not None and ev.kind == "circus" and ev.data["watcher"] == "Big Ticker"
    unknown = {**_reap(11), "watcher": "never_heard_of"}
    link._event(unknown, 100)
    ev = sub.get(0)
    assert ev is not None and ev.data["watcher"] == "never_heard_of"  # kept; a refresh follows


def test_one_detector_sees_a_capitalised_watcher_flap_in_every_front_end():
    """watch, the web page (and so /metrics) and the shell all read barnum.live.flapping,
    keyed by the name the session published: "Big Ticker", as the table shows it."""
    from barnum.cli.commands.watch import Highlights, view
    from barnum.live.flapping import FLAP_EXITS
    from barnum.shell.events import EventView
    from barnum.web.history import History

    s, link = _capitalised_link()
    sub = s.subscribe()
    for pid in range(FLAP_EXITS):
        link._event(_reap(100 + pid), 100)
    events = [sub.get(0) for _ in range(FLAP_EXITS)]
    history, shell = History(), EventView()
    lines = []
    for ev in events:
        history.note_circus(ev.host, ev.data, ev.t)
        lines.append(shell.line(ev))
    key = ("h1", "u1", "Big Ticker")
    assert history.flapping(key) and history.flapped_recently(key)
    assert [("FLAPPING" in (x or "")) for x in lines] == [False] * (FLAP_EXITS - 1) + [True]
    assert lines[-1].startswith("h1 u1: Big Ticker: process 102 exited (exit code 1); ")

    from barnum.live.flapping import Flapping
    from barnum.model.linkstate import LinkState

    flaps = Flapping()
    for ev in events:
        flaps.note_event(ev)
    link.state.state = LinkState.UP
    from rich.console import Console

    out = Console(width=200, color_system=None, record=True)
    out.print(view(s, Highlights(), flaps, {}, events[-1].t))
    row = next(x for x in out.export_text().splitlines() if "Big Ticker" in x)
    assert "FLAPPING" in row


def test_flapping_is_said_once_per_bout_and_forgets_old_exits():
    from barnum.live.flapping import FLAP_EXITS, FLAP_WINDOW, Flapping

    f = Flapping()
    reap = {"watcher": "w", "user": "u", "action": "reap", "data": {}}
    said = [f.note("h", reap, 1000.0 + n) for n in range(FLAP_EXITS + 2)]
    assert said == [False] * (FLAP_EXITS - 1) + [True, False, False]
    assert f.flapping(("h", "u", "w"), 1010.0)
    assert not f.flapping(("h", "u", "w"), 1010.0 + FLAP_WINDOW)
    assert not f.note("h", {**reap, "action": "spawn"}, 2000.0)
    assert not f.note("h", {"action": "reap"}, 2000.0)  # no watcher: not a key


# -- config_error: bailey/1 minor 1 ------------------------------------------------------

RECORDED = Path(__file__).parents[1] / "data" / "bailey" / "failed_unit_missing_config.json"


def test_config_error_read_from_a_recorded_bailey_document():
    from barnum.model.validate import report_from_document

    doc = json.loads(RECORDED.read_text())
    rep = report_from_document(doc, "host4")
    (inst,) = rep.instances
    assert rep.schema_minor == 1
    assert inst.config_error == f"{inst.config_file}: no such file"
    assert inst.error == f"unit failed (systemd: failed/failed); config: {inst.config_error}"


def test_an_older_document_is_minor_0_without_config_error():
    from barnum.model.validate import DocumentError, report_from_document

    doc = json.loads(RECORDED.read_text())
    del doc["schema_minor"]
    del doc["instances"][0]["config_error"]
    rep = report_from_document(doc, "host4")
    assert rep.schema_minor == 0 and rep.instances[0].config_error is None
    with pytest.raises(DocumentError, match="schema_minor"):
        report_from_document({**doc, "schema_minor": "1"}, "host4")


def test_drift_reads_the_field_not_the_prose():
    """The cause comes from config_error; prose with "; " in it is never split."""
    from barnum.model.discovery import Discovery
    from barnum.model.results import FleetResult, HostResult
    from barnum.model.validate import report_from_document
    from barnum.spec.drift import find_drift

    doc = json.loads(RECORDED.read_text())
    rep = report_from_document(doc, "host4")
    d = Discovery(hosts={"host4": ["user2"]}, configs={})
    failed = next(f for f in find_drift(FleetResult([HostResult("host4", [], [], report=rep)]),
                                        d, {}).findings if f.kind == "unit-failed")
    assert failed.detail == (f"systemd: failed/failed; config: {rep.instances[0].config_file}: "
                             "no such file")
    rep.instances[0].config_error = None
    rep.instances[0].error = "unit failed (systemd: failed/failed); no config: a; b"
    failed = next(f for f in find_drift(FleetResult([HostResult("host4", [], [], report=rep)]),
                                        d, {}).findings if f.kind == "unit-failed")
    assert failed.detail == "systemd: failed/failed"


# -- end events --------------------------------------------------------------------------

def test_a_subscription_ends_with_an_end_event_when_it_closes():
    from barnum.live.session import Subscription

    sub = Subscription(None)
    sub.put(SessionEvent("unit", "h1", {"unit": "u"}))
    sub.close()
    got = list(sub)
    assert [(e.kind, e.data.get("stream")) for e in got] == [("unit", None), ("end", "subscribe")]
    logs_only = Subscription(None, kinds={"log"})
    logs_only.close()
    assert list(logs_only) == []  # it did not ask for end events


def test_a_followed_units_end_is_published_with_its_unit():
    s, link = _capitalised_link()
    sub = s.subscribe(kinds={"end"})
    link.follows[5] = "circus_u1_h1.service"
    link._event({"event": "end", "sub": 5, "reason": "ended", "unit": "circus_u1_h1.service"},
                80)
    ev = sub.get(0)
    assert ev is not None and ev.host == "h1"
    assert ev.to_dict()["stream"] == "logs" and ev.data["reason"] == "ended"
    assert ev.data["unit"] == "circus_u1_h1.service" and 5 not in link.follows
    link.follows[6] = "circus_u1_h1.service"
    link._drop()  # the connection went: bailey cannot say it, so the session does
    ev = sub.get(0)
    assert ev is not None and (ev.data["reason"], ev.data["sub"]) == ("lost", 6)


def test_an_end_event_is_checked_on_the_wire():
    from barnum.live.wire import WireError, check_event

    ok = check_event({"event": "end", "sub": 3, "reason": "cancelled\x1b[2J"}, 0.0, "h1")
    assert ok == {"event": "end", "sub": 3, "reason": "cancelled\\e[2J"}
    with pytest.raises(WireError, match=r"end\.sub"):
        check_event({"event": "end", "sub": [1], "reason": "x"}, 0.0, "h1")


@pytest.mark.parametrize(("error", "code"), [("BadRequest", 2), ("NotFound", 2),
                                             ("HostFailed", 3)])
def test_the_shell_exits_by_the_error_type(error, code):
    """The shell's ``logs`` over a recorded fleet: a request bailey refused as malformed
    or naming nothing is a usage error (2); a host that did not answer is 3."""
    import io
    from types import SimpleNamespace

    from rich.console import Console

    from barnum.live import errors
    from barnum.shell.runner import Shell
    from tests.unit.webkit import RecordedSession

    s = RecordedSession()

    def refuse(unit, host, n=50):
        raise getattr(errors, error)(f"bailey: refused {unit}")

    s.logs = refuse
    s.options = SimpleNamespace(timeout=5)
    out = io.StringIO()
    said: list[str] = []
    sh = Shell(s, Console(file=out, width=200, color_system=None), said.append)
    assert sh.run_text("logs host1") == code
    assert "bailey: refused circus_" in out.getvalue() + "".join(said)


def test_a_following_takes_only_its_own_follows_lines_and_forgets_an_ended_one():
    from barnum.live.session import Following, SessionEvent

    f = Following(None)  # type: ignore[arg-type]  # no session: nothing to cancel on close
    chan = object()
    f.claim("h1", (chan, 5))
    line = {"unit": "u", "line": {"message": "m"}}
    f.put(SessionEvent("log", "h1", {**line, "sub": 5}))
    f.put(SessionEvent("log", "h1", {**line, "sub": 6}))  # another reader's follow
    f.put(SessionEvent("log", "h2", {**line, "sub": 5}))  # same id, another host
    f.put(SessionEvent("stats", "h1", {"sub": 5}))  # not a kind it takes
    got = f.get(0)
    assert got is not None and got.data["sub"] == 5 and got.host == "h1"
    assert f.get(0) is None
    f.put(SessionEvent("end", "h1", {"stream": "logs", "unit": "u", "reason": "lost",
                                     "sub": 5}))
    assert f.get(0).kind == "end" and f.keys == {}  # type: ignore[union-attr]
    f.put(SessionEvent("log", "h1", {**line, "sub": 5}))  # after its end: not its own
    assert f.get(0) is None
    f.close()
    assert f.get(0).data["stream"] == "subscribe"  # type: ignore[union-attr]
