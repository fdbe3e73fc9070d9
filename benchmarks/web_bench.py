"""barnum web's figures, on the bench fleet, with the server as the operator runs it.

``barnum web --port 0`` runs as a subprocess (its own CPU is then measurable)
and Debian's Chromium (Playwright) opens the page:

- full table: from ``page.goto`` to every host's rows in the DOM and the
  event stream open, with the session already warm (a second page load);
- first paint of the table: the browser's own clock (Element Timing on the
  table's caption, from navigation start), with healthy hosts folded as the
  page serves them, and unfolded for contrast (a target filter opens every
  host); and the document's size;
- change to DOM: ``circusctl stop`` run on a host (nsenter; circusctl's own
  Python start is included, as in the session's row) to the row's status
  cell saying ``stopped`` (a MutationObserver stamps it; both clocks are this
  machine's); samples spaced beyond the 1 s per-row coalescing;
- and from the session receiving circusd's ``stop`` event (a second session,
  on that host only, stamps it) to the DOM: the page's own share;
- idle server CPU: the ``barnum web`` process's CPU time over an idle spell
  with the page open, as a share of one core.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.fleet import Fleet

CHROMIUM = "/usr/bin/chromium"

OBSERVE = """([host, user, watcher]) => {
  window.__stopped = null;
  const sel = `tr.w[data-host="${host}"][data-user="${user}"][data-watcher="${watcher}"] .status`;
  const obs = new MutationObserver(() => {
    const el = document.querySelector(sel);
    if (el && el.textContent.startsWith("stopped") && window.__stopped === null) {
      window.__stopped = Date.now();
    }
  });
  obs.observe(document.getElementById("fleet"), {subtree: true, childList: true,
                                                 characterData: true});
}"""

ACTIVE = """([host, user, watcher]) => {
  const el = document.querySelector(
    `tr.w[data-host="${host}"][data-user="${user}"][data-watcher="${watcher}"] .status`);
  return el !== null && el.textContent.startsWith("active");
}"""

FULL = """n => document.querySelectorAll('tbody.host').length === n
  && document.querySelectorAll('tr.w').length > 0"""

ALL_UP = """n => document.querySelectorAll('tbody.host .hstate .up').length === n"""

# The browser's own figures for the page just loaded, in ms from navigation start:
# first contentful paint, the table's first paint (Element Timing on its caption),
# the response's end, and the document's size in bytes.
PAINT = """() => new Promise(resolve => {
  const nav = performance.getEntriesByType("navigation")[0];
  const fcp = performance.getEntriesByName("first-contentful-paint")[0];
  const out = {fcp: fcp ? fcp.startTime : null, response_end: nav.responseEnd,
               bytes: nav.decodedBodySize, table: null};
  new PerformanceObserver(list => {
    const e = list.getEntries().find(x => x.identifier === "fleet-table");
    if (e) { out.table = e.renderTime || e.loadTime; resolve(out); }
  }).observe({type: "element", buffered: true});
  setTimeout(() => resolve(out), 5000);
})"""


def _wait(page, js: str, arg, within: float = 10.0) -> None:
    """Poll from here: the page's CSP (no eval) forbids Playwright's wait_for_function."""
    deadline = time.monotonic() + within
    while not page.evaluate(js, arg):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {within}s: {js[:60]}")
        time.sleep(0.005)


def _all_up(page, base: str, n: int, within: float = 300.0) -> None:
    """Until every host is up on the page (a big fleet's session takes a while)."""
    deadline = time.monotonic() + within
    while not page.evaluate(ALL_UP, n):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not all {n} hosts up on the page within {within:.0f}s")
        time.sleep(2.0)
        page.goto(base + "/")


def _paints(page, url: str, repeats: int, n: int) -> list[dict]:
    """The browser's paint figures for ``repeats`` fresh loads of ``url``."""
    out = []
    for _ in range(max(3, repeats)):
        page.goto(url)
        _wait(page, FULL, n)
        figures = page.evaluate(PAINT)
        if figures["table"] is None:
            raise RuntimeError("the browser reported no paint of the table (Element Timing)")
        out.append(figures)
    return out


def p95(samples: list[float]) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, round(0.95 * (len(s) - 1)))]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_server(fleet: Fleet, hosts: list[str], state: Path) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "barnum", "web", "--config", str(fleet.users_file),
           "--ssh-config", str(fleet.ssh_config), "--state-dir", str(state), "--port", "0",
           "--no-journal", *hosts]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("barnum web: http"):
        proc.kill()
        raise RuntimeError(f"barnum web did not start: {line!r}")
    return proc, line.split("barnum web: ", 1)[1].strip()


