"""The web page's first paint at a fleet size this machine cannot boot.

The same server (``barnum.web``) and Debian's Chromium as ``web_bench``, but the
session's state is the recorded 4-host snapshot of the test fleet
(tests/data/web/fleet_snapshot.json) copied to N hosts: no SSH, no systemd, so
it isolates what the page itself costs at N hosts (server render, transfer,
parse, paint).  A stand-in, reported as such; ``invoke bench --web`` on a real
fleet is the figure.
"""

from __future__ import annotations

import copy
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from benchmarks.web_bench import CHROMIUM, FULL, PAINT, _wait


def _copies(n: int):
    def edit(doc: dict) -> None:
        hosts, stats, disc = {}, {}, {}
        for k in range(1, n + 1):
            src = ("host1", "host2")[k % 2]  # the snapshot's healthy hosts
            hosts[f"host{k}"] = copy.deepcopy(doc["hosts"][src])
            stats[f"host{k}"] = copy.deepcopy(doc["stats"][src])
            disc[f"host{k}"] = doc["discovery"][src]
        doc.update(hosts=hosts, stats=stats, discovery=disc)
    return edit


def measure_recorded(n: int, repeats: int) -> dict:
    """First paint of the table (ms from navigation start) folded and every host open."""
    from playwright.sync_api import sync_playwright

    from barnum.web.server import Background, Listen
    from tests.unit.webkit import OPERATOR_TOKEN, RecordedSession, make_web

    tmp = Path(tempfile.mkdtemp(prefix="barnum-web-scale-"))
    old_tmp = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(tmp)
    web = make_web(tmp, RecordedSession(edit=_copies(n)))
    web.hub.start()
    bg = Background(web, Listen("127.0.0.1", 0)).start()
    base = f"http://127.0.0.1:{bg.port}"
    out: dict = {"hosts": n}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            page.goto(f"{base}/login")  # the sign-in form, as an operator uses it
            page.fill('input[name="token"]', OPERATOR_TOKEN)
            page.click('button[type="submit"]')
            page.wait_for_url(base + "/")
            for label, url in (("folded", "/"), ("open", "/?t=host*")):
                figures = []
                for _ in range(max(3, repeats)):
                    page.goto(base + url)
                    _wait(page, FULL, n)
                    figures.append(page.evaluate(PAINT))
                out[f"{label}_paint_samples"] = [f["table"] / 1000 for f in figures]
                out[f"{label}_paint_p50"] = statistics.median(f["table"] for f in figures) / 1000
                out[f"{label}_bytes"] = figures[-1]["bytes"]
            browser.close()
    finally:
        bg.stop()
        web.hub.close()
        if old_tmp is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_tmp
        shutil.rmtree(tmp, ignore_errors=True)
    return out
