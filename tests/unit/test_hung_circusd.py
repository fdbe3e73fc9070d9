"""A hung circusd (unit active, circusd not answering) as every front end names it, and
the web page's "restart unit" action planned, confirmed and refused (over a recorded
snapshot whose user2@host1 carries bailey's own timeout outcome)."""

from __future__ import annotations

import io
import re

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from barnum.model.circusd import NOT_ANSWERING, not_answering
from tests.unit.webkit import RecordedSession, client, csrf_of, make_web, origin

# bailey's outcome for a SIGSTOPped circusd (tests/integration/test_bailey.py checks it)
HUNG_ERROR = ("circusd did not answer on tcp://127.0.0.1:5501 within 2s "
              "(no reply within 2s)")
UNIT = "circus_user2_host1.service"


def _hang(doc) -> None:
    for i in doc["hosts"]["host1"]["report"]["instances"]:
        if i["user"] == "user2":
            i.update(state="error", exit=1, error=HUNG_ERROR, watchers=None,
                     stdout="", stderr="Timed out.\n")


def _web(tmp_path, threshold=5):
    return make_web(tmp_path, RecordedSession(edit=_hang), threshold=threshold)


def _post(c, path, body, **headers):
    h = {"Origin": origin(), "X-CSRF-Token": csrf_of(c), **headers}
    return c.post(path, json=body, headers=h)


def test_not_answering_is_a_timeout_of_an_active_unit_only():
    assert not_answering("active", "error", HUNG_ERROR)
    assert not_answering("active", "error", "circusctl exited 1: Timed out.", "Timed out.\n")
    assert not_answering("active", "error", "circusctl still running after 7s; killed")
    assert not not_answering("active", "error", "circus.ini:3: not 'key = value'")
    assert not not_answering("inactive", "error", HUNG_ERROR)
    assert not not_answering("active", "ok", None)


def test_the_cli_overview_and_the_shell_name_it(tmp_path):
    import json

    from barnum.model.results import HostResult
    from barnum.model.validate import report_from_document
    from barnum.views.render import host_lines
    from tests.unit.webkit import SNAPSHOT

    doc = json.loads(SNAPSHOT.read_text())
    _hang(doc)  # through the gate that cleans every host string, as a one-shot run does
    h = HostResult("host1", ["user1", "user2"], ["status"],
                   report=report_from_document(doc["hosts"]["host1"]["report"], "host1"))
    out = io.StringIO()
    con = Console(file=out, width=200, color_system=None)
    for line in host_lines(h):
        con.print(line)
    text = out.getvalue()
    row = next(ln for ln in text.splitlines() if UNIT in ln)
    assert row.rstrip().endswith(f"active (running)  {NOT_ANSWERING}")
    other = next(ln for ln in text.splitlines() if "circus_user1_host1.service" in ln)
    assert NOT_ANSWERING not in other


def test_watch_names_it(tmp_path):
    from barnum.cli.commands.watch import Highlights, view
    from barnum.live.flapping import Flapping

    session = RecordedSession(edit=_hang)
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(
        view(session, Highlights(), Flapping(), {}, 0.0))
    rows = [ln for ln in out.getvalue().splitlines() if "circus_" in ln]
    assert [ln.split()[0] for ln in rows if NOT_ANSWERING in ln] == [UNIT]
    assert all("active (running)" in ln for ln in rows if "circus_user1_host1" in ln)


def test_the_page_names_it_and_offers_restart_unit_to_operators_only(tmp_path):
    web = _web(tmp_path)
    page = client(web).get("/").text
    row = re.search(r'<tr class="inst[^"]*" data-host="host1" data-user="user2">.*?</tr>',
                    page).group(0)
    assert NOT_ANSWERING in row and 'value="unit-restart"' in row
    # the bad config on host4 (active, error, but no timeout) gets no such button
    bad = re.search(r'<tr class="inst[^"]*" data-host="host4" data-user="user1">.*?</tr>',
                    page).group(0)
    assert "unit-restart" not in bad and NOT_ANSWERING not in bad
    assert page.count('value="unit-restart" aria-label') == 1
    readonly = client(web, role="readonly").get("/").text
    assert NOT_ANSWERING in readonly and 'value="unit-restart" aria-label' not in readonly


def test_metrics_say_circusd_down_for_it(tmp_path):
    c = client(_web(tmp_path), role="readonly")
    text = c.get("/metrics").text
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    up = {(s.labels["host"], s.labels["user"]): s.value
          for s in fams["barnum_circusd_up"].samples}
    assert up[("host1", "user2")] == 0 and up[("host1", "user1")] == 1
    # host4's user1: active, its config unreadable, so circusd was never asked: no sample
    # (a 0 there would page "circusd not answering" for a bad circus.ini)
    assert ("host4", "user1") not in up
    failed = {(s.labels["host"], s.labels["user"]): s.value
              for s in fams["barnum_unit_failed"].samples}
    assert failed[("host4", "user1")] == 1 and failed[("host1", "user2")] == 1


