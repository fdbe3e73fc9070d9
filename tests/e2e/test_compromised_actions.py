"""A compromised host names instances of another host: no action ever goes there
(issue 18, sections 1 and 4), on the real fleet.

The victim (host2) runs a compromised bailey: the real one (one-shot and
``--serve``), with chosen names in its answers rewritten, as an attacker who
owns the host would.  It reports ``user1`` as ``user1@host1,user1`` (a target
expression that would name host1), or its unit as host1's.  barnum must refuse
those instances with a note for host2, and every action planned from the web,
the shell and the CLI must leave the other hosts alone.  The truth is read on
the hosts (nsenter + circusctl, systemd's MainPID), never from barnum.
"""

from __future__ import annotations

import contextlib
import json
import re

import pytest

from tests.e2e.subcommand import run_sub
from tests.e2e.test_barnum_e2e import run_barnum
from tests.e2e.test_web_e2e import pids
from tests.waiting import until

pytestmark = pytest.mark.fleet

OWNED = "bailey-owned"  # the name barnum is told to run; the real bailey on the others
VICTIM = "host2"
OTHERS = ("host1", "host3")
HOSTS = ["host1", "host2", "host3"]
WATCHERS = ("sleeper", "ticker")
HOSTILE_USER = "user1@host1,user1"
SWAPS = {
    "user": {"user": {"user1": HOSTILE_USER}},
    "unit": {"unit": {"circus_user1_host2.service": "circus_user1_host1.service"}},
}

WRAPPER = '''#!/usr/bin/python3
"""A compromised bailey: the real one, with chosen names in its answers rewritten."""
import json, subprocess, sys

REAL = {real!r}
SWAP = json.loads({swap!r})


def walk(v):
    if isinstance(v, dict):
        return {{k: (SWAP[k].get(x, x) if k in SWAP and isinstance(x, str) else walk(x))
                for k, x in v.items()}}
    if isinstance(v, list):
        return [walk(x) for x in v]
    return v


p = subprocess.Popen([REAL, *sys.argv[1:]], stdout=subprocess.PIPE)
out = sys.stdout.buffer
if "--serve" in sys.argv:
    for line in p.stdout:
        try:
            line = json.dumps(walk(json.loads(line))).encode() + b"\\n"
        except ValueError:
            pass
        out.write(line)
        out.flush()
else:
    data = p.stdout.read()
    try:
        data = json.dumps(walk(json.loads(data))).encode()
    except ValueError:
        pass
    out.write(data)
sys.exit(p.wait())
'''


def _running(fleet) -> list[tuple[str, str]]:
    return [(h.name, u.user) for h in fleet.layout if h.name in HOSTS for u in h.units
            if u.started and u.config == "ok"]


def truth(fleet) -> dict:
    """Every running instance's circusd MainPID and its watchers' process ids."""
    out = {}
    for h, u in _running(fleet):
        out[(h, u)] = fleet.main_pid(h, f"circus_{u}_{h}.service")
        for w in WATCHERS:
            out[(h, u, w)] = pids(fleet, h, u, w)
            assert out[(h, u, w)], f"{u}@{h}: {w} has no process"
    return out


def changed(before: dict, after: dict) -> set:
    return {k for k in before if before[k] != after.get(k)}


@contextlib.contextmanager
def compromised(fleet, kind: str):
    """host2's bailey compromised (as ``bailey-owned``); the real one on host1 and host3."""
    made = []
    for h in HOSTS:
        path = fleet._hostdir(h) / "bin" / OWNED
        path.unlink(missing_ok=True)
        made.append(path)
        if h != VICTIM:
            path.symlink_to("bailey")
    script = fleet._hostdir(VICTIM) / "bin" / OWNED
    script.write_text(WRAPPER.format(real=str(fleet.venv / "bin" / "bailey"),
                                     swap=json.dumps(SWAPS[kind])))
    script.chmod(0o755)
    try:
        yield kind
    finally:
        for p in made:
            p.unlink(missing_ok=True)


@pytest.fixture(params=list(SWAPS))
def owned(fleet, request):
    with compromised(fleet, request.param) as kind:
        yield kind


@pytest.fixture
def owned_user(fleet):
    """The compromised host reports ``user1`` as a target expression naming host1."""
    with compromised(fleet, "user") as kind:
        yield kind


@pytest.fixture
def session(fleet, owned):
    from barnum.live.session import FleetSession
    from barnum.model.config import load_config
    from barnum.transport.options import Options

    cfg = load_config(fleet.users_file)
    opts = Options.from_config(cfg, ssh_config=str(fleet.ssh_config), timeout=8, bailey=OWNED)
    s = FleetSession(cfg, opts, targets=HOSTS).open()
    try:
        assert until(lambda: all(st.state == "up" and st.report is not None
                                 for st in s.host_states().values()), 30), s.host_states()
        yield s
    finally:
        s.close()


