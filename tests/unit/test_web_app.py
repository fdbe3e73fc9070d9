"""barnum web's behaviour through Starlette's test client, over a recorded fleet snapshot:
actions planned and confirmed, filters, the view model, /metrics, escaping, the event stream."""

from __future__ import annotations

import json
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from barnum.web import model
from barnum.web.history import History
from tests.unit.webkit import RecordedSession, client, csrf_of, make_web, origin


def _post(c, path, body):
    return c.post(path, json=body, headers={"Origin": origin(), "X-CSRF-Token": csrf_of(c)})


def test_one_watcher_stopped_after_its_plan(tmp_path):
    web = make_web(tmp_path)
    c = client(web)
    plan = _post(c, "/api/plan", {"action": "stop", "scope": "watcher", "host": "host1",
                                  "user": "user1", "watcher": "ticker"}).json()
    assert plan["summary"] == "stop 1 watcher on 1 host (1 instance)"
    assert plan["confirm_word"] is None and web.session.calls == []
    r = _post(c, "/api/act", {"plan": plan["plan"]}).json()
    assert r["ok"] and r["results"] == [{"host": "host1", "user": "user1", "watcher": "ticker",
                                         "ok": True, "error": None}]
    # structured addressing: the host and its users as data, never target text
    assert web.session.calls == [("circusctl", ["stop", "ticker"], {"host1": ["user1"]})]
    again = _post(c, "/api/act", {"plan": plan["plan"]})  # a plan runs once
    assert again.status_code == 400 and len(web.session.calls) == 1
    audit = [json.loads(x) for x in (tmp_path / "audit.log").read_text().splitlines()]
    assert [a["result"] for a in audit] == ["started", "ok", "ok"]  # start, each, outcome
    assert all(a["who"].startswith("operator/") and a["action"] == "stop" for a in audit)
    assert len({a["plan"] for a in audit}) == 1
    assert all(a["items"][0]["watcher"] == "ticker" for a in audit)


def test_fleet_wide_needs_the_count_typed(tmp_path):
    web = make_web(tmp_path)
    c = client(web)
    plan = _post(c, "/api/plan", {"action": "restart", "scope": "fleet"}).json()
    # recorded fleet: host1 and host2 two instances each, host3 one, two watchers each
    assert plan["summary"] == "restart 10 watchers on 3 hosts (5 instances)"
    assert plan["confirm_word"] == "10"
    bad = _post(c, "/api/act", {"plan": plan["plan"], "typed": "9"})
    assert bad.status_code == 400 and "type '10'" in bad.json()["error"]
    assert web.session.calls == []
    ok = _post(c, "/api/act", {"plan": plan["plan"], "typed": "10"}).json()
    assert ok["ok"] and len(ok["results"]) == 10
    for name in ("sleeper", "ticker"):  # each name on each host, its instances there
        calls = [call[2] for call in web.session.calls if call[1][1] == name]
        assert sorted(h for call in calls for h in call) == ["host1", "host2", "host3"]
        assert sum(len(users) for call in calls for users in call.values()) == 5


def test_one_name_fleet_wide_above_threshold_needs_the_name(tmp_path):
    web = make_web(tmp_path, threshold=2)
    c = client(web)
    plan = _post(c, "/api/plan", {"action": "stop", "scope": "fleet", "watcher": "ticker"}).json()
    assert plan["watchers"] == 5 and plan["confirm_word"] == "ticker"


def test_selection_is_the_filtered_view(tmp_path):
    web = make_web(tmp_path)
    c = client(web)
    plan = _post(c, "/api/plan", {"action": "incr", "scope": "selection",
                                  "q": "t=user2@host1 host2&watcher=sleep*"}).json()
    assert [(i["host"], i["user"], i["watcher"]) for i in plan["items"]] == [
        ("host1", "user2", "sleeper"), ("host2", "user1", "sleeper"),
        ("host2", "user2", "sleeper")]


@pytest.mark.parametrize("body", [
    {"action": "add", "scope": "watcher", "host": "host1", "user": "user1", "watcher": "x"},
    {"action": "stop; rm -rf /", "scope": "fleet"},
    {"action": "stop", "scope": "everything"},
    {"action": "stop", "scope": "watcher", "host": "host1", "user": "user1",
     "watcher": "no-such"},
    {"action": "stop", "scope": "selection", "q": "t=nohost"},
])
def test_no_arbitrary_command(tmp_path, body):
    web = make_web(tmp_path)
    r = _post(client(web), "/api/plan", body)
    assert r.status_code == 400 and r.json()["ok"] is False
    assert web.session.calls == []


