"""barnum web end to end: real headless Chromium (Debian's, through Playwright) on a page
served by the real server over a real session on the real fleet.

The truth is read on the hosts (nsenter + circusctl/systemctl), never from
barnum.  Changes are made on the hosts directly, and the open page must show
them by itself.  Screenshots of the main states go to .artifacts/web/.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.e2e.test_barnum_e2e import circusctl, running, truth_units
from tests.waiting import until as _until

pytestmark = pytest.mark.fleet

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[2] / ".artifacts" / "web"
# the session's --timeout: an SSH login on a loaded machine can take seconds;
# a lost host is down after 2x this
TIMEOUT = 10
WAIT = 30  # seconds: the default deadline for what a test waits for (a loaded 2-core machine)


def _endpoint(fleet, user):
    return f"tcp://127.0.0.1:{fleet.port(user)}"


def truth_watchers(fleet, host, user) -> dict[str, str]:
    out = circusctl(fleet, host, _endpoint(fleet, user), "status").stdout
    return dict(line.split(": ", 1) for line in out.strip().splitlines() if ": " in line)


def pids(fleet, host, user, watcher) -> str:
    return circusctl(fleet, host, _endpoint(fleet, user), "list", watcher).stdout.strip()


@contextlib.contextmanager
def serving(fleet, users_file, state):
    """barnum web on the fleet, in this process (uvicorn in a thread, port 0)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (invoke setup installs it)")
    from barnum.live.session import FleetSession
    from barnum.model.config import load_config
    from barnum.transport.options import Options
    from barnum.web.server import Background, Listen, assemble, url

    cfg = load_config(users_file)
    opts = Options.from_config(cfg, ssh_config=str(fleet.ssh_config), timeout=TIMEOUT)
    session = FleetSession(cfg, opts).open()
    web = assemble(session, state, threshold=5, journal=False)
    bg = Background(web, Listen("127.0.0.1", 0)).start()
    try:
        yield {"web": web, "link": lambda: url(Listen("127.0.0.1", 0), bg.port, web.login_code()),
               "base": f"http://127.0.0.1:{bg.port}", "state": state, "session": session}
    finally:
        bg.stop()
        web.hub.close()
        session.close()


@pytest.fixture(scope="module")
def served(fleet, tmp_path_factory):
    with serving(fleet, fleet.users_file, tmp_path_factory.mktemp("web-state")) as s:
        yield s


@pytest.fixture(scope="module")
def browser(served):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with chromium("barnum-web-e2e-") as b:
        yield b


