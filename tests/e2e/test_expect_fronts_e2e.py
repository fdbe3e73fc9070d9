"""Every front end agrees with ``barnum check`` on the real fleet.

The users file expects user2@host3 (its unit disabled and inactive on the host:
the demo's case) and user3@host2 (no such unit on the host).  ``barnum check
--json`` is run as the operator would; then the web page in Chromium (the
counter, the rows, problems first), ``barnum watch`` piped (its ``check``
line), the shell's ``status`` and ``/metrics`` (read by prometheus_client's
parser) must say the same.  The staged state is read on the hosts first.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.subcommand import run_sub
from tests.e2e.test_barnum_e2e import barnum_cmd, truth_units
from tests.e2e.test_shell_script import shell
from tests.e2e.test_web_e2e import browser, serving, sign_in  # noqa: F401 (browser: a fixture)

pytestmark = pytest.mark.fleet

EXPECT = "expect:\n  host3: {user2: [sleeper]}\n  host2: {user3: []}\n"


@pytest.fixture(scope="module")
def users_file(fleet, tmp_path_factory):
    f = tmp_path_factory.mktemp("expect") / "circus_users.yaml"
    f.write_text(fleet.users_file.read_text() + EXPECT)
    units = truth_units(fleet, "host3")
    assert units["circus_user2_host3.service"]["ActiveState"] == "inactive"  # as staged
    assert "circus_user3_host2.service" not in truth_units(fleet, "host2")
    return f


@pytest.fixture(scope="module")
def checked(fleet, users_file):
    """What ``barnum check --json`` says: the problems every front end must show."""
    p = run_sub(fleet, users_file, "check", "--json")
    doc = json.loads(p.stdout)
    problems = {(f["kind"], f["host"], f["user"], f["watcher"]) for f in doc["findings"]
                if f["severity"] == "problem"}
    assert ("instance-inactive", "host3", "user2", None) in problems
    assert ("missing-instance", "host2", "user3", None) in problems
    return problems


@pytest.fixture(scope="module")
def served(fleet, users_file, tmp_path_factory):
    with serving(fleet, users_file, tmp_path_factory.mktemp("web-state")) as s:
        yield s


def test_web_page_counts_shows_and_sorts_unmet_expectations(fleet, browser, served,  # noqa: F811
                                                            checked):
    from playwright.sync_api import expect

    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    try:
        sign_in(pg, served)
        pg.wait_for_selector("#live.on", timeout=10000)
        counter = pg.locator('[data-counter="not as expected (barnum check)"] .n')
        expect(counter).to_have_text(str(len(checked)), timeout=15000)
        inactive = pg.locator('#host-host3 tr.inst[data-user="user2"]')
        expect(inactive).to_have_class(re.compile(r"\bproblem\b"))
        expect(inactive.locator(".notes")).to_contain_text(
            "FAIL: expected instance's unit is not active")
        expect(inactive).to_be_visible()  # a problem host is never folded
        users = [r.get_attribute("data-user") for r in pg.locator("#host-host3 tr.inst").all()]
        assert users.index("user2") < users.index("user1"), users  # problems first
        missing = pg.locator('#host-host2 tr.inst[data-user="user3"]')
        expect(missing).to_be_visible()
        expect(missing.locator(".systemd")).to_have_text("expected, no such unit")
        expect(missing.locator(".notes")).to_contain_text("expected instance has no unit")
        hosts = [b.get_attribute("data-host") for b in pg.locator("tbody.host").all()]
        # host2 is otherwise healthy: the unmet expectation alone puts it before host1
        assert hosts.index("host2") < hosts.index("host1"), hosts
        assert "folded" in pg.locator("#host-host1").get_attribute("class")
        pg.screenshot(path=str(_artifacts() / "expectations.png"), full_page=True)
    finally:
        ctx.close()
    assert errors == []


def _artifacts():
    from tests.e2e.test_web_e2e import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def test_metrics_gauge_each_unmet_expectation(served, checked):
    from prometheus_client.parser import text_string_to_metric_families

    req = urllib.request.Request(served["base"] + "/metrics", headers={
        "Authorization": f"Bearer {served['web'].tokens.readonly}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        fams = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
    got = {(s.labels["kind"], s.labels["host"], s.labels["user"] or None,
            s.labels["watcher"] or None) for s in fams["barnum_expectation_unmet"].samples
           if s.value == 1}
    assert got == checked
    assert fams["barnum_check_problems"].samples[0].value == len(checked)


def test_watch_piped_says_what_check_says(fleet, users_file, checked):
    cmd = [*barnum_cmd(), "watch", "--config", str(users_file), "--ssh-config",
           str(fleet.ssh_config)]
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, env=env)
    lines: list[dict] = []
    reader = threading.Thread(target=lambda: lines.extend(
        json.loads(ln) for ln in proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = [ln for ln in list(lines) if ln.get("kind") == "check"]
            if found:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"no check line from barnum watch: {lines[:3]}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    line = found[0]
    got = {(f["kind"], f["host"], f["user"], f["watcher"]) for f in line["findings"]
           if f["severity"] == "problem"}
    assert got == checked and line["problems"] == len(checked) and line["exit"] in (1, 3)


def test_shell_status_lists_the_unmet_expectations(fleet, users_file, checked):
    r = shell(fleet, "-c", "status", config=users_file)
    assert r.returncode != 0, r.stdout
    assert "FAIL host3 user2: expected instance's unit is not active" in r.stdout
    assert "FAIL host2 user3: expected instance has no unit on the host" in r.stdout
    assert f"check: NOT as expected: {len(checked)} problems" in r.stdout


def test_watch_in_a_terminal_puts_unmet_expectations_first(fleet, users_file, checked,
                                                           tmp_path):
    import shlex
    import shutil

    if shutil.which("tmux") is None:
        pytest.skip("needs tmux")
    sock = f"barnum-expect-{os.getpid()}"

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True,
                              timeout=10).stdout

    cmd = shlex.join([*barnum_cmd(), "watch", "--config", str(users_file), "--ssh-config",
                      str(fleet.ssh_config), "--timeout", "5", "host2", "host3"])
    # the pane's own size, not one inherited from the environment (rich reads COLUMNS)
    tmux("new-session", "-d", "-s", "w", "-x", "160", "-y", "50",
         f"env -u COLUMNS -u LINES {cmd}; sleep 60")
    try:
        deadline = time.monotonic() + 30
        screen = ""
        while time.monotonic() < deadline:
            screen = tmux("capture-pane", "-p", "-t", "w")
            if "check: NOT as expected" in screen and "circus_user1_host3" in screen:
                break
            time.sleep(0.2)
        lines = screen.splitlines()
        mine = {(k, h, u) for k, h, u, _ in checked if h in ("host2", "host3")}
        assert lines[0] == f"check: NOT as expected: {len(mine)} problems", screen
        fails = [ln for ln in lines[1:] if ln.startswith("FAIL ")]
        assert lines[1:1 + len(mine)] == fails, screen  # problems first, then the table
        assert "FAIL host3 user2: expected instance's unit is not active (disabled, " \
            "inactive (dead))" in fails, screen
        assert "FAIL host2 user3: expected instance has no unit on the host (no such unit)" \
            in fails, screen
        assert len(fails) == len(mine)
        row = next(ln for ln in lines if "circus_user2_host3" in ln)
        assert "NOT AS EXPECTED" in row, screen
    finally:
        tmux("kill-server")



def _firing(promtool: str, folder: Path, series: list[dict], alerts: list[str],
            at: str = "8m") -> dict[str, list[dict[str, str]]]:
    """Which alerts of folder/rules.yml fire at ``at`` on ``series``, with their labels:
    read from what promtool prints when each is tested for "nothing fires"."""
    import yaml

    tests = [{"eval_time": at, "alertname": a, "exp_alerts": []} for a in alerts]
    doc = {"rule_files": ["rules.yml"], "evaluation_interval": "15s",
           "tests": [{"interval": "15s", "input_series": series, "alert_rule_test": tests}]}
    (folder / "live_test.yml").write_text(yaml.safe_dump(doc))
    p = subprocess.run([promtool, "test", "rules", "live_test.yml"], cwd=folder,
                       capture_output=True, text=True, check=False)
    out = p.stdout + p.stderr
    assert "SUCCESS" in out or "FAILED" in out, out[-2000:]
    fired: dict[str, list[dict[str, str]]] = {a: [] for a in alerts}
    for block in re.split(r"\n\s*alertname: ", out)[1:]:
        name = block.split(",", 1)[0]
        got = block.split("got:", 1)[1] if "got:" in block else ""
        for labels in re.findall(r"Labels:\{(.*?)\}", got):
            fired[name].append(dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels)))
    return fired


def test_alert_rules_fire_on_a_live_scrape(served, checked, tmp_path):
    """docs/alerts/barnum-rules.yml against this fleet's own /metrics: the scrape,
    held for 10 minutes as promtool's input series, makes BarnumExpectationUnmet fire
    for exactly what barnum check finds, and BarnumHostDown for no host (all are up):
    a renamed metric or label would fail here, which promtool check cannot see."""
    import shutil

    from prometheus_client.parser import text_string_to_metric_families

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool missing (Debian's prometheus package; invoke setup)")
    req = urllib.request.Request(served["base"] + "/metrics", headers={
        "Authorization": f"Bearer {served['web'].tokens.readonly}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read().decode()
    series, names = [], set()
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            names.add(s.name)
            labels = ",".join(f'{k}="{v}"' for k, v in s.labels.items() if v != "")
            series.append({"series": f"{s.name}{{{labels}}}", "values": f"{s.value:g}x40"})
    rules_file = Path(__file__).parents[2] / "docs" / "alerts" / "barnum-rules.yml"
    used = set(re.findall(r"\bbarnum_[a-z_]+", rules_file.read_text()))
    assert used <= names, f"rules use metrics /metrics does not have: {used - names}"
    shutil.copy(rules_file, tmp_path / "rules.yml")
    fired = _firing(promtool, tmp_path, series, ["BarnumExpectationUnmet", "BarnumHostDown"])
    got = {(a["kind"], a["host"], a.get("user"), a.get("watcher"))
           for a in fired["BarnumExpectationUnmet"]}
    assert got == checked
    assert fired["BarnumHostDown"] == []