def test_forms_work_without_javascript(tmp_path):
    web = make_web(tmp_path)
    c = client(web)
    token = csrf_of(c)
    r = c.post("/plan", data={"csrf": token, "scope": "instance", "host": "host2",
                              "user": "user2", "action": "restart"},
               headers={"Origin": origin()})
    assert r.status_code == 200 and "restart 2 watchers on 1 host" in r.text
    plan_id = re.search(r'name="plan" value="([^"]+)"', r.text).group(1)
    r = c.post("/act", data={"csrf": token, "plan": plan_id}, headers={"Origin": origin()})
    assert r.status_code == 200 and "ok" in r.text
    assert sorted(web.session.calls) == sorted([
            ("circusctl", ["restart", "sleeper"], {"host2": ["user2"]}),
            ("circusctl", ["restart", "ticker"], {"host2": ["user2"]})])


def test_filters_live_in_the_url(tmp_path):
    c = client(make_web(tmp_path))
    page = c.get("/?t=host2").text
    assert re.findall(r'<tbody id="host-([^"]+)"', page) == ["host2"]
    page = c.get("/?t=user1@*&watcher=tick*").text
    rows = re.findall(r'<tr class="w[^"]*" data-host="([^"]+)" data-user="([^"]+)" '
                      r'data-watcher="([^"]+)"', page)
    assert rows == [("host1", "user1", "ticker"), ("host2", "user1", "ticker"),
                    ("host3", "user1", "ticker")]
    assert 'value="user1@*"' in page  # the filter is shown as given
    bad = c.get("/?t=hots1").text
    assert "unknown target &#x27;hots1&#x27;" in bad and "did you mean host1" in bad
    failed = c.get("/?state=failed").text
    assert re.findall(r'<tbody id="host-([^"]+)"', failed) == ["host3", "host4"]


def test_problems_sort_first_and_flags(tmp_path):
    view = make_web(tmp_path).hub.view(make_web(tmp_path).hub.whole())
    assert [h.host for h in view.hosts] == ["host3", "host4", "host1", "host2"]
    host4 = view.hosts[1]
    broken = next(i for i in host4.instances if i.user == "user1")
    assert broken.flags and broken.flags[0].startswith("systemd says active, circus does not")
    c = view.counters
    assert (c.hosts_up, c.hosts_down, c.instances_ok, c.instances_failed,
            c.watchers_active, c.watchers_stopped, c.watchers_flapped) == (4, 0, 6, 3, 10, 0, 0)


def test_fewer_processes_than_wanted_is_flagged():
    assert model.watcher_flags("active", 1, 3) == ["1 of 3 processes running"]
    assert model.watcher_flags("active", 3, 3) == []
    assert model.watcher_flags("stopped", 0, 3) == []


def test_flapping_from_reap_events():
    h = History()
    for t in (100.0, 110.0, 120.0):
        h.note_circus("host1", {"action": "reap", "watcher": "w", "user": "u",
                                "data": {"process_pid": 7, "exit_code": -9, "time": t}}, t)
    assert h.flapping(("host1", "u", "w"), 121.0)
    assert not h.flapping(("host1", "u", "w"), 200.0)
    assert h.flapped_recently(("host1", "u", "w"), 200.0)
    assert not h.flapped_recently(("host1", "u", "w"), 120.0 + 3601)
    assert h.moments(("host1", "u", "w"))[0].describe() == "pid 7 killed by signal 9"