def test_restart_unit_is_planned_as_barnum_unit_asks(tmp_path):
    web = _web(tmp_path)
    c = client(web)
    plan = _post(c, "/api/plan", {"action": "unit-restart", "scope": "instance",
                                  "host": "host1", "user": "user2"}).json()
    assert plan["summary"] == "restart 1 unit on 1 host"
    assert plan["items"] == [{"host": "host1", "user": "user2", "unit": UNIT}]
    assert plan["confirm_word"] is None and web.session.calls == []


def test_restart_units_above_the_threshold_needs_the_count_typed(tmp_path):
    web = _web(tmp_path, threshold=2)
    c = client(web)
    plan = _post(c, "/api/plan", {"action": "unit-restart", "scope": "selection",
                                  "q": "t=host1 host2"}).json()
    assert plan["summary"] == "restart 4 units on 2 hosts"
    assert plan["confirm_word"] == "4"
    bad = _post(c, "/api/act", {"plan": plan["plan"], "typed": "3"})
    assert bad.status_code == 400 and "type '4'" in bad.json()["error"]
    one = _post(c, "/api/plan", {"action": "unit-restart", "scope": "instance",
                                 "host": "host1", "user": "user2"}).json()
    assert one["confirm_word"] is None  # one unit: at or under the threshold
    assert web.session.calls == []
    assert not (tmp_path / "audit.log").exists()  # nothing ran, nothing claimed


def test_restart_unit_is_refused_without_csrf_origin_or_operator(tmp_path):
    web = _web(tmp_path)
    body = {"action": "unit-restart", "scope": "instance", "host": "host1", "user": "user2"}
    c = client(web)
    r = c.post("/api/plan", json=body, headers={"Origin": origin()})
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    r = c.post("/api/plan", json=body, headers={"Origin": "https://evil.example",
                                                "X-CSRF-Token": csrf_of(c)})
    assert r.status_code == 403 and "cross-origin" in r.json()["error"]
    ro = client(web, role="readonly")
    r = _post(ro, "/api/plan", body)
    assert r.status_code == 403 and "read-only" in r.json()["error"]
    assert c.get("/api/plan").status_code == 405  # POST only
    for bad in ({**body, "scope": "watcher"}, {**body, "user": "user9"},
                {**body, "action": "unit-kill"}):
        r = _post(c, "/api/plan", bad)
        assert r.status_code == 400 and r.json()["ok"] is False


def test_a_unit_the_host_adds_is_not_planned(tmp_path):
    """An instance a host reports for a user discovery does not know there (nor the users
    file) is shown, but no unit action plans it: a host cannot add units to a plan."""
    def extra(doc):
        _hang(doc)
        inst = dict(doc["hosts"]["host1"]["report"]["instances"][1])
        inst.update(user="user9", unit="circus_user9_host1.service")
        doc["hosts"]["host1"]["report"]["instances"].append(inst)

    web = make_web(tmp_path, RecordedSession(edit=extra))
    c = client(web)
    r = _post(c, "/api/plan", {"action": "unit-restart", "scope": "instance",
                               "host": "host1", "user": "user9"})
    assert r.status_code == 400 and "nothing to act on" in r.json()["error"]
    plan = _post(c, "/api/plan", {"action": "unit-restart", "scope": "fleet"}).json()
    assert "circus_user9_host1.service" not in {i["unit"] for i in plan["items"]}
    assert {(i["host"], i["user"]) for i in plan["items"]} >= {("host1", "user2")}


def test_the_toolbar_offers_the_shells_unit_verbs_on_a_selection(tmp_path):
    web = _web(tmp_path)
    c = client(web)
    page = c.get("/").text
    assert re.findall(r'<option value="(unit-[a-z-]+)">', page) == [
        "unit-start", "unit-stop", "unit-restart", "unit-reset-failed"]
    plan = _post(c, "/api/plan", {"action": "unit-reset-failed", "scope": "selection",
                                  "q": "t=user3@host3"}).json()
    assert plan["summary"] == "reset-failed 1 unit on 1 host"
    assert plan["items"] == [{"host": "host3", "user": "user3",
                              "unit": "circus_user3_host3.service"}]
    r = _post(c, "/api/plan", {"action": "unit-enable", "scope": "fleet"})
    assert r.status_code == 400  # not one of the page's verbs