def _web_client(session, tmp_path):
    import httpx  # noqa: F401 - Starlette's test client needs it
    from starlette.testclient import TestClient

    from barnum.web.app import build_app
    from barnum.web.auth import Origins
    from barnum.web.server import assemble

    web = assemble(session, tmp_path / "state", threshold=100, journal=False)
    web.origins = Origins.for_bind("testserver", 80, False)
    c = TestClient(build_app(web), base_url="http://testserver", follow_redirects=False)
    assert c.post("/login", data={"token": web.tokens.operator},
                  headers={"Origin": "http://testserver"}).status_code == 303
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', c.get("/").text).group(1)
    headers = {"Origin": "http://testserver", "X-CSRF-Token": csrf}
    return web, c, headers


def test_web_refuses_the_hosts_names_and_acts_only_where_planned(fleet, session, owned,
                                                                 tmp_path):
    web, c, headers = _web_client(session, tmp_path)
    try:
        fleet_doc = c.get("/api/fleet").json()
        by_host = {h["host"]: h for h in fleet_doc["hosts"]}
        victim = by_host[VICTIM]
        assert [i["user"] for i in victim["instances"]] == ["user2"]  # user1 refused
        assert any(e.startswith("instance refused: ") for e in victim["errors"])
        for h in OTHERS:  # the other hosts are shown whole and without a note
            assert by_host[h]["errors"] == [] and by_host[h]["instances"]
            assert all("@" not in i["user"] for i in by_host[h]["instances"])
        before = truth(fleet)

        # the refused instance cannot be planned, whatever name the page is sent
        for user in (HOSTILE_USER, "user1"):
            r = c.post("/api/plan", json={"action": "restart", "scope": "instance",
                                          "host": VICTIM, "user": user}, headers=headers)
            assert r.status_code == 400 and "nothing to act on" in r.json()["error"]

        # every instance on the compromised host: only its own valid one is touched
        r = c.post("/api/plan", json={"action": "restart", "scope": "selection",
                                      "q": f"t={VICTIM}"}, headers=headers)
        plan = r.json()
        assert r.status_code == 200 and {(i["host"], i["user"]) for i in plan["items"]} == {
            (VICTIM, "user2")}
        r = c.post("/api/act", json={"plan": plan["plan"]}, headers=headers)
        assert r.status_code == 200, r.text
        assert {(x["host"], x["user"]) for x in r.json()["results"]} == {(VICTIM, "user2")}
        after = truth(fleet)
        assert changed(before, after) == {(VICTIM, "user2", w) for w in WATCHERS}

        # section 4: a fleet-wide action with the compromised host among its targets
        before = after
        r = c.post("/api/plan", json={"action": "restart", "scope": "fleet",
                                      "watcher": "ticker"}, headers=headers)
        plan = r.json()
        r = c.post("/api/act", json={"plan": plan["plan"], "typed": plan["confirm_word"]},
                   headers=headers)
        assert r.status_code == 200, r.text
        rows = r.json()["results"]
        want = {(h, u) for h, u in _running(fleet) if (h, u) != (VICTIM, "user1")}
        assert {(x["host"], x["user"]) for x in rows} == want
        assert all(x["ok"] for x in rows), rows
        assert changed(before, truth(fleet)) == {(h, u, "ticker") for h, u in want}
        audit = [json.loads(x) for x in (tmp_path / "state" / "audit.log").read_text()
                 .splitlines()]
        last = [a for a in audit if a["plan"] == audit[-1]["plan"]]
        assert last[0]["result"] == "started" and len(last[0]["items"]) == len(want)
        assert len(last) == len(want) + 2 and last[-1]["result"] == "ok"
        assert all("@" not in item["user"] for a in audit for item in a["items"])
    finally:
        web.hub.close()


def test_shell_at_failed_never_leaves_the_compromised_host(fleet, owned_user):
    before = truth(fleet)
    p = run_sub(fleet, fleet.users_file, "shell", "--bailey", OWNED, "--timeout", "8", *HOSTS,
                "-c", f"status {VICTIM}; target @failed; target ?; restart ticker")
    out = p.stdout
    assert "instance refused" in out, out + p.stderr
    named = [ln for ln in out.splitlines() if HOSTILE_USER in ln]
    assert named and all("instance refused" in ln for ln in named), named  # only the note
    assert re.search(r"targets: host2\n", out), out
    gone = changed(before, truth(fleet))
    assert gone and all(k[0] == VICTIM for k in gone), gone  # nothing elsewhere


def test_cli_run_on_the_compromised_host_stays_there(fleet, owned_user):
    before = truth(fleet)
    p = run_barnum(fleet, "--bailey", OWNED, "--timeout", "8", VICTIM, "--", "--",
                   "restart", "ticker")
    assert p.returncode == 1, p.stderr
    assert f"barnum: {VICTIM}: instance refused: 'user1@host1,user1' is not a valid user " \
           "name" in p.stderr
    gone = changed(before, truth(fleet))
    assert gone == {(VICTIM, "user1", "ticker"), (VICTIM, "user2", "ticker")}, gone
    p = run_barnum(fleet, "--bailey", OWNED, "--timeout", "8", *HOSTS)
    blocks = {b.split()[0]: b for b in p.stdout.split("\n\n") if b.strip()}
    assert "instance refused" in blocks[VICTIM]
    for h in OTHERS:
        assert "refused" not in blocks[h] and "circus_user1_" in blocks[h]
