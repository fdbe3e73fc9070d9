"""A compromised host in the live session: any JSON for any answer or event, through every
front end's rendering, never raises and never hides the other host (issue 18, section 2).

Two hosts share one real :class:`FleetSession`.  Each link's channel is a
script: host1 answers every request with what bailey sent on the test fleet
(tests/data/web/fleet_snapshot.json), host2 with whatever hypothesis draws,
and host2 also pushes drawn events.  The messages go through the session's
one arrival point (``_Link._line``) and the real request path, then into the
real renderers: ``barnum stats`` (table and --json), ``barnum logs``,
``watch`` (table and --json), ``shell -c status/stats/logs``, the web page,
``/api/fleet``, ``/metrics`` and the ``/logs`` page.
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import json
import math
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from barnum.cli.commands.watch import Highlights, view
from barnum.live.errors import SessionError
from barnum.live.flapping import Flapping
from barnum.live.session import FleetSession, SessionEvent, _LinkError
from barnum.live.state import LineBuffer, LineTooLong, RefreshGate, SeqCheck
from barnum.model.config import Config
from barnum.model.discovery import Discovery
from barnum.shell.events import EventView, event_line
from barnum.shell.runner import Shell
from barnum.transport.options import Options
from barnum.views import logs as logs_cmd
from barnum.views import stats as stats_cmd
from barnum.views.render import host_lines, summary_line
from barnum.web import metrics, render
from barnum.web.hub import Hub

SNAP = json.loads((Path(__file__).parents[1] / "data" / "web" / "fleet_snapshot.json")
                  .read_text())
GOOD, BAD = "host1", "host2"
GOOD_UNIT = "circus_user1_host1.service"
BAD_UNIT = "circus_user1_host2.service"
EPOCH = "e" * 16


def document(host: str) -> dict:
    return {"schema": "bailey/1", "host": host, "bailey_version": "0.1.0",
            "circusctl_args": ["status"], "dry_run": False, "errors": [],
            "instances": copy.deepcopy(SNAP["hosts"][host]["report"]["instances"])}


def good_answer(op: str, req: dict) -> object:
    """What the real bailey on host1 answered."""
    now = time.time()
    return {
        "status": lambda: document(GOOD), "circusctl": lambda: document(GOOD),
        "stats": lambda: copy.deepcopy(SNAP["stats"][GOOD]),
        "logs": lambda: {"unit": req.get("unit"), "lines": [
            {"t": now - 1, "priority": 6, "pid": 115, "message": "good line from host1"}]},
        "output": lambda: {"unit": req.get("unit"), "watcher": req.get("watcher"),
                           "stream": "stdout", "path": "/x", "lines": ["out"],
                           "truncated": False},
        "cancel": lambda: {"cancelled": True}, "ping": lambda: {"t": now},
    }[op]()


class Scripted:
    """A channel whose host answers each request at once, through the link's real reader."""

    def __init__(self, link, answer) -> None:
        self.link, self.answer, self.seq = link, answer, 100

    def line(self, obj: object) -> None:
        """One line from the host (an object gets seq, epoch and an absurd host time)."""
        self.seq += 1
        if isinstance(obj, dict):
            obj = {**obj, "seq": self.seq, "epoch": EPOCH, "t": 1e300}
        self.link._line(json.dumps(obj, allow_nan=True).encode())

    def sendall(self, data: bytes) -> None:
        req = json.loads(data)
        self.line({"id": req["id"], "ok": True, "result": self.answer(req["op"], req)})

    def close(self) -> None:
        pass


def two_hosts(bad_answer, bad_snapshot: object = None) -> FleetSession:
    """host1 honest, host2 answering ``bad_answer``; both up, neither thread started."""
    disc = Discovery(hosts={GOOD: ["user1", "user2"], BAD: ["user1", "user2"]})
    s = FleetSession(Config(users=["user1", "user2"]), Options(timeout=2), discovery=disc)
    for host, answer in ((GOOD, good_answer), (BAD, bad_answer)):
        link = s.links[host]
        link.state.state, link.state.last_seen = "up", time.time()
        link.seq = SeqCheck(EPOCH, 100)
        link.sub_id = next(link.ids)  # as _connect does: 1
        link.chan = Scripted(link, answer)
    s.links[GOOD].chan.line({"id": 1, "ok": True, "result": {"snapshot": document(GOOD)}})
    s.links[BAD].chan.line({"id": 1, "ok": True, "result": {
        "snapshot": document(BAD) if bad_snapshot is None else bad_snapshot}})
    return s


