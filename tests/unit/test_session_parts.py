"""The live session's pure parts: framing, order, events applied, bounded queues, views."""

from __future__ import annotations

import json

import pytest

from bailey.pubsub import parse_message, parse_topic
from bailey.report import Instance, Report
from bailey.stats import human_bytes, watchers_from
from barnum.cli.commands.watch import Highlights
from barnum.live.flapping import FLAP_EXITS, Flapping
from barnum.live.session import SessionEvent, Subscription
from barnum.live.state import LineBuffer, LineTooLong, SeqCheck, apply_event, valid_report
from barnum.text.sanitize import Clean
from barnum.views.logs import merged
from barnum.views.stats import rows, sort_rows


def _report() -> Report:
    rep = Report(host="h1", bailey_version="0", circusctl_args=["status"])
    rep.instances.append(Instance("circus_u1_h1.service", "u1", "User=", "enabled", "active",
                                  "running", state="ok", watchers={"web": "active"}))
    return valid_report(rep.to_dict())


def test_line_buffer_splits_and_bounds():
    b = LineBuffer(max_line=10)
    assert b.feed(b'{"a"') == []
    assert b.feed(b':1}\n{"b":2}\n{') == [b'{"a":1}', b'{"b":2}']
    with pytest.raises(LineTooLong):
        b.feed(b"x" * 20)


def test_seq_gap_and_restart():
    c = SeqCheck()
    assert c.check("e1", 1) is None
    assert c.check("e1", 2) is None
    assert c.check("e1", 4) == "gap"
    assert c.check("e2", 1) == "restart"
    assert c.check("e2", "x") == "bad"


def test_topic_parsing_with_dotted_names():
    assert parse_topic("watcher.web.app.v2.stop") == ("web.app.v2", "stop")
    assert parse_topic("watcher.x.reap") == ("x", "reap")
    assert parse_topic("stat.x") is None and parse_topic("watcher.stop") is None
    ev = parse_message([b"watcher.a.b.reap", json.dumps({"exit_code": -9}).encode()])
    assert (ev.watcher, ev.action, ev.data) == ("a.b", "reap", {"exit_code": -9})
    assert parse_message([b"watcher.a.stop", b"not json"]).data == {"raw": "not json"}


def test_events_change_a_copy_of_the_report():
    rep = _report()
    stopped = apply_event(rep, {"event": "circus", "unit": "circus_u1_h1.service",
                                "watcher": "web", "action": "stop"}, "h1")
    assert stopped.instances[0].watchers == {"web": "stopped"}
    assert rep.instances[0].watchers == {"web": "active"}  # the old one is untouched
    # circusd's events name a watcher by its res_name (lowercased, spaces as _): an
    # added one is not known by its real name yet, so the caller refreshes
    assert apply_event(stopped, {"event": "circus", "unit": "circus_u1_h1.service",
                                 "watcher": "new\x1b[2j", "action": "add"}, "h1") is None
    rep.instances[0].watchers = {Clean("My App\\e[2J"): "active", Clean("web"): "active"}
    mapped = apply_event(rep, {"event": "circus", "unit": "circus_u1_h1.service",
                               "watcher": "my_app\x1b[2j", "action": "stop"}, "h1")
    assert mapped.instances[0].watchers == {"My App\\e[2J": "stopped", "web": "active"}
    names = list(mapped.instances[0].watchers)
    assert all(isinstance(n, Clean) for n in names)
    down = apply_event(mapped, {"event": "unit", "unit": "circus_u1_h1.service",
                               "active_state": "inactive", "sub_state": "dead"}, "h1")
    assert (down.instances[0].state, down.instances[0].watchers) == ("inactive", None)
    assert apply_event(rep, {"event": "unit", "unit": "circus_new.service"}, "h1") is None
    bad = apply_event(rep, {"event": "instance", "instance": {"unit": 5}}, "h1")
    assert bad is None  # invalid: the caller asks for a snapshot instead