def measure_web(fleet: Fleet, hosts: list[str], repeats: int, idle: float) -> dict:
    from playwright.sync_api import sync_playwright

    from barnum.live.session import FleetSession
    from barnum.model.config import load_config
    from barnum.transport.options import Options

    tmp = Path(tempfile.mkdtemp(prefix="barnum-web-bench-"))
    old_tmp = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp)
    proc, login = _start_server(fleet, hosts, tmp / "state")
    base = login.split("/login", 1)[0]
    endpoint = f"tcp://127.0.0.1:{fleet.port('user1')}"
    ctl = [str(fleet.venv / "bin" / "circusctl"), "--endpoint", endpoint]
    cfg = load_config(fleet.users_file)
    probe = FleetSession(cfg, Options.from_config(cfg, ssh_config=str(fleet.ssh_config)),
                         targets=[hosts[0]]).open()  # when the event reached barnum
    events = probe.subscribe(kinds={"circus"})
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            page.goto(login)  # the one-time link signs in; the session is warm from here on
            page.wait_for_url(base + "/")
            page.wait_for_selector("#live.on")
            _all_up(page, base, len(hosts))
            loads = []
            for _ in range(max(3, repeats)):
                t0 = time.perf_counter()
                page.goto(base + "/")
                _wait(page, FULL, len(hosts))
                page.wait_for_selector("#live.on")
                loads.append(time.perf_counter() - t0)
            paints = _paints(page, base + "/", repeats, len(hosts))
            unfolded = _paints(page, base + "/?t=" + "+".join(hosts), repeats, len(hosts))
            latency, after_event = [], []
            for _ in range(max(5, repeats)):
                page.evaluate(OBSERVE, [hosts[0], "user1", "ticker"])
                time.sleep(2.5)  # a quiet row: beyond the coalescing window and the stats after it
                while events.get(0):
                    pass
                t0 = time.time()
                fleet.exec(hosts[0], [*ctl, "stop", "ticker"])
                _wait(page, "() => window.__stopped !== null", None)
                dom = page.evaluate("window.__stopped") / 1000
                latency.append(dom - t0)
                while (ev := events.get(0)) is not None:
                    if ev.data.get("action") == "stop" and ev.data.get("watcher") == "ticker":
                        after_event.append(dom - ev.t)
                fleet.exec(hosts[0], [*ctl, "start", "ticker"])
                _wait(page, ACTIVE, [hosts[0], "user1", "ticker"])
            time.sleep(2.0)
            before = _cpu_seconds(proc.pid)
            time.sleep(idle)
            idle_cpu = (_cpu_seconds(proc.pid) - before) / idle
            browser.close()
    finally:
        events.close()
        probe.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if old_tmp is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_tmp
        shutil.rmtree(tmp, ignore_errors=True)
    return {"load_samples": loads, "latency_samples": latency,
            "paint_samples": [p["table"] / 1000 for p in paints],
            "fcp_samples": [p["fcp"] / 1000 for p in paints if p["fcp"] is not None],
            "page_bytes": paints[-1]["bytes"],
            "unfolded_paint_samples": [p["table"] / 1000 for p in unfolded],
            "unfolded_page_bytes": unfolded[-1]["bytes"],
            "paint_p50": statistics.median(p["table"] for p in paints) / 1000,
            "unfolded_paint_p50": statistics.median(p["table"] for p in unfolded) / 1000,
            "load_p50": statistics.median(loads), "latency_p50": statistics.median(latency),
            "latency_p95": p95(latency), "idle_cpu_fraction": idle_cpu, "hosts": len(hosts),
            "event_to_dom_p50": statistics.median(after_event) if after_event
            else float("nan")}