# -- any JSON, and real shapes with one part replaced by any JSON --------------------------

scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=10**18)
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.sampled_from([1e300, -1e300, 4e12, math.nan, math.inf])
           | st.text(max_size=12) | st.sampled_from(["\x1b[2J", "<script>", "NaN", ""]))
any_json = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=8) | st.sampled_from(
                            ["t", "time", "name", "cpu", "rss", "lines", "instances",
                             "watchers", "processes", "unit", "user", "message", "status"]),
                            inner, max_size=5), max_leaves=20)


@st.composite
def mutated(draw, valid: object) -> object:
    """``valid`` with one value somewhere inside replaced by any JSON."""
    doc = copy.deepcopy(valid)
    paths: list[tuple] = []

    def walk(v, path):
        paths.append(path)
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, (*path, k))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, (*path, i))
    walk(doc, ())
    path = draw(st.sampled_from(paths))
    new = draw(any_json)
    if not path:
        return new
    parent = doc
    for k in path[:-1]:
        parent = parent[k]
    parent[path[-1]] = new
    return doc


def answers_for(op: str) -> st.SearchStrategy:
    return any_json | mutated(good_answer(op, {"unit": BAD_UNIT, "watcher": "w"}))


events = st.one_of(
    any_json.map(lambda v: {"event": "circus", "data": v}),
    mutated({"event": "circus", "unit": BAD_UNIT, "user": "user1", "watcher": "sleeper",
             "action": "reap", "data": {"time": time.time(), "process_pid": 3,
                                        "exit_code": 1}}),
    mutated({"event": "unit", "unit": BAD_UNIT, "user": "user1", "active_state": "active",
             "sub_state": "running", "unit_file_state": "enabled", "n_restarts": 1,
             "main_pid": 4, "memory_current": 100}),
    mutated({"event": "instance", "instance": document(BAD)["instances"][0]}),
    mutated({"event": "resync", "snapshot": document(BAD)}),
    mutated({"event": "stats", "result": SNAP["stats"][BAD]}),
    mutated({"event": "log", "sub": 9, "unit": BAD_UNIT,
             "line": {"t": time.time(), "priority": 6, "pid": 1, "message": "m"}}),
    mutated({"id": 1, "ok": True, "result": {"snapshot": document(BAD)}}),
    any_json.map(lambda v: {"id": 77, "ok": True, "result": v}),  # a request never made
    st.dictionaries(st.sampled_from(["event", "id", "ok", "result", "unit", "data"]),
                    any_json, max_size=4),
)

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=list(HealthCheck))


def text_of(renderable) -> str:
    buf = io.StringIO()
    Console(file=buf, width=200, color_system=None).print(renderable)
    return buf.getvalue()