def test_subscription_is_bounded_and_counts_drops():
    sub = Subscription(None, maxlen=3)
    for n in range(5):
        sub.put(SessionEvent("circus", "h", {"n": n}))
    assert sub.dropped == 2
    note = sub.get(0)  # first the reader learns what it lost, then what is left
    assert (note.kind, note.data["count"]) == ("dropped", 2)
    assert [sub.get(0).data["n"] for _ in range(3)] == [2, 3, 4]
    assert sub.get(0.01) is None


def test_subscription_is_bounded_by_bytes_too():
    sub = Subscription(None, max_bytes=10 * 1024 * 1024)
    for n in range(200):  # 200 events of 1 MiB each, nobody reading
        sub.put(SessionEvent("log", "h", {"n": n}, size=1024 * 1024))
    assert sub.bytes <= 10 * 1024 * 1024 and sub.dropped == 190
    assert sub.get(0).data == {"count": 190, "why": "the reader was slow"}
    assert [sub.get(0).data["n"] for _ in range(10)] == list(range(190, 200))
    assert sub.bytes == 0
    only_logs = Subscription(None, maxlen=1, kinds={"log"})
    only_logs.put(SessionEvent("log", "h", {"n": 1}))
    only_logs.put(SessionEvent("log", "h", {"n": 2}))
    assert only_logs.get(0).data == {"n": 2}  # a reader that takes no "dropped" notes


def test_flapping_after_repeated_exits():
    flaps, marks = Flapping(), Highlights()
    for n in range(FLAP_EXITS):
        ev = SessionEvent("circus", "h", {"unit": "u", "user": "x", "watcher": "w",
                                          "action": "reap"}, t=100.0 + n)
        flaps.note_event(ev)
        marks.note(ev)
    assert flaps.flapping(("h", "x", "w"), 110.0)
    assert not flaps.flapping(("h", "x", "w"), 500.0)
    assert marks.recent(("h", "u", "w"), 103.0) and not marks.recent(("h", "u", "w"), 200.0)


def test_logs_merge_in_time_order():
    out = merged([("h2", "u", [{"t": 2.0, "message": "b"}]),
                  ("h1", "u", [{"t": 1.0, "message": "a"}, {"t": 3.0, "message": "c"}])])
    assert [r[2]["message"] for r in out] == ["a", "b", "c"]


def test_stats_rows_and_circus_numbers():
    assert human_bytes("7.25M") == int(7.25 * 1024 * 1024) and human_bytes("N/A") is None
    ws = watchers_from({"infos": {"web": {"12": {"pid": 12, "cpu": 1.5, "mem": 0.5,
                                                 "mem_info1": "2.00M", "age": 3.0}}}},
                       {"web": "active", "idle": "stopped"}, {"web": 2, "idle": 1})
    assert ws[1] == {"name": "web", "status": "active", "numprocesses": 2, "processes": [
        {"pid": 12, "cpu": 1.5, "mem": 0.5, "rss": 2097152, "age": 3.0}]}
    assert ws[0]["processes"] == []
    table = sort_rows(rows({"h10": {"instances": [{"user": "u", "watchers": ws}]},
                            "h2": {"instances": [{"user": "u", "watchers": ws}]},
                            "h3": "cannot connect"}), "name")
    assert [(r["host"], r["watcher"]) for r in table][:2] == [("h2", "idle"), ("h2", "web")]
    assert sort_rows(table, "cpu")[0]["cpu"] == 1.5


@pytest.mark.parametrize(("timeout", "want"), [(3, ["--timeout", "1"]), (8, ["--timeout", "4"]),
                                               (10, []), (60, [])])
def test_session_gives_bailey_the_one_shot_paths_circusctl_timeout(timeout, want):
    """``bailey --serve`` gets the per-instance timeout the one-shot path gives bailey
    (barnum.oneshot.plan.Plan.argv), so a hung circusd cannot outlive a request."""
    from barnum.live.session import FleetSession
    from barnum.model.config import Config
    from barnum.model.discovery import Discovery
    from barnum.transport.options import Options

    s = FleetSession(Config(users=["u1"]), Options(timeout=timeout),
                     discovery=Discovery(hosts={"h1": ["u1"]}))
    argv = s.argv()
    assert argv[argv.index("--serve") + 1:] == want
