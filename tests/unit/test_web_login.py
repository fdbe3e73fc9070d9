"""Signing in to barnum web without a secret in any URL, and rotating the operator token
(issue 18, section 7): Starlette's test client against the real app and token file."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from barnum import BarnumError
from barnum.web.auth import COOKIE, TokenFile, load_or_create_tokens, rotate_operator_token
from tests.unit.webkit import (
    OPERATOR_TOKEN,
    READONLY_TOKEN,
    RecordedSession,
    client,
    csrf_of,
    make_web,
    origin,
    sign_in,
)

REPO = Path(__file__).resolve().parents[2]


def _code_of(page: str) -> str:
    return re.search(r'name="code" value="([^"]+)"', page).group(1)


def test_get_login_shows_a_form_that_posts_and_never_signs_in(tmp_path):
    c = client(make_web(tmp_path), role=None)
    r = c.get("/login")
    assert r.status_code == 200 and '<form method="post" action="/login">' in r.text
    assert 'src="/static/login.js"' in r.text
    r = c.get(f"/login?token={OPERATOR_TOKEN}")  # an old-style link: refused, not echoed
    assert r.status_code == 400 and "set-cookie" not in r.headers
    assert OPERATOR_TOKEN not in r.text and "paste the token" in r.text
    assert c.get("/").status_code == 303  # still signed out


def test_login_post_needs_our_origin(tmp_path):
    c = client(make_web(tmp_path), role=None)
    for headers in ({}, {"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Origin": "https://testserver"}):
        r = c.post("/login", data={"token": OPERATOR_TOKEN}, headers=headers)
        assert r.status_code == 403 and "set-cookie" not in r.headers, headers
    r = sign_in(c, OPERATOR_TOKEN)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert r.headers["set-cookie"].startswith(f"{COOKIE}=")


def test_the_printed_link_signs_in_once_by_post(tmp_path):
    web = make_web(tmp_path)
    code = web.login_code()
    assert OPERATOR_TOKEN not in code and len(code) >= 30
    c = client(web, role=None)
    page = c.get(f"/login?code={code}")  # shows a form; the GET spends nothing
    assert page.status_code == 200 and "set-cookie" not in page.headers
    assert 'id="code-login"' in page.text and _code_of(page.text) == code
    assert 'src="/static/login.js"' in page.text
    r = c.post("/login", data={"code": code}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403  # a cross-site post of the code is refused ...
    r = c.post("/login", data={"code": code}, headers={"Origin": origin()})
    assert r.status_code == 303, r.text  # ... and did not spend it
    signed = c.get("/")
    assert signed.status_code == 200 and 'id="confirm-ok"' in signed.text  # the operator's
    other = client(web, role=None)
    again = other.post("/login", data={"code": code}, headers={"Origin": origin()})
    assert again.status_code == 403 and "used already" in again.text
    assert other.get("/").status_code == 303


def test_a_login_code_expires(tmp_path):
    web = make_web(tmp_path)
    web.codes.ttl = -1
    code = web.login_code()
    r = client(web, role=None).post("/login", data={"code": code}, headers={"Origin": origin()})
    assert r.status_code == 403


def test_login_js_drops_the_query_and_posts_the_code():
    js = (REPO / "barnum" / "web" / "static" / "login.js").read_text()
    assert "history.replaceState" in js and "code-login" in js and ".submit()" in js


def test_rotation_keeps_the_file_safe_and_the_read_only_token(tmp_path):
    path = tmp_path / "tokens.json"
    first = load_or_create_tokens(path)
    new = rotate_operator_token(path)
    assert new.operator != first.operator and new.readonly == first.readonly
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_tokens(path) == new
    assert [p.name for p in tmp_path.iterdir()] == ["tokens.json"]  # no temporary left
    os.chmod(path, 0o644)
    with pytest.raises(BarnumError, match="readable by others"):
        rotate_operator_token(path)  # an unsafe file is refused, not rewritten


def _file_web(tmp_path):
    from barnum.web.app import Web
    from barnum.web.audit import Audit
    from barnum.web.auth import Origins
    from barnum.web.hub import Hub

    path = tmp_path / "state" / "tokens.json"
    tokens = TokenFile(path)
    session = RecordedSession()
    return Web(session, Hub(session), tokens, Origins.for_bind("testserver", 80, False),
               Audit(tmp_path / "audit.log", None)), path


def test_a_rotated_token_stops_working_in_a_running_server(tmp_path):
    web, path = _file_web(tmp_path)
    old = web.tokens.operator
    ro_token = web.tokens.readonly
    op = client(web, role=None)
    assert sign_in(op, old).status_code == 303
    ro = client(web, role=None)
    assert sign_in(ro, ro_token).status_code == 303
    code = web.login_code()  # issued under the old token
    csrf = csrf_of(op)
    # rotated from another process, as `barnum web --rotate-token` does
    out = subprocess.run([sys.executable, "-c",
                          "import sys; from pathlib import Path; "
                          "from barnum.web.auth import rotate_operator_token as r; "
                          "r(Path(sys.argv[1]))", str(path)],
                         capture_output=True, text=True, cwd=REPO, check=True)
    assert out.returncode == 0
    new = json.loads(path.read_text())["operator"]
    assert new != old
    assert sign_in(client(web, role=None), old).status_code == 403
    assert op.get("/").status_code == 303  # the old token's session is signed out
    body = {"action": "stop", "scope": "watcher", "host": "host1", "user": "user1",
            "watcher": "ticker"}
    r = op.post("/api/plan", json=body, headers={"Origin": origin(), "X-CSRF-Token": csrf})
    assert r.status_code == 401 and web.session.calls == []
    bearer = {"Authorization": f"Bearer {old}"}
    assert client(web, role=None).get("/api/fleet", headers=bearer).status_code == 401
    assert client(web, role=None).post("/login", data={"code": code},
                                       headers={"Origin": origin()}).status_code == 403
    assert ro.get("/").status_code == 200  # the read-only token was not rotated
    assert sign_in(client(web, role=None), new).status_code == 303


def test_a_token_file_made_unsafe_grants_nothing(tmp_path):
    web, path = _file_web(tmp_path)
    c = client(web, role=None)
    token = web.tokens.operator
    assert sign_in(c, token).status_code == 303
    os.chmod(path, 0o644)
    assert c.get("/").status_code == 303
    assert sign_in(client(web, role=None), token).status_code == 403


def test_rotate_token_command(tmp_path):
    users = tmp_path / "users.yaml"
    users.write_text("users: [nobody]\n")
    state = tmp_path / "state"
    first = load_or_create_tokens(state / "tokens.json")
    p = subprocess.run([sys.executable, "-m", "barnum", "web", "--config", str(users),
                        "--state-dir", str(state), "--rotate-token"],
                       capture_output=True, text=True, cwd=REPO, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "new operator token in" in p.stdout and first.operator not in p.stdout
    now = load_or_create_tokens(state / "tokens.json")
    assert now.operator != first.operator and now.readonly == first.readonly
    assert now.readonly != READONLY_TOKEN  # (the recorded web's tokens are other ones)