def render_everything(s: FleetSession, pushed: list[SessionEvent]) -> dict[str, str]:
    """Every front end's output for the session as it stands (each must not raise)."""
    out: dict[str, str] = {}
    stats = s.stats()
    buf, console_buf = io.StringIO(), io.StringIO()
    stats_cmd.show(stats, "cpu", True, None, buf)
    errors = stats_cmd.show(stats, "name", False, Console(file=console_buf, width=200), None)
    out["stats"], out["stats_json"] = console_buf.getvalue(), buf.getvalue()
    json.loads(out["stats_json"])
    out["stats_errors"] = json.dumps(errors)

    batches = []
    for host, user, unit in s.units():
        with contextlib.suppress(SessionError):  # a host's refused answer: its error line
            batches.append((host, user, s.logs(unit, host, 5)))
    out["logs"] = "\n".join(logs_cmd.line_text(h, u, r) for h, u, r in
                            logs_cmd.merged(batches))

    marks, flaps = Highlights(), Flapping()
    shell_view = EventView()
    for ev in pushed:
        marks.note(ev)
        flaps.note_event(ev)
        shell_view.line(ev)  # the shell's event lines
        json.dumps(ev.to_dict(), sort_keys=True, default=str)  # watch --json
    out["watch"] = text_of(view(s, marks, flaps, stats, time.time()))
    for st_ in s.host_states().values():
        json.dumps({"report": st_.report.to_dict() if st_.report else None,
                    "error": st_.error}, sort_keys=True)

    shell_out = io.StringIO()
    sh = Shell(s, Console(file=shell_out, width=200, color_system=None), lambda m: None)
    for cmd in ("status", "stats", "logs"):
        sh.run_text(cmd)
    out["shell"] = shell_out.getvalue()
    out["snapshot"] = "".join(text_of(x) for h in s.snapshot().hosts for x in host_lines(h))
    text_of(summary_line(s.snapshot()))

    hub = Hub(s)
    hub.poll_stats()
    for ev in pushed:
        hub.note(ev)
    v = hub.view(hub.whole())
    ctx = render.PageContext("operator", "csrf", {})
    out["page"] = render.page(v, ctx)
    out["api"] = json.dumps({"ok": True, **v.to_dict()})
    out["metrics"] = metrics.render(v)
    for host, _user, unit in s.units():
        try:
            lines, err = s.logs(unit, host, 100), None
        except SessionError as e:
            lines, err = [], str(e)
        out["logs_page_" + host] = render.logs_page(host, unit, lines, ctx, None, err)
        render.logs_page(host, unit, lines, ctx, time.time(), err)
        try:
            result, err = s.output(host, unit, "sleeper", "stdout"), None
        except SessionError as e:
            result, err = None, str(e)
        out["output_" + host] = render.output_page(host, unit, "sleeper", "stdout", result,
                                                   ctx, err)
        with contextlib.suppress(SessionError):
            s.cancel_on(host, (s.connection_of(host), 5))  # a page's last follow closing
    return out


def assert_good_host_intact(out: dict[str, str]) -> None:
    assert "host1" in out["stats"] and "sleeper" in out["stats"]
    assert '"host": "host1"' in out["stats_json"]
    assert "host1" not in json.loads(out["stats_errors"])
    assert "good line from host1" in out["logs"]
    assert "circus_user1_host1.service" in out["watch"]
    assert "circus_user1_host1.service" in out["shell"] and "good line from host1" in out["shell"]
    assert "circus_user1_host1.service" in out["snapshot"]
    assert 'id="host-host1"' in out["page"] and "circus_user1_host1.service" in out["page"]
    assert '"host": "host1", "state": "up"' in out["api"]
    assert 'barnum_watcher_active{host="host1",user="user1",watcher="sleeper"' \
        in out["metrics"]
    assert "good line from host1" in out["logs_page_host1"]
    assert '<span class="ln">out' in out["output_host1"]
    assert "host2" in out["watch"] and 'id="host-host2"' in out["page"]  # shown, not hidden


@SETTINGS
@given(op=st.sampled_from(["status", "stats", "logs", "circusctl", "output", "cancel"]),
       data=st.data())
def test_any_answer_to_any_op_leaves_the_other_host_intact(op, data):
    bad = data.draw(answers_for(op))
    s = two_hosts(lambda o, req: bad if o == op else good_answer(o, req))
    try:
        assert_good_host_intact(render_everything(s, []))
        if op == "stats":
            res = s.stats([BAD])[BAD]
            assert isinstance(res, dict) or res.startswith("bailey: sent an invalid stats")
    finally:
        s.closing.set()


@SETTINGS
@given(evs=st.lists(events, min_size=1, max_size=6), snapshot=st.none() | mutated(document(BAD)))
def test_any_event_leaves_the_other_host_intact(evs, snapshot):
    s = two_hosts(good_answer, bad_snapshot=snapshot)
    sub = s.subscribe()
    try:
        for ev in evs:
            try:
                s.links[BAD].chan.line(ev)
            except _LinkError as e:  # not a JSON object: the link drops the connection
                assert "not a JSON object" in str(e) or "subscribe refused" in str(e)
                s.links[BAD]._fail(e)
                break
        pushed = []
        while (ev := sub.get(0)) is not None:
            pushed.append(ev)
        assert all(ev.host in ("", BAD) for ev in pushed)
        assert_good_host_intact(render_everything(s, pushed))
        assert s.host_states()[GOOD].rejected == 0
    finally:
        sub.close()
        s.closing.set()


