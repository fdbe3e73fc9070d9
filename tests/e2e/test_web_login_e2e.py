"""``barnum web`` as the operator runs it: the printed link signs in once, and
``barnum web --rotate-token`` from another process locks the old token out of
the running server (issue 18, section 7).  Real processes, real HTTP."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.e2e.subcommand import run_sub
from tests.e2e.test_barnum_e2e import barnum_cmd

pytestmark = pytest.mark.fleet


@pytest.fixture
def server(fleet, tmp_path):
    state = tmp_path / "state"
    cmd = [*barnum_cmd(), "web", "--config", str(fleet.users_file), "--ssh-config",
           str(fleet.ssh_config), "--state-dir", str(state), "--port", "0", "--no-journal",
           "host1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        m = re.fullmatch(r"barnum web: (http://127\.0\.0\.1:\d+)/login\?code=(\S+)\n", line)
        assert m, (line, proc.stderr.readline() if proc.poll() is not None else "")
        yield {"base": m.group(1), "code": m.group(2), "state": state, "proc": proc}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_printed_link_and_rotation_on_a_running_server(fleet, server, tmp_path):
    import httpx

    base, code = server["base"], server["code"]
    tokens = json.loads((server["state"] / "tokens.json").read_text())
    assert tokens["operator"] not in code and tokens["readonly"] not in code
    own = {"Origin": base}

    def client() -> httpx.Client:
        return httpx.Client(base_url=base, follow_redirects=False, timeout=30)

    link = client()
    page = link.get(f"/login?code={code}")
    assert page.status_code == 200 and f'value="{code}"' in page.text
    assert link.post("/login", data={"code": code}).status_code == 403  # no Origin
    assert link.post("/login", data={"code": code}, headers=own).status_code == 303
    assert link.get("/").status_code == 200
    assert client().post("/login", data={"code": code}, headers=own).status_code == 403

    op = client()
    assert op.post("/login", data={"token": tokens["operator"]},
                   headers=own).status_code == 303
    assert op.get("/").status_code == 200
    p = run_sub(fleet, fleet.users_file, "web", "--state-dir", str(server["state"]),
                "--rotate-token")
    assert p.returncode == 0, p.stderr
    new = json.loads((server["state"] / "tokens.json").read_text())
    assert new["operator"] != tokens["operator"] and new["readonly"] == tokens["readonly"]
    assert new["operator"] not in p.stdout + p.stderr
    assert op.get("/").status_code == 303  # the old token's sessions are out ...
    assert link.get("/").status_code == 303  # ... the link's too (it stood for it)
    assert client().post("/login", data={"token": tokens["operator"]},
                         headers=own).status_code == 403
    bearer = {"Authorization": f"Bearer {tokens['operator']}"}
    assert client().get("/api/fleet", headers=bearer).status_code == 401
    fresh = client()
    assert fresh.post("/login", data={"token": new["operator"]},
                      headers=own).status_code == 303
    assert fresh.get("/").status_code == 200
    ro = client()
    assert ro.post("/login", data={"token": tokens["readonly"]}, headers=own).status_code == 303