@contextlib.contextmanager
def chromium(prefix: str):
    """Debian's Chromium, headless, with its and playwright's folders in a TMPDIR of
    its own (removed after)."""
    from playwright.sync_api import sync_playwright

    tmp = tempfile.mkdtemp(prefix=prefix)
    old = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = tmp
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                yield b
            finally:
                b.close()
    finally:
        if old is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def signed_in(browser, served):
    """An operator's page, signed in and live, with the script errors and console errors
    it collects (the caller says which it allows)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    ctx.set_default_timeout(WAIT * 1000)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(pg, served)
    pg.wait_for_selector("#live.on")
    try:
        yield pg, errors
    finally:
        ctx.close()


@pytest.fixture
def page(browser, served):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT * 1000)  # every expect() waits as long, unless told
    with signed_in(browser, served) as (pg, errors):
        pg.evaluate("window.__sameDocument = true")
        yield pg
    assert errors == [], errors  # no script error, no CSP violation


def sign_in(pg, served, token=None):
    """As an operator does: the sign-in form, the token typed and posted."""
    pg.goto(served["base"] + "/login")
    pg.fill('input[name="token"]', token or served["web"].tokens.operator)
    pg.click('button[type="submit"]')
    pg.wait_for_url(served["base"] + "/")


def row(pg, host, user, watcher):
    return pg.locator(f'tr.w[data-host="{host}"][data-user="{user}"][data-watcher="{watcher}"]')


def open_host(pg, host):
    """Unfold a healthy host (one line until opened), as the operator does: its button."""
    from playwright.sync_api import expect

    body = pg.locator(f"#host-{host}")
    if "folded" in (body.get_attribute("class") or ""):
        body.locator("button.fold").click()
    expect(body).not_to_have_class(re.compile(r"\bfolded\b"))


def shot(pg, name):
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_page_shows_the_truth_on_the_hosts(fleet, page):
    from playwright.sync_api import expect

    shot(page, "fleet")
    for host in fleet.hosts:
        body = page.locator(f"#host-{host}")
        expect(body.locator(".hstate")).to_have_text("up")
        units = truth_units(fleet, host)
        shown = {}
        for tr in body.locator("tr.inst").all():
            unit = tr.locator(".unit").text_content()
            shown[unit] = tr.locator(".systemd").text_content()
        assert set(shown) == set(units), host
        for unit, props in units.items():
            enabled, active = shown[unit].split(" \u00b7 ")[:2]
            assert enabled == props["UnitFileState"], (host, unit, shown[unit])
            assert active.split(" ")[0] == props["ActiveState"], (host, unit, shown[unit])
            user = props["User"]
            if props["ActiveState"] != "active":
                assert body.locator(f'tr.w[data-user="{user}"]').count() == 0
                continue
            truth = truth_watchers(fleet, host, user)
            rows = body.locator(f'tr.w[data-user="{user}"]')
            mine = {r.locator(".name").text_content(): r.locator(".status").text_content()
                    for r in rows.all()}
            if "circus: error" in body.locator(f'tr.inst[data-user="{user}"]').text_content():
                assert mine == {}  # bailey cannot read its config: no watcher is made up
                continue
            assert mine == truth, (host, user)
            for name in truth:  # processes wanted against running, as circusd says
                n = len([p for p in pids(fleet, host, user, name).split(",") if p])
                assert row(page, host, user, name).locator(".procs").text_content() == f"{n}/1"
    counters = page.locator("#counters").text_content()
    assert "4 hosts up" in counters and "0 hosts down" in counters


def test_stopped_on_the_host_shows_within_2s_without_reload(fleet, page):
    from playwright.sync_api import expect

    host, user = "host2", "user2"
    cell = row(page, host, user, "ticker").locator(".status")
    expect(cell).to_have_text("active")
    try:
        p = circusctl(fleet, host, _endpoint(fleet, user), "stop", "ticker")
        assert p.returncode == 0, p.stderr
        t0 = time.monotonic()
        expect(cell).to_have_text("stopped", timeout=2000)
        assert time.monotonic() - t0 <= 2.0
        assert page.evaluate("window.__sameDocument") is True  # no reload
        shot(page, "watcher-stopped-on-host")
        assert truth_watchers(fleet, host, user)["ticker"] == "stopped"
    finally:
        circusctl(fleet, host, _endpoint(fleet, user), "start", "ticker")
    expect(cell).to_have_text("active")


def test_stop_clicked_and_confirmed_stops_it_on_the_host(fleet, page, served):
    from playwright.sync_api import expect

    host, user = "host1", "user1"
    r = row(page, host, user, "ticker")
    open_host(page, host)
    try:
        r.locator('button[data-action="stop"]').click()
        dialog = page.locator("#confirm")
        expect(dialog).to_be_visible()
        expect(page.locator("#confirm-text")).to_have_text(
            "stop 1 watcher on 1 host (1 instance):")
        expect(page.locator("#confirm-list")).to_have_text(f"ticker on {user}@{host}")
        assert truth_watchers(fleet, host, user)["ticker"] == "active"  # not before confirming
        shot(page, "confirm-one")
        page.locator("#confirm-ok").click()
        expect(page.locator("#results")).to_contain_text(f"ticker on {user}@{host}: ok")
        assert _until(lambda: truth_watchers(fleet, host, user)["ticker"] == "stopped", WAIT)
        expect(r.locator(".status")).to_have_text("stopped")
        audit = _until(lambda: (served["state"] / "audit.log").read_text().splitlines(), WAIT)
        assert '"action": "stop"' in audit[-1] and '"watcher": "ticker"' in audit[-1]
    finally:
        circusctl(fleet, host, _endpoint(fleet, user), "start", "ticker")
    expect(r.locator(".status")).to_have_text("active")


def test_fleet_wide_restart_states_the_counts(fleet, page):
    from playwright.sync_api import expect

    # every circusd barnum can reach (its config readable); host4's user1 runs circusd
    # from an ini made malformed after start: unreachable, so not counted, not touched
    reachable = running(fleet)
    items = [(h, u, w) for h, u in reachable for w in truth_watchers(fleet, h, u)]
    hosts = {h for h, _, _ in items}
    before = {it: pids(fleet, *it) for it in items}
    untouched = {("host4", "user1", w): pids(fleet, "host4", "user1", w)
                 for w in truth_watchers(fleet, "host4", "user1")}
    assert untouched
    page.select_option('form.bulk select[name="action"]', "restart")
    page.locator("#act-fleet").click()
    expect(page.locator("#confirm-text")).to_have_text(
        f"restart {len(items)} watchers on {len(hosts)} hosts ({len(reachable)} instances):")
    expect(page.locator("#confirm-word")).to_have_text(str(len(items)))  # above threshold
    shot(page, "confirm-fleet")
    page.locator("#confirm-cancel").click()
    expect(page.locator("#results")).to_have_text("cancelled: nothing done")
    assert {it: pids(fleet, *it) for it in items} == before
    page.locator("#act-fleet").click()
    page.locator("#confirm-input").fill(str(len(items)))
    page.locator("#confirm-ok").click()
    expect(page.locator("#results .result")).to_be_visible(timeout=4 * WAIT * 1000)
    results = page.locator("#results").text_content()
    assert page.locator("#results li.ok").count() == len(items), results
    after: dict = {}

    def all_restarted() -> bool:  # a restarted process may still be starting
        after.update({it: pids(fleet, *it) for it in items})
        return all(after[it] and after[it] != before[it] for it in items)
    assert _until(all_restarted, WAIT, 0.5), (before, after)
    assert {it: pids(fleet, *it) for it in untouched} == untouched


def test_host_down_shows_its_reason_and_recovers(fleet, page):
    from playwright.sync_api import expect

    victim = "host2"
    state = page.locator(f"#host-{victim} .hstate")
    with fleet.host_down(victim):
        expect(state).to_contain_text("DOWN", timeout=(2 * TIMEOUT + WAIT) * 1000)
        reason = page.locator(f"#host-{victim} .reason").text_content()
        assert reason.strip() and reason != "down", reason
        expect(page.locator("#counters")).to_contain_text("1 host down")
        expect(page.locator("tbody.host").first).to_have_attribute("id", f"host-{victim}")
        shot(page, "host-down")
    expect(state).to_have_text("up", timeout=3 * WAIT * 1000)
    expect(page.locator("#counters")).to_contain_text("0 hosts down")
    assert page.evaluate("window.__sameDocument") is True


HOSTILE = "<script>window.__pwned=1</script>\"'&<img src=x onerror=window.__pwned=2>\x1b[2J"


def test_hostile_watcher_name_is_inert(fleet, page):
    from playwright.sync_api import expect

    from barnum.text.sanitize import clean

    host, user = "host1", "user2"
    ctl = [str(fleet.venv / "bin" / "circusctl"), "--endpoint", _endpoint(fleet, user)]
    p = fleet.exec(host, [*ctl, "add", "--start", HOSTILE, "/bin/sleep 3603"], user=user)
    assert p.returncode == 0, p.stderr
    try:
        name = page.locator(f'tr.w[data-host="{host}"][data-user="{user}"] .name',
                            has_text="window.__pwned=1")
        expect(name).to_have_count(1)
        stored = next(w for w in truth_watchers(fleet, host, user) if "__pwned=1" in w)
        assert stored.lower() == HOSTILE.lower()  # (circus lowercases names)
        assert name.text_content() == clean(stored)  # shown as text, escapes visible
        assert page.evaluate("window.__pwned") is None
        assert page.locator("script").count() == 1 and page.locator("img").count() == 0
        shot(page, "hostile-name")
        page.reload()
        page.wait_for_selector("#live.on")
        assert page.evaluate("window.__pwned") is None and page.locator("img").count() == 0
        assert page.locator(".name", has_text="window.__pwned=1").text_content() == \
            clean(stored)
    finally:
        fleet.exec(host, [*ctl, "rm", HOSTILE], user=user)


def test_refused_requests_change_nothing_on_the_host(fleet, served):
    """Real HTTP to the real server: without the cookie, the CSRF token, our Origin or
    our Host, or with the read-only token, nothing is stopped."""
    import httpx

    base, web = served["base"], served["web"]
    host, user = "host1", "user1"
    body = {"action": "stop", "scope": "watcher", "host": host, "user": user,
            "watcher": "ticker"}

    def signed_in(token):
        c = httpx.Client(base_url=base, follow_redirects=False)
        assert c.get(f"/login?token={token}").status_code == 400  # never from a URL
        assert c.post("/login", data={"token": token}).status_code == 403  # no Origin
        assert c.post("/login", data={"token": token},
                      headers={"Origin": base}).status_code == 303
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', c.get("/").text).group(1)
        return c, csrf

    op, csrf = signed_in(web.tokens.operator)
    ro, ro_csrf = signed_in(web.tokens.readonly)
    plan = op.post("/api/plan", json=body, headers={"Origin": base, "X-CSRF-Token": csrf})
    plan_id = plan.json()["plan"]
    attempts = [
        (httpx.Client(base_url=base), {"Origin": base, "X-CSRF-Token": csrf}),
        (op, {"Origin": base}),
        (op, {"Origin": "http://evil.example", "X-CSRF-Token": csrf}),
        (op, {"X-CSRF-Token": csrf}),
        (op, {"Origin": base, "X-CSRF-Token": csrf, "Host": "rebound.example"}),
        (ro, {"Origin": base, "X-CSRF-Token": ro_csrf}),
    ]
    try:
        for c, headers in attempts:
            r = c.post("/api/act", json={"plan": plan_id}, headers=headers)
            assert r.status_code in (401, 403, 421), (headers, r.status_code)
    finally:
        for c in {id(c): c for c, _ in attempts}.values():
            c.close()
    assert truth_watchers(fleet, host, user)["ticker"] == "active"


def test_printed_link_signs_in_once_and_leaves_no_secret_in_the_address(browser, served):
    """The link barnum web prints: Chromium posts its one-time code (login.js), the
    address bar and the back button show /login without it, and it never works twice."""
    link = served["link"]()
    code = link.split("code=", 1)[1]
    ctx = browser.new_context()
    try:
        pg = ctx.new_page()
        errors: list[str] = []
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.goto(link)
        pg.wait_for_url(served["base"] + "/")
        pg.wait_for_selector("#live.on", timeout=10000)
        assert pg.locator("#confirm-ok").count() == 1  # signed in as the operator
        pg.go_back()  # the code's page was replaced (by /login, then by the post's /)
        assert _until(lambda: pg.url in ("about:blank", served["base"] + "/login"), 5), pg.url
        assert code not in pg.url and "token" not in pg.url
        assert errors == [], errors  # no CSP violation from the sign-in script
        other = browser.new_context()
        try:
            pg2 = other.new_page()
            pg2.goto(link)  # spent: the form is shown again, nobody is signed in
            pg2.wait_for_selector("text=used already")
            assert pg2.url == served["base"] + "/login"
            assert [c for c in other.cookies() if c["name"] == "barnum_session"] == []
        finally:
            other.close()
    finally:
        ctx.close()


def test_refresh_button_rereads_every_host(fleet, page):
    from playwright.sync_api import expect

    page.locator("#refresh").click()
    expect(page.locator("#results")).to_have_text(
        f"refreshed: {len(fleet.hosts)} hosts answered")


def test_unit_journal_is_followed_live(fleet, page, served):
    from playwright.sync_api import expect

    from barnum.text.sanitize import clean

    host, user = "host1", "user2"
    unit = f"circus_{user}_{host}.service"
    open_host(page, host)
    page.locator(f'tr.inst[data-host="{host}"][data-user="{user}"] a.unit').click()
    page.wait_for_selector("pre#log")
    seen: dict = {}

    def page_is_the_journals_tail() -> bool:  # a line logged meanwhile is followed in too
        raw = fleet.exec(host, ["journalctl", "--no-pager", "-o", "cat", "-u", unit,
                                "-n", "300"])
        texts = page.locator("pre#log .ln").all_text_contents()
        seen["shown"] = [t.split(" ", 2)[2].rstrip("\n") for t in texts]
        seen["truth"] = [clean(x) for x in raw.stdout.splitlines()]  # escapes shown
        return bool(seen["shown"]) and seen["shown"] == seen["truth"][-len(seen["shown"]):]
    assert _until(page_is_the_journals_tail, WAIT, 0.5), seen
    shown = seen["shown"]
    assert _until(lambda: served["web"].hub.following().get((host, unit)) == 1, WAIT)
    assert _until(lambda: len(_followers(fleet, host, unit)) == 1, WAIT)  # the follow runs
    stopped = page.locator("pre#log .ln", has_text="sleeper stopped")
    before = stopped.count()  # earlier tests may have stopped it already
    try:
        circusctl(fleet, host, _endpoint(fleet, user), "stop", "sleeper")
        expect(stopped).to_have_count(before + 1)
        assert page.locator("pre#log .ln").count() > len(shown)  # appended, no reload
        shot(page, "journal-followed")
    finally:
        circusctl(fleet, host, _endpoint(fleet, user), "start", "sleeper")


def test_unit_memory_shown_as_systemd_says(fleet, page, served):
    """The systemd column and /metrics carry MemoryCurrent; it moves, so within 10 %."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    host = "host1"
    units = truth_units(fleet, host)
    raw = fleet.exec(host, ["systemctl", "show", "-p", "Id,MemoryCurrent", *sorted(units)])
    truth = {}
    for block in raw.stdout.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        truth[props["Id"]] = props["MemoryCurrent"]
    req = urllib.request.Request(served["base"] + "/metrics", headers={
        "Authorization": f"Bearer {served['web'].tokens.operator}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        fams = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
    metric = {s.labels["unit"]: s.value for s in fams["barnum_unit_memory_bytes"].samples
              if s.labels["host"] == host}
    for unit, value in truth.items():
        cell = page.locator(f'#host-{host} tr.inst:has(.unit:text-is("{unit}")) .systemd')
        text = cell.text_content()
        if value == "[not set]":
            assert text.endswith("mem n/a") and unit not in metric, (unit, text)
            continue
        n, scale = re.search(r"mem ([\d.]+) (KiB|MiB|GiB)$", text).groups()
        shown = float(n) * {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[scale]
        assert abs(shown - int(value)) <= 0.1 * int(value), (unit, text, value)
        assert abs(metric[unit] - int(value)) <= 0.1 * int(value), (unit, metric, value)
    assert any(v != "[not set]" for v in truth.values())  # the fleet accounts memory


CHATTER = """#!/bin/sh
i=0
while :; do
  i=$((i+1))
  printf 'line %d <b>&amp; \\033[31mred\\n' "$i"
  sleep 0.1
done
"""


@pytest.fixture
def chatter(fleet):
    """user1@host1 gains, at run time, a watcher whose stdout circus writes to a file
    named relative to circusd's working directory (the unit's WorkingDirectory=)."""
    host, user = "host1", "user1"
    home = fleet.homes / user
    ini = home / "circus" / host / "circus.ini"
    script = home / "chatter.sh"
    out = home / "chatter-web.out"
    st, text = ini.stat(), ini.read_text()
    script.write_text(CHATTER)
    os.chown(script, fleet.uid(user), fleet.uid(user))
    ini.write_text(text + "\n[watcher:chatter]\ncmd = /bin/sh " + str(script) + "\n"
                   "numprocesses = 1\nstdout_stream.class = FileStream\n"
                   "stdout_stream.filename = chatter-web.out\n")
    try:
        p = circusctl(fleet, host, _endpoint(fleet, user), "reloadconfig")
        assert p.returncode == 0, p.stderr
        yield host, user, out
    finally:
        ini.write_text(text)
        os.utime(ini, ns=(st.st_atime_ns, st.st_mtime_ns))
        circusctl(fleet, host, _endpoint(fleet, user), "reloadconfig")
        script.unlink(missing_ok=True)
        out.unlink(missing_ok=True)


def test_watcher_stdout_file_shows_its_last_lines(fleet, page, chatter):
    from playwright.sync_api import expect

    from barnum.text.sanitize import clean

    host, user, out = chatter
    link = row(page, host, user, "chatter").locator("a.output.stdout")
    expect(link).to_have_count(1)  # arrives live: no reload
    assert row(page, host, user, "chatter").locator("a.output.stderr").count() == 0
    assert _until(lambda: out.exists() and out.read_text().count("\n") >= 5, WAIT), out
    open_host(page, host)
    link.click()
    page.wait_for_selector("pre#output")
    shown = [t.rstrip("\n") for t in page.locator("pre#output .ln").all_text_contents()]
    # circusd opened it where bailey says: relative to the unit's WorkingDirectory=
    assert page.locator("p.path code").text_content() == str(out)
    truth = [clean(x) for x in fleet.exec(host, ["cat", str(out)]).stdout.splitlines()]
    assert 5 <= len(shown) <= 200
    start = truth.index(shown[0])
    assert truth[start:start + len(shown)] == shown  # a run of the file's real lines...
    assert len(truth) < 200 or len(shown) == 200  # ...the last ones of it when it was read
    assert shown[0].startswith("line ") and "<b>&amp; \\e[31mred" in shown[0]
    assert page.locator("pre#output b").count() == 0  # shown as text, not markup
    shot(page, "watcher-stdout")


def _followers(fleet, host, unit) -> list[str]:
    """pids of bailey's ``journalctl ... -u UNIT ... -f`` on the host (ps, inside it)."""
    ps = fleet.exec(host, ["ps", "-eo", "pid=,args="]).stdout.splitlines()
    return [ln.split()[0] for ln in ps
            if "journalctl" in ln and f"-u {unit}" in ln and ln.rstrip().endswith(" -f")]


def _bailey_serve_pids(fleet, host) -> list[str]:
    ps = fleet.exec(host, ["ps", "-eo", "pid=,args="]).stdout.splitlines()
    return [ln.split()[0] for ln in ps if "bailey" in ln and "--serve" in ln
            and "sh -c" not in ln]


def test_journal_follow_survives_a_reconnect_and_ends_with_the_last_page(fleet, browser,
                                                                         served):
    from playwright.sync_api import expect

    host, user = "host1", "user2"
    unit = f"circus_{user}_{host}.service"
    hub, session = served["web"].hub, served["session"]
    assert _until(lambda: not _followers(fleet, host, unit), WAIT), \
        "an earlier page's follow was not cancelled when it closed"
    ctx = browser.new_context()
    pg = ctx.new_page()
    sign_in(pg, served)
    pg.goto(served["base"] + "/logs?" + f"host={host}&unit={unit}")
    pg.wait_for_selector("pre#log")
    assert _until(lambda: hub.following().get((host, unit)) == 1, WAIT)
    assert _until(lambda: len(_followers(fleet, host, unit)) == 1, WAIT)
    old, (old_follower,) = session.connection_of(host), _followers(fleet, host, unit)
    pids = _bailey_serve_pids(fleet, host)
    assert pids
    fleet.exec(host, ["kill", "-TERM", *pids])  # bailey --serve ends: the session reconnects
    assert _until(lambda: session.connection_of(host) not in (None, old)
                  and session.host_states()[host].state == "up", 3 * WAIT, 0.2)
    assert _until(lambda: [p for p in _followers(fleet, host, unit) if p != old_follower]
                  and old_follower not in _followers(fleet, host, unit), WAIT), \
        "the follow was not re-established on the new bailey"
    assert len(_followers(fleet, host, unit)) == 1
    stopped = pg.locator("pre#log .ln", has_text="sleeper stopped")
    before = stopped.count()
    try:
        circusctl(fleet, host, _endpoint(fleet, user), "stop", "sleeper")
        expect(stopped).to_have_count(before + 1)  # same page, no reload
    finally:
        circusctl(fleet, host, _endpoint(fleet, user), "start", "sleeper")
    ctx.close()  # the last page watching it
    assert _until(lambda: (host, unit) not in hub.following(), WAIT)
    assert _until(lambda: not _followers(fleet, host, unit), WAIT), \
        "journalctl -f still runs on the host with no page watching"


def test_healthy_host_is_one_line_opens_by_keyboard_and_stays_live(fleet, page):
    """At fleet scale a healthy host is its header line (counts, freshness); Enter on
    its button opens it; it keeps updating while folded and stays open after."""
    from playwright.sync_api import expect

    host, user = "host2", "user1"
    body = page.locator(f"#host-{host}")
    r = row(page, host, user, "ticker")
    expect(body).to_have_class(re.compile(r"\bfolded\b"))
    expect(r).to_be_hidden()
    classes = [b.get_attribute("class") for b in page.locator("tbody.host").all()]
    flags = ["problem" in c.split() for c in classes]
    assert flags[0] and flags == sorted(flags, reverse=True), classes  # problems first
    assert all("folded" not in c.split() for c, bad in zip(classes, flags, strict=True) if bad)
    summary = body.locator(".hsum")
    total = len(truth_watchers(fleet, host, "user1")) + len(truth_watchers(fleet, host, "user2"))
    expect(summary).to_have_text(f"2 instances \u00b7 {total} of {total} watchers active")
    expect(body.locator(".fresh")).to_contain_text("s ago")
    try:
        assert circusctl(fleet, host, _endpoint(fleet, user), "stop", "ticker").returncode == 0
        expect(summary).to_have_text(  # counts follow the host while it is folded
            f"2 instances \u00b7 {total - 1} of {total} watchers active", timeout=5000)
        expect(r).to_be_hidden()
        page.mouse.move(0, 0)
        body.locator("button.fold").focus()
        page.keyboard.press("Enter")
        expect(body.locator("button.fold")).to_have_attribute("aria-expanded", "true")
        expect(r).to_be_visible()
        expect(r.locator(".status")).to_have_text("stopped")  # the current row, not stale
        shot(page, "host-opened")
        form = r.locator("form.act")
        assert form.evaluate("f => getComputedStyle(f).opacity") == "0"  # until hover/focus
        for _ in range(60):  # the row's buttons are in the tab order
            page.keyboard.press("Tab")
            if page.evaluate(
                    "([h, u]) => !!document.activeElement.closest("
                    "`tr.w[data-host='${h}'][data-user='${u}'][data-watcher='ticker']`)",
                    [host, user]):
                break
        else:
            pytest.fail("Tab never reached the row's buttons")
        assert form.evaluate("f => getComputedStyle(f).opacity") == "1"
    finally:
        circusctl(fleet, host, _endpoint(fleet, user), "start", "ticker")
    expect(r.locator(".status")).to_have_text("active", timeout=5000)
    expect(body).not_to_have_class(re.compile(r"\bfolded\b"))  # a live update kept it open
    body.locator("button.fold").click()
    expect(r).to_be_hidden()


def test_without_javascript_nothing_is_folded(browser, served):
    """A folded host needs the script to open: without it every row shows, buttons too."""
    from playwright.sync_api import expect

    ctx = browser.new_context(java_script_enabled=False)
    try:
        pg = ctx.new_page()
        sign_in(pg, served)  # the form posts without a script

        def folded_host():  # one healthy host (earlier tests may leave one flapping)
            if pg.locator("tbody.folded").count():
                return pg.locator("tbody.folded").first.get_attribute("data-host")
            pg.reload()
            return None

        host = _until(folded_host, 30, 1.0)
        assert host, "no healthy (folded) host on the page"
        r = pg.locator(f'#host-{host} tr.w').first
        expect(r).to_be_visible()
        assert r.locator("form.act").evaluate("f => getComputedStyle(f).opacity") == "1"
    finally:
        ctx.close()