@SETTINGS
@given(line=st.sampled_from([math.nan, math.inf, 1e300, -1e300, 10**30, "soon", [1], None]))
def test_host_times_reach_no_renderer_as_a_trap(line):
    """The red team's timestamps: in logs, circus events and stats, on every front end."""
    def bad(op, req):
        if op == "logs":
            return {"unit": req["unit"], "lines": [{"t": line, "message": "bad time"}]}
        return good_answer(op, req)
    s = two_hosts(bad)
    s.links[BAD].chan.line({"event": "circus", "unit": BAD_UNIT, "user": "user1",
                            "watcher": "sleeper", "action": "reap",
                            "data": {"time": line, "exit_code": 1}})
    try:
        out = render_everything(s, [])
        assert_good_host_intact(out)
        if isinstance(line, float) or line is None:  # a number out of range: line kept
            assert "bad time" in out["logs"]
    finally:
        s.closing.set()


def test_a_refused_answer_is_counted_and_noted_for_that_host_only():
    s = two_hosts(lambda op, req: {"instances": "lots"} if op == "stats" else
                  good_answer(op, req))
    try:
        got = s.stats()
        assert got[BAD] == ("bailey: sent an invalid stats answer: "
                            "stats.instances is a string, not a list")
        assert isinstance(got[GOOD], dict)
        st2 = s.host_states()[BAD]
        assert st2.rejected == 1 and st2.note.startswith("stats: stats.instances") is False
        assert "stats.instances is a string" in st2.rejected_text
        assert s.host_states()[GOOD].rejected == 0
        s.links[BAD].chan.line({"id": 4242, "ok": True, "result": []})
        assert s.host_states()[BAD].note == "an answer to a request never made (id 4242)"
        assert s.host_states()[BAD].state == "up"  # the host stays: only the message goes
        ev = SessionEvent("rejected", BAD, {"count": 2, "reason": s.host_states()[BAD].note})
        assert event_line(ev) == ("host2: bailey sent a bad message, dropped: an answer to a "
                                  "request never made (id 4242)")
    finally:
        s.closing.set()


# -- section 6: bounded threads and memory; section 7: plain host errors --------------------


def test_a_flood_of_unknown_units_and_gaps_runs_one_refresh_at_a_time():
    calls = []

    def slow_status(op, req):
        if op == "status":
            calls.append(time.monotonic())
            time.sleep(0.3)
        return good_answer(op, req)

    s = two_hosts(slow_status)
    try:
        link = s.links[BAD]
        start, peak = time.monotonic(), 0
        for n in range(2000):  # each one asked for a refresh (and a thread) before
            link.chan.line({"event": "unit", "unit": f"circus_new{n}_host2.service",
                            "active_state": "active"})
            if n % 100 == 0:
                link.chan.seq += 5  # a gap
                peak = max(peak, sum(t.name == f"refresh-{BAD}" for t in threading.enumerate()))
        flood = time.monotonic() - start
        assert peak <= 1
        time.sleep(2.5)
        # one at once, then at most one a second while the flood lasts, then one for the rest
        assert 1 <= len(calls) <= 2 + flood, (calls, flood)
        # rate-limited (the gate spaces the starts by 1 s; the host sees them with jitter)
        assert all(b - a >= 0.8 for a, b in itertools.pairwise(calls)), calls
    finally:
        s.closing.set()


def test_the_refresh_gate_runs_one_keeps_one_and_spaces_them():
    g = RefreshGate(1.0)
    assert g.want() and not g.want() and not g.want()  # one starts, the rest: one pending
    assert g.delay(0.0) == 0.0
    g.started(10.0)
    assert not g.want()  # asked while it runs: pending again
    assert g.finished()  # so it runs once more...
    assert g.delay(10.4) == pytest.approx(0.6)  # ...a second after the last start
    g.started(11.0)
    assert not g.finished() and not g.running  # nothing asked meanwhile: done
    assert g.want()


