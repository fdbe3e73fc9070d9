"""The web page's "restart unit" on the real fleet: a circusd SIGSTOPped on its host shows
as "circusd not answering" in real headless Chromium and in /metrics; the row's button,
confirmed, restarts the unit through systemctl (as the non-root operator, through
``sudo -n`` and the README's sudoers line).  The truth is read on the host (systemctl
and circusctl through nsenter); the action is in the audit file and in the history."""

from __future__ import annotations

import json
import urllib.request

import pytest

from barnum.model.circusd import NOT_ANSWERING
from tests.e2e.test_unit_e2e import _sudo_on_machine, answers, rule, show  # noqa: F401
from tests.e2e.test_web_e2e import WAIT, browser, page, served, shot  # noqa: F401
from tests.waiting import until

pytestmark = pytest.mark.fleet

HOST, USER = "host2", "user2"
UNIT = f"circus_{USER}_{HOST}.service"


def _metrics(srv) -> str:
    req = urllib.request.Request(srv["base"] + "/metrics", headers={
        "Authorization": f"Bearer {srv['web'].tokens.readonly}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read().decode()


def _alerts(text: str, folder, alerts: list[str]) -> dict[str, list[dict[str, str]]]:
    """Which of docs/alerts/barnum-rules.yml's alerts fire on this scrape held 10 minutes
    (promtool, as tests/e2e/test_expect_fronts_e2e.py reads it)."""
    import shutil
    from pathlib import Path

    from prometheus_client.parser import text_string_to_metric_families

    from tests.e2e.test_expect_fronts_e2e import _firing

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool missing (Debian's prometheus package; invoke setup)")
    series = []
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in s.labels.items() if v != "")
            series.append({"series": f"{s.name}{{{labels}}}", "values": f"{s.value:g}x40"})
    shutil.copy(Path(__file__).parents[2] / "docs" / "alerts" / "barnum-rules.yml",
                folder / "rules.yml")
    return _firing(promtool, folder, series, alerts)


def test_a_host_taken_down_is_up_0_and_fires_host_down(fleet, served, tmp_path):  # noqa: F811
    victim = "host3"
    with fleet.host_down(victim):
        line = f'barnum_host_up{{host="{victim}",state="down"}} 0'
        assert until(lambda: line in _metrics(served), 3 * WAIT), _metrics(served)
        text = _metrics(served)
    fired = _alerts(text, tmp_path, ["BarnumHostDown", "BarnumCircusdNotAnswering"])
    assert [(a["host"], a["state"]) for a in fired["BarnumHostDown"]] == [(victim, "down")]
    assert fired["BarnumCircusdNotAnswering"] == []
    up = f'barnum_host_up{{host="{victim}",state="up"}} 1'
    assert until(lambda: up in _metrics(served), 3 * WAIT)


def test_a_hung_circusd_is_named_and_its_row_restarts_the_unit(
        fleet, page, served, rule, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    from barnum.history.store import HistoryStore
    from barnum.web.recording import attach

    store = HistoryStore(tmp_path / "history.db")
    rec = attach(served["web"], store)
    pid = show(fleet, HOST, USER, "MainPID")
    fleet.circusd_hang(HOST, USER)
    try:
        assert not answers(fleet, HOST, USER)
        inst = page.locator(f'tr.inst[data-host="{HOST}"][data-user="{USER}"]')
        page.locator("#refresh").click()  # re-read now (bailey's own resync is slower)
        expect(page.locator("#results")).to_contain_text("refreshed:", timeout=3 * WAIT * 1000)
        expect(inst).to_contain_text(NOT_ANSWERING)
        assert show(fleet, HOST, USER, "ActiveState") == "active"  # systemd sees no fault
        line = f'barnum_circusd_up{{host="{HOST}",user="{USER}",unit="{UNIT}"}} 0'
        assert until(lambda: line in _metrics(served), WAIT), _metrics(served)
        fired = _alerts(_metrics(served), tmp_path,
                        ["BarnumCircusdNotAnswering", "BarnumInstanceFailed"])
        assert [(a["host"], a["user"], a["unit"]) for a in
                fired["BarnumCircusdNotAnswering"]] == [(HOST, USER, UNIT)]
        assert (HOST, USER) not in {(a["host"], a.get("user"))
                                    for a in fired["BarnumInstanceFailed"]}
        button = inst.locator('button[data-action="unit-restart"]')
        expect(button).to_have_count(1)
        others = page.locator('tr.inst button[data-action="unit-restart"]')
        expect(others).to_have_count(1)  # only the hung row offers it
        button.click()
        expect(page.locator("#confirm-text")).to_have_text("restart 1 unit on 1 host:")
        expect(page.locator("#confirm-list")).to_have_text(f"{UNIT} on {USER}@{HOST}")
        shot(page, "confirm-unit-restart")
        assert show(fleet, HOST, USER, "MainPID") == pid  # nothing before confirming
        page.locator("#confirm-ok").click()
        expect(page.locator("#results")).to_contain_text(f"{UNIT} on {USER}@{HOST}: ok",
                                                         timeout=4 * WAIT * 1000)
        assert show(fleet, HOST, USER, "ActiveState") == "active"
        assert show(fleet, HOST, USER, "MainPID") not in (pid, "0")
        assert until(lambda: answers(fleet, HOST, USER), WAIT)
        expect(inst).not_to_contain_text(NOT_ANSWERING, timeout=3 * WAIT * 1000)
        assert until(lambda: line.replace("} 0", "} 1") in _metrics(served), 2 * WAIT)
        audit = [json.loads(x) for x in
                 (served["state"] / "audit.log").read_text().splitlines()]
        mine = [a for a in audit if a["action"] == "unit-restart"]
        assert [a["result"] for a in mine] == ["started", "ok", "ok"]
        assert all(a["who"].startswith("operator/") for a in mine)
        assert mine[0]["items"] == [{"host": HOST, "user": USER, "unit": UNIT}]
    finally:
        fleet.circusd_resume(HOST, USER)  # a no-op once the unit was restarted
        served["web"].audit.listeners.clear()
        rec.close()
    rows = [r for r in store.query(kinds=["action"]) if r.action == "unit-restart"]
    store.close()
    assert [(r.host, r.user, r.unit, r.detail["result"]) for r in rows] == [
        (HOST, USER, UNIT, "started"), (HOST, USER, UNIT, "ok"), (HOST, USER, UNIT, "ok")]
    assert all(r.detail["who"].startswith("operator/") for r in rows)
