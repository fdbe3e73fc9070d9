"""barnum from its wheel, installed in a clean venv (not editable), on the real fleet.

``.ci/run`` builds the wheel, installs it with the ``web`` extra in a fresh
venv made from Debian's python3 and points ``BARNUM_INSTALLED_BIN`` at that
venv's ``bin``; without it this file is skipped (a developer's ``./run test``
has no wheel).  Every front end runs from that install: the one-shot CLI,
``watch`` piped, ``logs``, ``shell -c``, ``completion bash``, ``web`` in
headless Chromium, and ``bailey --serve`` shipped to a host without bailey.
The truth is read on the hosts (nsenter + circusctl/journalctl/ps).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from tests.e2e.test_barnum_e2e import circusctl, truth_units
from tests.fleet.fleet import OPERATOR
from tests.waiting import until

pytestmark = pytest.mark.fleet

BIN = os.environ.get("BARNUM_INSTALLED_BIN")
CHECKOUT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
TIMEOUT = "15"  # barnum's --timeout: a loaded machine

if not BIN:
    pytest.skip("BARNUM_INSTALLED_BIN is not set (.ci/run sets it after building the wheel)",
                allow_module_level=True)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}


def run(*argv: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(BIN) / argv[0]), *argv[1:]], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, cwd="/",
                          env=_env())


def fleet_args(fleet, config: Path | None = None) -> list[str]:
    return ["--config", str(config or fleet.users_file), "--ssh-config", str(fleet.ssh_config),
            "--timeout", TIMEOUT]


def endpoint(fleet, user: str) -> str:
    return f"tcp://127.0.0.1:{fleet.port(user)}"


def watchers_on(fleet, host: str, user: str) -> dict[str, str]:
    out = circusctl(fleet, host, endpoint(fleet, user), "status").stdout
    return dict(ln.split(": ", 1) for ln in out.strip().splitlines() if ": " in ln)


class Running:
    """A long-running installed command with its stdout read line by line in a thread."""

    def __init__(self, *argv: str) -> None:
        self.proc = subprocess.Popen([str(Path(BIN) / argv[0]), *argv[1:]], cwd="/",
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=_env(),
                                     start_new_session=True)
        self.lines: list[str] = []
        self.err = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pred, within: float = 60) -> str | None:
        """The first line that ``pred`` accepts (waiting for it), else None (also if it ended)."""

        def seen():
            line = next((ln for ln in list(self.lines) if pred(ln)), None)
            return (line,) if line is not None or self.proc.poll() is not None else None

        found = until(seen, within)
        return found[0] if found else None

    def stop(self) -> int:
        """Ctrl-C, as an operator stops it; the exit status."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            rc = self.proc.wait(timeout=10)
        self.err = self.proc.stderr.read()
        return rc


@contextlib.contextmanager
def running(*argv: str):
    r = Running(*argv)
    try:
        yield r
    finally:
        r.stop()


def ndjson(r: Running) -> list[dict]:
    return [json.loads(ln) for ln in list(r.lines) if ln.startswith("{")]


# -- the one-shot CLI ------------------------------------------------------------------


def test_versions_come_from_the_installed_wheel():
    from barnum import __version__

    assert run("barnum", "--version").stdout == f"barnum {__version__}\n"
    assert run("bailey", "--version").stdout == f"bailey {__version__}\n"
    where = run("python", "-c", "import barnum, bailey; print(barnum.__file__, bailey.__file__)")
    for path in where.stdout.split():
        assert "site-packages" in path and not path.startswith(str(CHECKOUT)), where.stdout


def test_installed_barnum_runs_the_fleet(fleet):
    p = run("barnum", *fleet_args(fleet), "--json", "host1", "host4")
    doc = json.loads(p.stdout)
    hosts = {h["host"]: h for h in doc["hosts"]}
    assert hosts["host1"]["ok"] and not hosts["host1"]["shipped"], p.stderr
    assert {i["state"] for i in hosts["host1"]["bailey"]["instances"]} == {"ok"}
    # host4 has no bailey: the wheel's own bailey source is shipped there
    assert hosts["host4"]["ok"] and hosts["host4"]["shipped"], p.stderr
    assert p.returncode == 1  # host4's staged failures, not a transport error


# -- the session front ends ------------------------------------------------------------


def test_installed_shell_c_status_shows_what_the_hosts_run(fleet):
    p = run("barnum", "shell", *fleet_args(fleet), "-c", "status", "host1", "host2")
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    for host in ("host1", "host2"):
        for unit, props in truth_units(fleet, host).items():
            line = next(ln for ln in lines if ln.split()[:1] == [unit])
            assert props["ActiveState"] in line and props["UnitFileState"] in line, line
            at = lines.index(line)
            for name, state in watchers_on(fleet, host, props["User"]).items():
                assert f"      {name}: {state}" in lines[at + 1:at + 3], (unit, lines)


def test_installed_watch_piped_streams_states_then_a_change_made_on_the_host(fleet):
    host, user = "host1", "user1"
    with running("barnum", "watch", *fleet_args(fleet), host, "host4") as w:
        up = {}

        def resynced():
            up.update({d["host"]: d for d in ndjson(w) if d["kind"] == "resync"})
            return {"host1", "host4"} <= set(up)

        assert until(resynced, 60), (w.lines, w.proc.poll())
        assert up[host]["state"] == "up" and up["host4"]["state"] == "up", up
        shown = {(i["user"], n): s for i in up[host]["report"]["instances"]
                 for n, s in (i.get("watchers") or {}).items()}
        assert shown[(user, "ticker")] == watchers_on(fleet, host, user)["ticker"] == "active"
        try:
            assert circusctl(fleet, host, endpoint(fleet, user), "stop", "ticker").returncode == 0
            stopped = until(lambda: [d for d in ndjson(w) if d["kind"] == "circus"
                                     and d.get("host") == host and d.get("user") == user
                                     and d.get("watcher") == "ticker"
                                     and d.get("action") == "stop"], 30)
            assert stopped, w.lines[-5:]
        finally:
            circusctl(fleet, host, endpoint(fleet, user), "start", "ticker")
        assert w.stop() == 0, w.err
    assert w.err.strip() == "", w.err


