"""Parallel warm calls, each with its own output and environment (barnum.warm.calls),
output held until the call is the session's then sent as written (Output), and the
codec between the session and an attached watch or shell (barnum.warm.shared)."""

from __future__ import annotations

import io
import os
import sys
import threading

import pytest

from bailey.report import Instance, Report
from barnum.live.errors import BadRequest, NotFound, SessionError
from barnum.live.session import HostState, SessionEvent
from barnum.model.linkstate import LinkState
from barnum.model.results import FleetResult, HostResult
from barnum.model.validate import report_from_document
from barnum.warm import calls, shared
from barnum.warm.runner import Capture, Output, call_env, remote_exit


@pytest.fixture
def installed(monkeypatch):
    """Puts the stand-ins in place when called (in the test: pytest swaps the streams
    between setup and call); the process's own streams and env after the test."""
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    monkeypatch.setattr(os, "environ", os.environ)
    return calls.install


def _in_thread(fn):
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("v", fn()))
    t.start()
    t.join(10)
    return box["v"]


def test_two_calls_at_once_each_see_their_own_output_and_environment(installed):
    installed()
    barrier = threading.Barrier(2)
    outs = {}

    def one(name: str, columns: str) -> None:
        buf = io.StringIO()
        with calls.running(calls.Call(buf, io.StringIO(), {"COLUMNS": columns})):
            barrier.wait(5)
            for _ in range(200):
                print(name, os.environ.get("COLUMNS"), "NO_COLOR" in os.environ)
            barrier.wait(5)
        outs[name] = buf.getvalue()

    ts = [threading.Thread(target=one, args=a) for a in (("a", "80"), ("b", "132"))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert set(outs["a"].splitlines()) == {"a 80 False"}
    assert set(outs["b"].splitlines()) == {"b 132 False"}


def test_a_call_sets_and_unsets_only_its_own_keys(installed, monkeypatch):
    monkeypatch.setitem(os.environ, "NO_COLOR", "1")
    installed()
    env = {"TERM": "dumb"}
    with calls.running(calls.Call(io.StringIO(), io.StringIO(), env)):
        assert "NO_COLOR" not in os.environ  # the client has it unset
        os.environ["COLUMNS"] = "99"
        os.environ["BARNUM_OTHER_KEY"] = "x"  # not a rendering key: the process's
        assert _in_thread(lambda: os.environ.get("COLUMNS")) != "99"
        assert "TERM" in dict(os.environ.copy())
    assert env["COLUMNS"] == "99" and os.environ.get("NO_COLOR") == "1"
    assert os.environ.pop("BARNUM_OTHER_KEY") == "x"


def test_a_thread_that_is_no_call_writes_to_the_process_streams(installed, capsys):
    installed()
    with calls.running(calls.Call(io.StringIO(), io.StringIO(), {})):
        _in_thread(lambda: print("the session's own line"))
    assert "the session's own line" in capsys.readouterr().out


def test_silenced_quiets_only_the_current_call():
    a, b = io.StringIO(), io.StringIO()
    ca, cb = calls.Call(a, a, {}), calls.Call(b, b, {})
    with calls.running(ca), calls.silenced():
        ca.stdout.write("hidden")
        with calls.running(cb):
            cb.stdout.write("kept")
    assert a.getvalue() == "" and b.getvalue() == "kept" and ca.stdout is a


def test_calls_share_a_folder_and_one_from_another_folder_is_refused(tmp_path):
    here = os.getcwd()
    f = calls.Folders()
    other = tmp_path / "other"
    other.mkdir()
    try:
        with f.inside(str(tmp_path)) as ok1, f.inside(str(tmp_path)) as ok2:
            assert ok1 and ok2 and os.getcwd() == str(tmp_path)
            with f.inside(str(other)) as ok3:
                assert not ok3 and os.getcwd() == str(tmp_path)
        with f.inside(str(other)) as ok4:
            assert ok4 and os.getcwd() == str(other)
        with f.inside(str(tmp_path / "gone")) as ok5:
            assert not ok5
    finally:
        os.chdir(here)


def _session_of(*hosts: str):
    """A session that is never opened: _each runs any function on its hosts' links."""
    from barnum.live.session import FleetSession
    from barnum.model.config import Config
    from barnum.model.discovery import Discovery
    from barnum.transport.options import Options

    return FleetSession(Config(users=["nobody"]), Options(timeout=30),
                        discovery=Discovery(hosts={h: ["nobody"] for h in hosts}))


def test_a_left_client_interrupts_its_call_while_a_request_still_waits():
    """Ctrl-C at the client during a wait on a hung host ends the call at once (as cold
    does), not when the host's timeout gives the call another exit code."""
    hung, leave = threading.Event(), calls.Call()
    s = _session_of("h1", "h2")
    threading.Timer(0.2, leave.cancel.set).start()
    try:
        with calls.running(leave), pytest.raises(KeyboardInterrupt):
            s._each(None, lambda link, users: hung.wait(30), None)
        assert not hung.is_set()  # the request was abandoned, not answered
        with calls.running(leave), pytest.raises(KeyboardInterrupt):  # none is started
            s._each(None, lambda link, users: hung.set(), None)
        assert not hung.is_set()
    finally:
        hung.set()


def test_a_request_of_a_call_still_there_answers_or_fails_as_it_would():
    s = _session_of("h1", "h2")
    late = threading.Event()
    with calls.running(calls.Call()):
        got = s._each(None, lambda link, users: link.host, None)
        assert got == {"h1": "h1", "h2": "h2"}
        got = s._each(None, lambda link, users: _raise(NotFound("no such host")), None)
        assert {h: v.msg for h, v in got.items()} == {"h1": "no such host",
                                                       "h2": "no such host"}
        got = s._each(None, lambda link, users: late.wait(5) and link.host, 0.01)
    assert {h: v.msg for h, v in got.items()} == {"h1": "no answer in time",
                                                   "h2": "no answer in time"}
    late.set()
    assert s._each(None, lambda link, users: "no call", None) == {"h1": "no call",
                                                                   "h2": "no call"}
    assert got["h1"].msg == "no answer in time"  # a late answer never changes a result


def _raise(e):
    raise e


def test_output_is_held_until_the_call_is_served_then_sent_as_written():
    sent: list[tuple[int, bytes]] = []
    out = Output(lambda fd, b: sent.append((fd, b)))
    Capture(2, out, False).write("warning: early\n")
    assert sent == [] and out.held == [(2, b"warning: early\n")]
    out.commit()
    Capture(1, out, True).write("1. step\n")
    assert sent == [(2, b"warning: early\n"), (1, b"1. step\n")] and out.held == []


def test_output_without_a_client_to_stream_to_keeps_everything():
    out = Output(None)
    out.commit()
    Capture(1, out, False).write("x")
    assert out.held == [(1, b"x")]


def test_the_call_environment_is_the_client_rendering_keys_and_its_size():
    req = {"env": {"TERM": "xterm", "PATH": "/evil", "_ARGCOMPLETE_STDOUT_FILENAME": "/f",
                   "NO_COLOR": 1}, "stdout_tty": True, "size": [120, 40]}
    assert call_env(req) == {"TERM": "xterm", "COLUMNS": "120", "LINES": "40"}


# -- the codec of attached front ends -------------------------------------------------

def _report(host: str) -> Report:
    return Report(host, "1.0", ["status"], instances=[
        Instance(user="user1", unit=f"circus_user1_{host}.service", user_source="User=",
                 unit_file_state="enabled", active_state="active", sub_state="running",
                 state="ok", watchers={"ticker": "active"}, notes=["n"])])


def test_a_host_state_goes_over_the_socket_unchanged():
    st = HostState("host1", LinkState.STALE, "no answer for 5 s", _report("host1"),
                   stats={"x": 1}, last_seen=12.5, epoch="e1", rejected=2, note="bad")
    got = shared.state_of(_roundtrip(shared.state_dict(st)))
    assert got == st and got.state is LinkState.STALE and got.state.answers


def test_a_fleet_result_and_an_event_go_over_unchanged():
    r1 = HostResult("host1", ["user1"], ["stop", "ticker"], report=_report("host1"),
                    document={"schema": "bailey/1"}, exit_status=0, elapsed=0.25)
    r2 = HostResult("host2", [], ["stop", "ticker"])
    r2.error = "timed out"
    fr = FleetResult([r1, r2], 1.5, {"itg": {"host1": []}})
    got = shared.result_of(_roundtrip(shared.result_dict(fr)))
    assert got == fr and got.exit_code == fr.exit_code
    ev = SessionEvent("circus", "host1", {"watcher": "ticker", "status": "stopped"}, 3.0, 99)
    assert shared.event_of(_roundtrip(shared.event_dict(ev))) == ev


@pytest.mark.parametrize("err", [BadRequest("n must be"), NotFound("no such unit"),
                                 SessionError("x"), ValueError("a bug")])
def test_a_session_error_is_raised_again_as_its_kind(err):
    got = shared.error_of(_roundtrip(shared.error_dict(err)))
    want = type(err) if isinstance(err, SessionError) else SessionError
    assert type(got) is want and str(got) == str(err)


def test_a_call_the_session_does_not_offer_is_a_bad_request():
    assert shared.call(None, {"method": "close"})["raise"] == "BadRequest"  # type: ignore[arg-type]


def _roundtrip(doc):
    import json

    return json.loads(json.dumps(doc))


def test_remote_exit_is_bailey_s_own_even_where_barnum_drops_an_instance():
    """A unit whose name is not its User='s (circus_user2b_host1 run by user2) is dropped
    by barnum's check with a note, which makes the checked report unhealthy; bailey
    exited 0, and a cold call says remote_exit 0: so must a warm one."""
    inst = Instance(unit="circus_user2b_host1.service", user="user2", user_source="User=",
                    unit_file_state="static", active_state="inactive", sub_state="dead",
                    state="inactive")
    doc = Report(host="host1", bailey_version="0", circusctl_args=["status"],
                 instances=[inst]).to_dict()
    checked = report_from_document(doc, "host1")
    assert checked.exit != 0 and doc["exit"] == 0  # the two disagree, as on the fleet
    assert remote_exit(doc, checked.exit) == 0
    assert remote_exit({"exit": True}, 3) == 3 and remote_exit(None, 2) == 2
