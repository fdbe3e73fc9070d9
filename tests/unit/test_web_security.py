"""barnum web's guards through Starlette's test client: auth, CSRF, Origin, Host, headers.

Every refused request is checked to have reached nothing: the recorded
session counts each request that would change a host.
"""

from __future__ import annotations

import os
import re
import stat

import pytest

from barnum import BarnumError
from barnum.web.auth import COOKIE, load_or_create_tokens
from tests.unit.webkit import (
    OPERATOR_TOKEN,
    READONLY_TOKEN,
    client,
    csrf_of,
    make_web,
    origin,
    sign_in,
)


def test_tokens_made_once_in_a_0600_file(tmp_path):
    path = tmp_path / "web" / "tokens.json"
    first = load_or_create_tokens(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.operator != first.readonly and len(first.operator) >= 40
    assert load_or_create_tokens(path) == first  # not regenerated on every start
    assert first.role_of(first.operator) == "operator"
    assert first.role_of(first.readonly) == "readonly"
    assert first.role_of("") is None and first.role_of(first.operator[:-1]) is None


def test_token_file_others_can_read_or_not_a_file_is_refused(tmp_path):
    path = tmp_path / "tokens.json"
    load_or_create_tokens(path)
    os.chmod(path, 0o644)
    with pytest.raises(BarnumError, match="readable by others"):
        load_or_create_tokens(path)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(BarnumError, match="not a regular file"):
        load_or_create_tokens(fifo)


def test_sign_in_sets_a_strict_httponly_cookie(tmp_path):
    web = make_web(tmp_path)
    c = client(web, role=None)
    r = sign_in(c, OPERATOR_TOKEN)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and OPERATOR_TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    tls = make_web(tmp_path, tls=True)
    r = sign_in(client(tls, role=None, tls=True), OPERATOR_TOKEN, tls=True)
    assert "Secure" in r.headers["set-cookie"]


def test_without_a_session_nothing_is_shown(tmp_path):
    c = client(make_web(tmp_path), role=None)
    assert c.get("/").status_code == 303
    assert sign_in(c, "wrong").status_code == 403
    for path in ("/api/fleet", "/api/events", "/metrics", "/api/logs?host=host1&unit=x"):
        assert c.get(path).status_code == 401, path
    bearer = {"Authorization": f"Bearer {READONLY_TOKEN}"}
    assert c.get("/metrics", headers=bearer).status_code == 200
    assert c.get("/api/fleet", headers=bearer).status_code == 200
    assert c.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401


def _plan_body():
    return {"action": "stop", "scope": "watcher", "host": "host1", "user": "user1",
            "watcher": "ticker"}


REFUSALS = {
    "no session": dict(role=None),
    "no CSRF token": dict(csrf=None),
    "wrong CSRF token": dict(csrf="x" * 43),
    "no Origin": dict(origin=None),
    "another Origin": dict(origin="http://evil.example"),
    "null Origin": dict(origin="null"),
    "same host, other scheme": dict(origin="https://testserver"),
    "read-only session": dict(role="readonly"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refused_changes_reach_no_host(tmp_path, case):
    spec = REFUSALS[case]
    web = make_web(tmp_path)
    good = client(web)
    plan = good.post("/api/plan", json=_plan_body(),
                     headers={"Origin": origin(), "X-CSRF-Token": csrf_of(good)}).json()
    assert plan["ok"], plan
    c = client(web, role=spec.get("role", "operator")) if spec.get("role", "operator") else \
        client(web, role=None)
    token = csrf_of(c) if spec.get("role", "operator") else "x"
    headers = {}
    csrf = spec.get("csrf", token)
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    o = spec.get("origin", origin())
    if o is not None:
        headers["Origin"] = o
    for path, body in (("/api/plan", _plan_body()), ("/api/act", {"plan": plan["plan"]}),
                       ("/api/refresh", {})):
        if case == "read-only session" and path == "/api/refresh":
            continue  # a read-only session may ask for a re-read
        r = c.post(path, json=body, headers=headers)
        assert r.status_code in (401, 403), (path, r.status_code, r.text)
        assert r.json()["ok"] is False
    form = {"csrf": headers.get("X-CSRF-Token", ""), "scope": "watcher", "host": "host1",
            "user": "user1", "watcher": "ticker", "action": "stop"}
    r = c.post("/plan", data=form, headers={k: v for k, v in headers.items() if k == "Origin"})
    assert r.status_code in (401, 403)
    assert web.session.calls == []  # nothing reached any host
    assert not (tmp_path / "audit.log").exists()


def test_gets_change_nothing(tmp_path):
    web = make_web(tmp_path)
    c = client(web)
    for path in ("/api/act", "/api/plan", "/act", "/plan", "/api/refresh", "/logout"):
        assert c.get(path).status_code == 405, path
    assert c.get("/?action=stop&scope=fleet").status_code == 200
    assert web.session.calls == []


@pytest.mark.parametrize("host", ["evil.example", "attacker.example:80", "127.0.0.1:8420",
                                  "testserver.evil.example", ""])
def test_host_header_must_be_ours(tmp_path, host):
    """Against DNS rebinding: a name that resolves to us is still not our Host."""
    web = make_web(tmp_path)
    c = client(web)
    r = c.post("/api/refresh", headers={"Host": host, "Origin": origin(),
                                        "X-CSRF-Token": csrf_of(c)})
    assert r.status_code == 421
    assert c.get("/", headers={"Host": host}).status_code == 421
    assert web.session.calls == []


def test_event_stream_refuses_other_sites(tmp_path):
    c = client(make_web(tmp_path))
    r = c.get("/api/events", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = c.get("/api/events", headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403


def test_headers_and_no_inline_script(tmp_path):
    c = client(make_web(tmp_path))
    r = c.get("/")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"  # nothing to another site
    assert "server" not in r.headers
    page = r.text
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert scripts == [(' src="/static/web.js" defer', "")]
    assert not re.search(r"\son[a-z]+\s*=", page)  # no event-handler attributes
    assert " style=" not in page
    for static in ("/static/web.js", "/static/web.css"):
        assert c.get(static).status_code == 200


def test_read_only_page_offers_no_action(tmp_path):
    c = client(make_web(tmp_path), role="readonly")
    page = c.get("/").text
    assert 'action="/plan"' not in page and 'id="confirm"' not in page
    assert "read-only" in page


def test_audit_lines_go_to_the_file_and_the_journal_socket(tmp_path):
    """journald's native datagram format, read back from a real UNIX socket."""
    import json
    import socket

    from barnum.web.audit import Audit

    path = str(tmp_path / "journal.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    try:
        audit = Audit(tmp_path / "audit.log", path)
        audit.record("operator/abc123", "stop", [{"host": "h1", "watcher": "a\nb"}], "ok")
        data = sock.recv(65536)
    finally:
        sock.close()
    assert stat.S_IMODE((tmp_path / "audit.log").stat().st_mode) == 0o600
    line = json.loads((tmp_path / "audit.log").read_text())
    assert line["who"] == "operator/abc123" and line["items"][0]["watcher"] == "a\nb"
    assert b"SYSLOG_IDENTIFIER=barnum-web\n" in data
    assert b"MESSAGE=barnum web: operator/abc123 stop on 1 item(s): ok\n" in data
    assert b"BARNUM_AUDIT=" in data