def test_installed_logs_prints_each_units_journal(fleet):
    host = "host2"
    units = {props["User"]: unit for unit, props in truth_units(fleet, host).items()}

    def last_lines_shown():
        truth = {user: fleet.exec(host, ["journalctl", "-u", unit, "-n", "1", "-o", "cat",
                                         "--no-pager"]).stdout.strip()
                 for user, unit in units.items()}
        p = run("barnum", "logs", *fleet_args(fleet), "-n", "3", host)
        lines = p.stdout.splitlines()
        return p.returncode == 0 and all(f"{host} {u}: {t}" in lines for u, t in truth.items())

    assert set(units) == {"user1", "user2"}
    assert until(last_lines_shown, 60, every=1)


def test_installed_bash_completion_completes_options_and_hosts(fleet):
    script = ('eval "$(barnum completion bash)"; complete -p barnum; '
              'read -ra COMP_WORDS <<<"$LINE"; COMP_LINE=$LINE; COMP_POINT=${#LINE}; '
              'COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_TYPE=9; '
              '_python_argcomplete barnum; printf "%s\\n" "${COMPREPLY[@]}"')

    def complete(line: str) -> list[str]:
        env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"),
               "LINE": line}
        p = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=env,
                           capture_output=True, text=True, timeout=60, cwd="/")
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith("complete ") and " barnum\n" in p.stdout, p.stdout
        return [w.strip() for w in p.stdout.splitlines()[1:]]

    assert complete("barnum web --sta") == ["--state-dir"]
    assert complete(f"barnum --config {fleet.users_file} ho") == [
        "host1", "host2", "host3", "host4"]


def test_installed_serve_is_shipped_where_bailey_is_not_installed(fleet, tmp_path):
    """``bailey:`` names a command no host has: every host gets the wheel's bailey source."""
    config = tmp_path / "users.yaml"
    config.write_text(fleet.users_file.read_text() + "bailey: /nonexistent/bin/bailey\n")
    host, user = "host1", "user1"
    with running("barnum", "watch", *fleet_args(fleet, config), host) as w:
        if not w.wait_for(lambda ln: '"kind": "resync"' in ln):
            pytest.fail(f"barnum watch printed no state (exit {w.stop()}): {w.err}")
        (first,) = [d for d in ndjson(w) if d["kind"] == "resync"]
        assert first["state"] == "up", first
        report = first["report"]
        from barnum import __version__

        assert report["bailey_version"] == __version__
        shown = {i["user"]: i["watchers"] for i in report["instances"]}
        assert shown[user] == watchers_on(fleet, host, user)
        serving = fleet.exec(host, ["ps", "-o", "args=", "-u", OPERATOR]).stdout
        assert any(ln.startswith("python3 -c ") for ln in serving.splitlines()), serving
    p = run("barnum", "shell", *fleet_args(fleet, config), "-c", "status", host)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"circus_{user}_{host}.service" in p.stdout


# -- barnum web in Chromium ------------------------------------------------------------


def test_installed_web_page_loads_with_its_css_and_js_and_shows_a_change(fleet, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (invoke setup installs it)")
    from playwright.sync_api import expect

    from tests.e2e.test_web_e2e import chromium, row

    host, user = "host2", "user2"
    with running("barnum", "web", *fleet_args(fleet), "--port", "0", "--no-journal",
                 "--state-dir", str(tmp_path / "state")) as web:
        line = web.wait_for(lambda ln: ln.startswith("barnum web: http"))
        if not line:
            pytest.fail(f"barnum web did not start (exit {web.stop()}): {web.err}")
        url = line.split(": ", 1)[1]
        base = url.split("/login", 1)[0]
        with chromium("barnum-installed-web-") as browser:
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            errors: list[str] = []
            status: dict[str, list[int]] = {}
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("response", lambda r: status.setdefault(r.url, []).append(r.status))
            page.goto(url)
            page.wait_for_selector("#live.on", timeout=30000)  # its script ran, stream open
            # the sign-in page loads web.css too: the page then may get 304 (cached)
            for asset in ("web.css", "web.js", "login.js"):
                got = status.get(f"{base}/static/{asset}", [])
                assert 200 in got and set(got) <= {200, 304}, (asset, status)
            assert page.evaluate("[...document.styleSheets].some(s => s.href && "
                                 "s.href.endsWith('/static/web.css') && s.cssRules.length)")
            cell = row(page, host, user, "ticker").locator(".status")
            expect(cell).to_have_text("active", timeout=30000)
            try:
                p = circusctl(fleet, host, endpoint(fleet, user), "stop", "ticker")
                assert p.returncode == 0, p.stderr
                expect(cell).to_have_text("stopped", timeout=30000)
                assert watchers_on(fleet, host, user)["ticker"] == "stopped"
            finally:
                circusctl(fleet, host, endpoint(fleet, user), "start", "ticker")
            expect(cell).to_have_text("active", timeout=30000)
            assert errors == [], errors  # no script error, no CSP violation
        assert web.stop() == 0, web.err