def test_a_slow_reader_holds_a_bounded_queue_and_is_told_what_it_lost():
    s = two_hosts(good_answer)
    sub = s.subscribe()
    sub.max_bytes = 4 * 1024 * 1024
    try:
        big = "x" * (256 * 1024)
        for _ in range(200):  # 50 MiB of log lines nobody reads
            s.links[BAD].chan.line({"event": "log", "unit": BAD_UNIT,
                                    "line": {"t": time.time(), "message": big}})
        assert sub.bytes <= 4 * 1024 * 1024
        first = sub.get(0)
        assert first.kind == "dropped" and first.data["count"] >= 180
        assert first.to_dict()["count"] == first.data["count"]  # watch --json prints it
    finally:
        sub.close()
        s.closing.set()


class Trickle:
    """A host that sends one byte every ``every`` seconds and never a hello."""

    def __init__(self, every: float) -> None:
        self.every, self.timeout = every, None

    def settimeout(self, t: float) -> None:
        self.timeout = t

    def recv(self, n: int) -> bytes:
        if self.timeout is not None and self.timeout < self.every:
            time.sleep(self.timeout)
            raise TimeoutError
        time.sleep(self.every)
        return b" "


def test_the_hello_has_one_deadline_however_the_host_trickles():
    s = two_hosts(good_answer)
    try:
        start = time.monotonic()
        try:
            s.links[BAD]._first_line(Trickle(0.2), 1.5)
        except _LinkError as e:
            assert str(e) == "bailey --serve sent no hello within 1.5s"
        else:
            raise AssertionError("no deadline")
        assert time.monotonic() - start < 3
    finally:
        s.closing.set()


def test_deep_huge_and_unasked_messages_are_host_errors_in_plain_words():
    s = two_hosts(good_answer)
    link = s.links[BAD]
    try:
        for raw, words in ((b"[" * 200000 + b"]" * 200000, "nested too deeply"),
                           (b'{"a": ' * 200000, "nested too deeply"),
                           (b"\xff\xfe garbage", "not JSON"), (b"[1]", "not a JSON object")):
            try:
                link._line(raw)
            except _LinkError as e:
                assert words in str(e) and "internal" not in str(e) and "Error" not in str(e)
            else:
                raise AssertionError(raw[:20])
        assert link.max_line == Options().max_output  # the one-shot path's cap
        with pytest.raises(LineTooLong, match=f"^a line over {link.max_line} bytes$"):
            LineBuffer(link.max_line).feed(b"x" * (link.max_line + 1))
        link.chan.line({"id": 99, "ok": True, "result": None})
        link.chan.line({"id": "x", "ok": True, "result": None})
        link.chan.line({"id": 1, "ok": True, "result": []})  # the subscription's id
        st2 = s.host_states()[BAD]
        assert st2.rejected == 3 and st2.state == "up"
        assert "subscribe answer is a list, not an object" in st2.note
    finally:
        s.closing.set()


def test_a_document_nested_too_deeply_is_a_host_error_in_the_one_shot_path_too():
    from barnum.model.results import HostResult, interpret

    r = HostResult("host2", [], [])
    r.stdout, r.exit_status = '{"a":' * 100000 + "1" + "}" * 100000, 0
    interpret(r)
    assert r.error == "bailey printed JSON nested too deeply to read"


def test_a_host_passing_off_another_hosts_instances_gets_them_refused():
    """host2's link delivers host1's document (its name, its units): the session keeps
    none of those instances for host2, in the snapshot, in a refresh and in a resync,
    so no action planned on host2's rows can name host1's units."""
    s = two_hosts(lambda op, req: document(GOOD), bad_snapshot=document(GOOD))
    try:
        def units(host: str) -> list[str]:
            rep = s.links[host].copy().report
            return [i.unit for i in rep.instances] if rep else []

        assert units(BAD) == []
        assert GOOD_UNIT in units(GOOD)
        result = s.refresh([BAD])
        assert all(not h.report or not h.report.instances for h in result.hosts)
        s.links[BAD].chan.line({"event": "resync", "seq": 101, "epoch": EPOCH,
                                "snapshot": document(GOOD)})
        assert units(BAD) == []
        rep = s.links[BAD].copy().report
        assert rep is None or any("instance refused" in e or "circus_" in e
                                  for e in rep.errors), rep
    finally:
        s.closing.set()
