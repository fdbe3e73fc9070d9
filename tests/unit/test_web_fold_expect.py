"""The page at fleet scale (healthy hosts folded, problems open and first) and the page
agreeing with ``barnum check`` (unmet expectations in the counters, rows, order and
/metrics), over the recorded fleet snapshot.  The browser side is in
tests/e2e/test_expect_fronts_e2e.py and tests/e2e/test_web_e2e.py."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from barnum.spec.expect import check_session
from tests.unit.webkit import RecordedSession, client, make_web

# user2@host3 is inactive (disabled) in the snapshot: the demo's case
EXPECT = {"host1": {"user1": ["ticker", "kafka"]}, "host2": {"user3": []},
          "host3": {"user2": ["sleeper"]}, "host9": {"user1": []}}
COUNTER = re.escape('data-counter="not as expected (barnum check)">')


def _page(tmp_path, expect=None, query=""):
    web = make_web(tmp_path, RecordedSession(expect=expect))
    return web, client(web, "readonly").get("/" + query).text


def _tbodies(page: str) -> dict[str, str]:
    return dict(re.findall(r'<tbody id="host-([^"]+)" (class="[^"]*")', page))


def test_healthy_hosts_fold_to_one_line_problems_stay_open_and_first(tmp_path):
    _, page = _page(tmp_path)
    bodies = _tbodies(page)
    assert list(bodies)[:2] == ["host3", "host4"]  # problems first
    assert "folded" not in bodies["host3"] and "folded" not in bodies["host4"]
    assert "folded" in bodies["host1"] and "folded" in bodies["host2"]
    head = re.search(r'<tbody id="host-host1".*?</tr>', page).group(0)
    assert '<button type="button" class="fold" aria-expanded="false"' in head
    assert "2 instances \u00b7 4 of 4 watchers active" in head and 'class="fresh"' in head
    assert '<button type="button" class="fold"' not in re.search(
        r'<tbody id="host-host3".*?</tr>', page).group(0)
    assert '<noscript><link rel="stylesheet" href="/static/nojs.css"></noscript>' in page


def test_a_filtered_page_shows_its_rows_open(tmp_path):
    _, page = _page(tmp_path, query="?t=host1")
    assert "folded" not in _tbodies(page)["host1"]


def test_unmet_expectations_agree_with_barnum_check(tmp_path):
    web, page = _page(tmp_path, EXPECT)
    chk = check_session(web.session)
    kinds = sorted((f.kind, f.host, f.user, f.watcher) for f in chk.problems)
    assert ("instance-inactive", "host3", "user2", None) in kinds
    assert ("missing-instance", "host2", "user3", None) in kinds
    assert ("watcher-missing", "host1", "user1", "kafka") in kinds
    assert ("missing-instance", "host9", "user1", None) in kinds
    n = len(chk.problems)
    assert re.search(COUNTER + rf'<span class="n">{n}</span>', page)
    bodies = _tbodies(page)
    # every host with an unmet expectation is a problem: open, before the healthy ones
    assert all("problem" in bodies[h] and "folded" not in bodies[h]
               for h in ("host1", "host2", "host3", "host9"))
    # the inactive expected instance: its own row says so, and is a problem row
    inst = re.search(r'<tr class="inst problem" data-host="host3" data-user="user2">.*?</tr>',
                     page).group(0)
    assert "FAIL: expected instance&#x27;s unit is not active" in inst
    # a failed unit nothing expects: a check problem, but its row says so already
    failed = re.search(r'<tr class="inst problem" data-host="host3" data-user="user3">.*?</tr>',
                       page).group(0)
    assert "FAIL:" not in failed and "unit-failed" in failed
    assert ("unit-failed", "host3", "user3", None) in kinds
    # a missing instance gets a row of its own
    missing = re.search(r'<tr class="inst problem" data-host="host2" data-user="user3">.*?'
                        r"</tr>", page).group(0)
    assert "expected, no such unit" in missing and "circus_user3_host2.service" in missing
    # a missing watcher too
    kafka = re.search(r'<tr class="w problem[^"]*" data-host="host1" data-user="user1" '
                      r'data-watcher="kafka">.*?</tr>', page).group(0)
    assert "expected watcher is not in the instance" in kafka
    # an expected host outside the session shows, not counted as down
    assert "NOT FOUND" in re.search(r'<tbody id="host-host9".*?</tbody>', page).group(0)
    assert re.search(r'data-counter="hosts down"><span class="n">0</span>', page)
    # within a host, the problem instance first
    host3 = re.search(r'<tbody id="host-host3".*?</tbody>', page).group(0)
    users = re.findall(r'tr class="inst[^"]*" data-host="host3" data-user="([^"]+)"', host3)
    assert users.index("user2") < users.index("user1")


def test_state_filter_problem_keeps_unmet_rows(tmp_path):
    _, page = _page(tmp_path, EXPECT, "?state=problem")
    assert 'data-host="host3" data-user="user2"' in page
    assert 'data-host="host2" data-user="user3"' in page
    assert 'data-watcher="kafka"' in page
    _, page = _page(tmp_path, EXPECT, "?state=active")
    assert 'data-host="host2" data-user="user3"' not in page


def test_metrics_carry_each_unmet_expectation(tmp_path):
    web = make_web(tmp_path, RecordedSession(expect=EXPECT))
    text = client(web, "readonly").get("/metrics").text
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    got = {(s.labels["host"], s.labels["user"], s.labels["watcher"], s.labels["kind"])
           for s in fams["barnum_expectation_unmet"].samples if s.value == 1}
    problems = check_session(web.session).problems
    want = {(f.host, f.user or "", f.watcher or "", f.kind) for f in problems}
    assert got == want and len(want) >= 4
    assert fams["barnum_check_problems"].samples[0].value == len(want)
    assert "host9" not in {s.labels["host"] for s in fams["barnum_host_up"].samples}
    units = {s.labels["unit"] for s in fams["barnum_unit_active"].samples}
    assert "circus_user3_host2.service" not in units  # missing: no unit to describe


def test_nothing_expected_nothing_unmet(tmp_path):
    web, page = _page(tmp_path)
    assert 'data-counter="not as expected' not in page  # nothing expected: no counter
    fams = {f.name: f for f in text_string_to_metric_families(
        client(web, "readonly").get("/metrics").text)}
    assert fams["barnum_expectation_unmet"].samples == []
    assert fams["barnum_check_problems"].samples == []


def test_a_stale_host_is_a_problem_open_and_first(tmp_path):
    session = RecordedSession()
    session.states["host2"].state = "stale"
    session.states["host2"].error = "no answer for 12 s"
    web = make_web(tmp_path, session)
    bodies = _tbodies(client(web, "readonly").get("/").text)
    assert "folded" not in bodies["host2"] and "problem" in bodies["host2"]
    assert list(bodies).index("host2") < list(bodies).index("host1")
