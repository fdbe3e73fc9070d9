"""barnum.live.wire: each op's result and each event kind of bailey-serve/1, checked field by field.

The good shapes are what bailey really sends (recorded on the test fleet in
tests/data); the bad ones are what a compromised host sent in the red-team
pass (issue 18): wrong types, NaN, far-future times, nesting.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from barnum.live.wire import Checked, WireError, check_event, check_result, host_time
from barnum.text.sanitize import Clean

DATA = Path(__file__).parents[1] / "data"
SNAP = json.loads((DATA / "web" / "fleet_snapshot.json").read_text())
STATS = SNAP["stats"]["host1"]
NOW = time.time()
H = "host1"  # the host whose link delivered the event


def _doc(host="host1"):
    return {"schema": "bailey/1", "host": host, "bailey_version": "0.1.0",
            "circusctl_args": ["status"], "instances": SNAP["hosts"][host]["report"]["instances"]}


def test_real_stats_pass_and_keep_their_numbers():
    out = check_result("stats", STATS, NOW)
    w = out["instances"][0]["watchers"][0]
    assert (w["name"], w["numprocesses"], w["processes"][0]["pid"]) == ("sleeper", 1, 115)
    assert isinstance(w["name"], Clean) and w["processes"][0]["rss"] == 1468006


@pytest.mark.parametrize("bad, fault", [
    ({"instances": "many"}, "stats.instances is a string, not a list"),
    ({"instances": [{"watchers": {"a": 1}}]},
     "stats.instances[0].watchers is an object, not a list"),
    ({"instances": [{"watchers": [{"name": "w", "processes": [{"cpu": "hot"}]}]}]},
     "processes[0].cpu is a string, not a number"),
    ({"instances": [{"watchers": [{"name": "w", "processes": [{"cpu": math.nan}]}]}]},
     "not a finite number"),
    ({"instances": [{"watchers": [{"name": "w", "processes": [{"rss": -5}]}]}]},
     "rss is -5, not a count"),
    ({"instances": [{"watchers": [{"name": "w", "processes": [{"pid": 10**400}]}]}]},
     "pid is a huge number, not a count"),
    ({"instances": [{"watchers": [{"name": ["w"]}]}]}, "name is a list, not a string"),
    ({"instances": [{"memory_current": True}]}, "memory_current is True, not a count"),
    ([], "stats is a list, not an object"),
])
def test_stats_of_the_wrong_shape_are_refused(bad, fault):
    with pytest.raises(WireError) as e:
        check_result("stats", bad, NOW)
    assert fault in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_host_times_outside_a_sane_window_are_refused():
    assert host_time(NOW, NOW) == NOW
    for bad in (math.nan, math.inf, -math.inf, 1e300, 10**400, NOW + 400 * 86400, -1, 0,
                "12", True, None, [1]):
        assert host_time(bad, NOW) is None, bad
    out = check_result("logs", {"unit": "u", "lines": [
        {"t": 1e300, "message": "far"}, {"t": math.nan, "message": "nan"},
        {"t": NOW, "priority": 6, "pid": 3, "message": "\x1b[2Jok"}]}, NOW)
    assert [ln["t"] for ln in out["lines"]] == [None, None, NOW]
    assert out["lines"][2]["message"] == "\\e[2Jok"


def test_a_log_time_that_is_not_a_number_refuses_the_answer():
    with pytest.raises(WireError, match=r"logs.lines\[0\].t is a string, not a number"):
        check_result("logs", {"unit": "u", "lines": [{"t": "yesterday", "message": "m"}]}, NOW)


def test_status_subscribe_and_resync_go_through_the_bailey1_validator():
    got = check_result("status", _doc(), NOW)
    assert isinstance(got, Checked) and got.report.instances[0].unit == "circus_user1_host1.service"
    assert check_result("subscribe", {"snapshot": _doc()}, NOW).report.host == "host1"
    bad = _doc()
    bad["instances"] = [{**bad["instances"][0], "state": ["ok"]}]
    with pytest.raises(WireError, match=r"snapshot: instances\[0\]\.state is a list"):
        check_result("subscribe", {"snapshot": bad}, NOW)
    with pytest.raises(WireError, match=r"resync snapshot: not a bailey/1 document"):
        check_event({"event": "resync", "snapshot": 5}, NOW, H)


def test_output_and_cancel_and_ping():
    out = check_result("output", {"unit": "u", "watcher": "w", "stream": "stdout", "path": "/p",
                                  "lines": ["a\x07"], "truncated": False}, NOW)
    assert out["lines"] == ["a\\x07"]
    with pytest.raises(WireError, match=r"output.stream is neither"):
        check_result("output", {"unit": "u", "watcher": "w", "stream": "/etc/passwd",
                                "path": "/p", "lines": []}, NOW)
    with pytest.raises(WireError, match=r"output.lines is not a list of strings"):
        check_result("output", {"unit": "u", "watcher": "w", "stream": "stderr", "path": "/p",
                                "lines": [1]}, NOW)
    assert check_result("cancel", {"cancelled": True}, NOW) == {"cancelled": True}
    with pytest.raises(WireError):
        check_result("cancel", [], NOW)
    assert check_result("ping", {"t": math.inf}, NOW) == {"t": None}


def test_circus_event_data_is_flattened_and_its_time_checked():
    ev = check_event({"event": "circus", "unit": "u", "user": "user1", "watcher": "w",
                      "action": "reap", "data": {"time": 1e300, "exit_code": -9,
                                                 "pid": 10**30, "nested": {"a": [1]},
                                                 "x\x1b": "y\x1b", "f": math.nan}}, NOW, H)
    assert ev["data"] == {"time": None, "exit_code": -9, "x\\e": "y\\e"}
    with pytest.raises(WireError, match=r"circus.watcher is null, not a string"):
        check_event({"event": "circus", "unit": "u", "action": "stop", "data": {}}, NOW, H)


def test_unit_and_instance_events():
    ev = check_event({"event": "unit", "unit": "circus_a_b.service", "active_state": "active",
                      "n_restarts": 3, "memory_current": None}, NOW, H)
    assert ev == {"event": "unit", "unit": "circus_a_b.service", "user": None,
                  "active_state": "active", "n_restarts": 3, "memory_current": None}
    with pytest.raises(WireError, match=r"unit.main_pid is 'x', not a count"):
        check_event({"event": "unit", "unit": "u", "main_pid": "x"}, NOW, H)
    inst = _doc()["instances"][0]
    assert check_event({"event": "instance", "instance": inst}, NOW, H)["instance"]["unit"] \
        == inst["unit"]
    with pytest.raises(WireError, match=r"instance circus_user1_host1.service: instances"):
        check_event({"event": "instance", "instance": {**inst, "watchers": [1]}}, NOW, H)


def test_unknown_ops_and_kinds_are_refused():
    with pytest.raises(WireError, match=r"an answer to an unknown op 'rm'"):
        check_result("rm", {}, NOW)
    with pytest.raises(WireError, match=r"an event of unknown kind"):
        check_event({"event": ["x"]}, NOW, H)


def test_status_and_subscribe_answers_are_checked_against_the_link_host():
    # host2's link answers with a report naming host1's units: each is refused, for
    # status and for subscribe's snapshot alike (a host cannot speak for another)
    for op, result in (("status", _doc()), ("subscribe", {"snapshot": _doc()})):
        got = check_result(op, result, NOW, "host2")
        assert got.report.instances == [], op
        assert got.report.errors and all("instance refused" in e
                                         for e in got.report.errors), op
    assert check_result("status", _doc(), NOW, "host1").report.instances
