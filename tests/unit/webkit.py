"""The web app over a recorded session (for the unit tests of barnum.web).

:class:`RecordedSession` answers the session's read side from a snapshot
recorded on the real test fleet (tests/data/web/fleet_snapshot.json) and
records every request that would change a host, so a test can assert that a
refused request reached nothing.  It stands in for the fleet only in tests
of the web layer's own logic; the end-to-end tests use the real fleet.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

from bailey.report import Report
from barnum.live.session import HostState, Subscription
from barnum.model.hostsort import natural_sorted
from barnum.model.results import FleetResult, HostResult
from barnum.model.targets import exact, group_members, resolve
from barnum.web.app import Web, build_app
from barnum.web.audit import Audit
from barnum.web.auth import Origins, Tokens
from barnum.web.hub import Hub

SNAPSHOT = Path(__file__).parents[1] / "data" / "web" / "fleet_snapshot.json"
OPERATOR_TOKEN = "op-" + "o" * 40
READONLY_TOKEN = "ro-" + "r" * 40


class RecordedSession:
    def __init__(self, edit=None, groups=None, expect=None) -> None:
        self.group_spec = groups or {}
        self.config = SimpleNamespace(expect=expect or {}, groups=self.group_spec)
        doc = json.loads(SNAPSHOT.read_text())
        if edit:
            edit(doc)
        self.discovery_hosts = doc["discovery"]
        self.discovery = SimpleNamespace(hosts=self.discovery_hosts)
        self.hosts = natural_sorted(doc["hosts"])
        now = time.time()
        self.states = {h: HostState(h, v["state"], v["error"],
                                    Report.from_dict(v["report"]) if v["report"] else None,
                                    last_seen=now) for h, v in doc["hosts"].items()}
        self._stats = doc["stats"]
        self.calls: list[tuple] = []
        self.subs: list[Subscription] = []

    def host_states(self):
        return {h: replace(self.states[h]) for h in self.hosts}

    def resolve(self, targets):
        if isinstance(targets, dict):  # structured, as the real session takes it
            return exact(targets, self.hosts)
        return resolve(list(targets or []), self._hosts(), self.group_spec)

    def _hosts(self):
        return {h: self.discovery_hosts[h] for h in self.hosts}

    def groups(self):
        return group_members(self._hosts(), self.group_spec)

    def snapshot(self, targets=None):
        """As FleetSession.snapshot: the recorded states as the one-shot result type."""
        chosen = self.resolve(targets)
        out = []
        for h in natural_sorted(chosen):
            st = self.states[h]
            r = HostResult(h, chosen[h], [], report=st.report)
            if st.state not in ("up", "stale") or st.report is None:
                r.error = st.error or st.state
            out.append(r)
        return FleetResult(out)

    def subscribe(self, kinds=None):
        s = Subscription(None, kinds=kinds)
        self.subs.append(s)
        return s

    def stats(self, targets=None):
        chosen = self.resolve(targets)
        return {h: copy.deepcopy(v) for h, v in self._stats.items() if h in chosen}

    def circusctl(self, args, targets=None, timeout=None):
        self.calls.append(("circusctl", list(args), copy.deepcopy(targets)))
        out = []
        for h, users in self.resolve(targets).items():
            rep = replace(self.states[h].report, circusctl_args=list(args))
            rep.instances = [replace(i, state="ok") for i in rep.instances
                             if not users or i.user in users]
            out.append(HostResult(h, users, list(args), report=rep))
        return FleetResult(out)

    def refresh(self, targets=None, timeout=None):
        self.calls.append(("refresh",))
        return FleetResult([HostResult(h, [], ["status"], report=self.states[h].report)
                            for h in self.hosts])

    def units(self, targets=None):
        return [(h, i.user, i.unit) for h in self.resolve(targets)
                for i in (self.states[h].report.instances if self.states[h].report else [])]

    def output(self, host, unit, watcher, stream, n=200):
        """As bailey's ``output`` op answers (through the session's cleaning)."""
        from barnum.text.sanitize import clean

        self.calls.append(("output", host, unit, watcher, stream, n))
        inst = next(i for i in self.states[host].report.instances if i.unit == unit)
        path = inst.stream_files.get(f"{stream}:{watcher}")
        if path is None:
            from barnum.live.errors import NotFound  # as bailey's not_found answer reads

            raise NotFound(f"circus.ini writes {watcher!r}'s {stream} to no file")
        lines = [clean(x) for x in self.output_lines]
        return {"unit": unit, "watcher": watcher, "stream": stream, "path": path,
                "lines": lines[-n:], "truncated": False}

    output_lines = ("started", "<script>alert(1)</script> & \x1b[31mred")

    def logs(self, unit, host, n=50):
        return [{"t": time.time(), "priority": 6, "pid": 1, "message": f"{unit} line"}]


def make_web(tmp_path, session=None, threshold=5, tls=False, start_hub=False) -> Web:
    session = session or RecordedSession()
    hub = Hub(session)
    if start_hub:
        hub.start()
    web = Web(session, hub, Tokens(OPERATOR_TOKEN, READONLY_TOKEN),
              Origins.for_bind("testserver", 443 if tls else 80, tls),
              Audit(tmp_path / "audit.log", None), threshold)
    hub.poll_stats()
    return web


def client(web: Web, role: str | None = "operator", tls: bool = False):
    from starlette.testclient import TestClient

    c = TestClient(build_app(web), base_url=f"{'https' if tls else 'http'}://testserver",
                   follow_redirects=False)
    if role:
        token = OPERATOR_TOKEN if role == "operator" else READONLY_TOKEN
        r = sign_in(c, token, tls)
        assert r.status_code == 303, r.text
    return c


def sign_in(c, token: str, tls: bool = False):
    """The sign-in form's POST, as a browser sends it (with our Origin)."""
    return c.post("/login", data={"token": token}, headers={"Origin": origin(tls)})


def csrf_of(c) -> str:
    import re

    page = c.get("/").text
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def origin(tls: bool = False) -> str:
    return f"{'https' if tls else 'http'}://testserver"