def test_hostile_names_are_inert(tmp_path):
    evil = "<script>alert(1)</script>\"'&\x1b[2J<img src=x onerror=alert(2)>"

    def edit(doc):
        inst = doc["hosts"]["host1"]["report"]["instances"][0]
        inst["watchers"][evil] = "active"
        inst["error"] = evil
    web = make_web(tmp_path, RecordedSession(edit))
    page = client(web).get("/").text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&amp;\\e[2J&lt;img" in page
    assert "\x1b" not in page
    text = _metrics(web)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    labels = {s.labels["watcher"] for s in families["barnum_watcher_active"].samples}
    assert evil.replace("\x1b", "\\e") in labels  # cleaned, then escaped and parsed back


def _metrics(web):
    return client(web).get("/metrics").text


def test_metrics_parse_as_prometheus_text(tmp_path):
    web = make_web(tmp_path)
    r = client(web).get("/metrics")
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    fams = {f.name: f for f in text_string_to_metric_families(r.text)}
    up = {s.labels["host"]: s.value for s in fams["barnum_host_up"].samples}
    assert up == {"host1": 1, "host2": 1, "host3": 1, "host4": 1}
    procs = {(s.labels["host"], s.labels["user"], s.labels["watcher"]): s.value
             for s in fams["barnum_watcher_processes"].samples}
    assert procs[("host1", "user1", "ticker")] == 1 and len(procs) == 10
    failed = {(s.labels["host"], s.labels["user"]) for s in fams["barnum_unit_failed"].samples
              if s.value == 1}
    assert failed == {("host3", "user3"), ("host4", "user1"), ("host4", "user2")}
    assert {s.labels["host"] for s in fams["barnum_host_freshness_seconds"].samples} == \
        {"host1", "host2", "host3", "host4"}


@pytest.mark.timeout(30)
def test_event_stream_sends_a_changed_host(tmp_path):
    web = make_web(tmp_path)
    c = client(web)
    seen = []
    with c.stream("GET", "/api/events?t=host2") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in r.iter_lines():
            if line.startswith("retry:"):  # the stream is open: a change now is news
                web.hub.bump("host2")
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event:
                seen.append((event, json.loads(line[6:])))
                if event == "counters":
                    web.hub.closing.set()  # ends the stream
    host = [d for ev, d in seen if ev == "host"]
    assert [d["host"] for d in host] == ["host2"] and 'id="host-host2"' in host[0]["html"]
    assert ("order", ["host2"]) in seen


def test_refresh_rereads(tmp_path):
    web = make_web(tmp_path)
    c = client(web, role="readonly")
    r = _post(c, "/api/refresh", {})
    assert r.json()["ok"] and web.session.calls == [("refresh",)]


def test_group_filter_uses_the_cli_expressions(tmp_path):
    session = RecordedSession(groups={"front": ["host1", "user2@host2"], "db": ["host3"]})
    c = client(make_web(tmp_path, session))
    page = c.get("/?group=front").text
    assert '<option value="front" selected>' in page
    rows = re.findall(r'<tr class="w[^"]*" data-host="([^"]+)" data-user="([^"]+)" ', page)
    assert sorted(set(rows)) == [("host1", "user1"), ("host1", "user2"), ("host2", "user2")]
    page = c.get("/?" + "t=%40front%2C%21host1").text  # @front,!host1: set operations
    assert re.findall(r'<tbody id="host-([^"]+)"', page) == ["host2"]
    assert "unknown group" in c.get("/?group=nope").text


def test_a_flapping_watcher_is_marked_and_counted(tmp_path):
    import time as _time

    web = make_web(tmp_path)
    now = _time.time()
    for k in range(3):
        web.hub.history.note_circus("host2", {"action": "reap", "watcher": "ticker",
                                              "user": "user1", "data": {
                                                  "process_pid": 40 + k, "exit_code": 1,
                                                  "time": now - 10 + k}}, now)
    view = web.hub.view(web.hub.whole())
    assert view.counters.watchers_flapped == 1
    assert view.hosts[0].host == "host2"  # a flapping watcher sorts its host first
    page = client(web).get("/?t=user1@host2").text
    row = re.search(r'<tr class="w problem[^"]*" data-host="host2" data-user="user1" '
                    r'data-watcher="ticker">.*?</tr>', page, re.S).group(0)
    assert "FLAPPING" in row and "pid 42 exited with code 1" in row
    assert "/logs?host=host2&amp;unit=circus_user1_host2.service&amp;around=" in row
    assert '<span class="n">1</span> watcher flapped (last hour)' in page


def test_an_exception_in_one_hosts_part_fails_only_its_rows_and_is_audited(tmp_path):
    """Issue 18, section 4: the other hosts' results are still reported (200, not 500),
    and the audit has the start, every result (the failures too) and the outcome."""
    session = RecordedSession()
    real = session.circusctl

    def circusctl(args, targets=None, timeout=None):
        if "host2" in targets:
            raise RuntimeError("boom\nsecond line")
        return real(args, targets, timeout)

    session.circusctl = circusctl
    web = make_web(tmp_path, session)
    c = client(web)
    plan = _post(c, "/api/plan", {"action": "restart", "scope": "fleet"}).json()
    r = _post(c, "/api/act", {"plan": plan["plan"], "typed": plan["confirm_word"]})
    assert r.status_code == 200
    rows = r.json()["results"]
    assert len(rows) == 10 and not r.json()["ok"]
    bad = [x for x in rows if not x["ok"]]
    assert {x["host"] for x in bad} == {"host2"} and len(bad) == 4
    assert all(x["error"] == "internal error: RuntimeError boom" for x in bad)
    assert all(x["ok"] for x in rows if x["host"] != "host2")
    audit = [json.loads(x) for x in (tmp_path / "audit.log").read_text().splitlines()]
    assert audit[0]["result"] == "started" and len(audit[0]["items"]) == 10
    each = audit[1:-1]
    assert len(each) == 10 and sorted(a["result"] for a in each).count("failed") == 4
    assert audit[-1]["result"] == "4 of 10 failed"


def test_a_watcher_named_like_an_option_is_never_acted_on(tmp_path):
    """A circus user's watcher ``--endpoint=...`` would be read by circusctl as an option."""
    def edit(doc):
        inst = doc["hosts"]["host1"]["report"]["instances"][0]
        inst["watchers"]["--endpoint=tcp://127.0.0.1:5510"] = "active"
    web = make_web(tmp_path, RecordedSession(edit))
    c = client(web)
    r = _post(c, "/api/plan", {"action": "stop", "scope": "watcher", "host": "host1",
                               "user": "user1", "watcher": "--endpoint=tcp://127.0.0.1:5510"})
    assert r.status_code == 400 and web.session.calls == []
    plan = _post(c, "/api/plan", {"action": "restart", "scope": "instance", "host": "host1",
                                  "user": "user1"}).json()
    assert sorted(i["watcher"] for i in plan["items"]) == ["sleeper", "ticker"]
