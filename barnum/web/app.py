"""The Starlette application: pages, the JSON API under /api/, events, /metrics.

Every request passes :class:`Guard` first (Host check, security headers).
Reads need a session cookie or a bearer token (either role); every change is
a POST that needs the session cookie, its CSRF token, a matching Origin and
the operator role.  No GET changes anything on a host.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from barnum import BarnumError
from barnum.live.errors import BadRequest, SessionError
from barnum.text.sanitize import clean
from barnum.web import metrics, render
from barnum.web.actions import (
    UNIT_ACTIONS,
    PlanBook,
    PlanError,
    execute,
    item_dict,
    plan_items,
    plan_unit_items,
)
from barnum.web.audit import Audit
from barnum.web.auth import (
    COOKIE,
    OPERATOR,
    LoginCodes,
    Origins,
    Session,
    Sessions,
    TokenFile,
    Tokens,
    csrf_ok,
)
from barnum.web.hub import Hub
from barnum.web.model import STATES, Filter

STATIC = Path(__file__).with_name("static")
COALESCE = 1.0  # at most one update per host (hence per row) and second
SETTLE = 0.15  # a burst of events (stopping, reap, stop) goes out as one update
KEEPALIVE = 15.0
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
       "object-src 'none'")


@dataclass
class Web:
    """Everything the routes share."""

    session: Any  # barnum.live.session.FleetSession
    hub: Hub
    tokens: Tokens | TokenFile
    origins: Origins
    audit: Audit
    threshold: int = 5
    sessions: Sessions = field(default_factory=Sessions)
    plans: PlanBook = field(default_factory=PlanBook)
    codes: LoginCodes = field(default_factory=LoginCodes)

    def login_code(self) -> str:
        """A one-time operator sign-in code (for the link printed at start)."""
        return self.codes.issue(OPERATOR, self.tokens.grant(OPERATOR))


# -- the guard: Host check and headers on every response ----------------------------------


class Guard:
    """Pure ASGI middleware: a Host we do not serve is refused before any route runs."""

    def __init__(self, app, web: Web) -> None:
        self.app = app
        self.web = web

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        path = scope.get("path", "")
        extra = _security_headers(self.web.origins.secure, path.startswith("/static/"))

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        if not self.web.origins.host_ok(host):
            resp = PlainTextResponse("unknown Host header (this server answers to its own "
                                     "address only; see --public-origin)\n", status_code=421)
            await resp(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def _security_headers(tls: bool, static: bool) -> list[tuple[bytes, bytes]]:
    """``same-origin`` referrers, not ``no-referrer``: under the latter Chromium sends
    ``Origin: null`` on a form's POST, and the sign-in and no-script forms would be
    refused; no URL holds a secret, and nothing leaves for another site."""
    h = [(b"content-security-policy", CSP.encode()), (b"x-frame-options", b"DENY"),
         (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
         (b"cross-origin-opener-policy", b"same-origin"),
         (b"cross-origin-resource-policy", b"same-origin")]
    if not static:
        h.append((b"cache-control", b"no-store"))
    if tls:
        h.append((b"strict-transport-security", b"max-age=31536000"))
    return h


# -- who is asking -------------------------------------------------------------------------


def _web(request: Request) -> Web:
    return request.app.state.web


def _session(request: Request) -> Session | None:
    """The cookie's session, while the token that opened it is still the current one."""
    web = _web(request)
    s = web.sessions.get(request.cookies.get(COOKIE))
    if s is not None and s.grant != web.tokens.grant(s.role):
        web.sessions.close(s.sid)  # its token was rotated away
        return None
    return s


def _reader(request: Request) -> tuple[str, Session | None] | None:
    """(role, session) for a read: the cookie's session, or a bearer token."""
    s = _session(request)
    if s is not None:
        return s.role, s
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        role = _web(request).tokens.role_of(auth[7:].strip())
        if role:
            return role, None
    return None


def _same_origin_read(request: Request) -> bool:
    """For the event streams: no other site may open them (Origin when sent, else
    the browser's Sec-Fetch-Site)."""
    origin = request.headers.get("origin")
    if origin is not None and not _web(request).origins.origin_ok(origin):
        return False
    site = request.headers.get("sec-fetch-site")
    return site in (None, "same-origin", "none")


def _stream_reader(request: Request) -> tuple[str, Session] | Response:
    """(role, session) for an event stream, or the refusal: streams need the
    cookie's session (not a bearer token) and a same-origin handshake."""
    who = _reader(request)
    if who is None or who[1] is None:
        return _refuse(401, "not signed in", True)
    if not _same_origin_read(request):
        return _refuse(403, "cross-origin event stream refused", True)
    return who[0], who[1]


def _refuse(status: int, text: str, as_json: bool) -> Response:
    if as_json:
        return JSONResponse({"ok": False, "error": text}, status_code=status)
    return HTMLResponse(render.message_page("refused", text), status_code=status)


async def _writer(request: Request, form: dict[str, str] | None = None,
                  as_json: bool = True) -> Session | Response:
    """The session of a POST that may change things, or the refusal."""
    web = _web(request)
    s = _session(request)
    if s is None:
        return _refuse(401, "not signed in", as_json)
    if not web.origins.origin_ok(request.headers.get("origin")):
        return _refuse(403, "cross-origin request refused (Origin missing or not this page's)",
                       as_json)
    token = request.headers.get("x-csrf-token") or (form or {}).get("csrf")
    if not csrf_ok(s, token):
        return _refuse(403, "missing or wrong CSRF token: reload the page", as_json)
    if s.role != OPERATOR:
        return _refuse(403, "read-only session: actions need the operator token", as_json)
    return s


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > 65536:
        return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def _json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > 65536:
        raise PlanError("request too large")
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        raise PlanError("request is not JSON") from None
    if not isinstance(doc, dict):
        raise PlanError("request must be a JSON object")
    return {k: v for k, v in doc.items() if isinstance(v, str)}


# -- filters -------------------------------------------------------------------------------


def query_of(params: Any) -> dict[str, str]:
    """The filter's fields from a query string (unknown keys dropped, lengths capped)."""
    return {k: str(params.get(k, ""))[:500] for k in ("t", "watcher", "state", "group")
            if params.get(k)}


def filter_of(web: Web, query: dict[str, str]) -> tuple[Filter, str | None]:
    """The URL's filter through the CLI's own target resolution; (filter, error)."""
    targets = query.get("t", "").split()
    if query.get("group"):
        targets += [f"@{g}" for g in query["group"].split()]
    state = query.get("state", "")
    if state and state not in STATES:
        return Filter({}), f"unknown state {state!r}: one of {', '.join(STATES)}"
    try:
        selection = web.session.resolve(targets)
    except BarnumError as e:
        return Filter({}), str(e)
    return Filter(selection, query.get("watcher", ""), state), None


def _groups(web: Web) -> tuple[str, ...]:
    groups = getattr(web.session, "groups", None)
    return tuple(sorted(groups())) if groups else ()


# -- pages ---------------------------------------------------------------------------------


async def index(request: Request) -> Response:
    who = _reader(request)
    if who is None or who[1] is None:
        return RedirectResponse("/login", status_code=303)
    web = _web(request)
    query = query_of(request.query_params)
    flt, err = filter_of(web, query)
    ctx = render.PageContext(who[0], who[1].csrf, query, err, web.threshold, _groups(web))
    view = web.hub.view(flt)
    return HTMLResponse(render.page(view, ctx))


async def login(request: Request) -> Response:
    """GET shows the form (and, for the printed link's one-time ``?code=``, a form
    that posts the code at once); only a POST signs in.  A token in the URL is never
    accepted: the browser would keep it in its history."""
    web = _web(request)
    if request.method == "GET":
        code = request.query_params.get("code", "")[:200]
        if code:
            return HTMLResponse(render.code_login_page(code))
        if "token" in request.query_params:
            return HTMLResponse(render.login_page(
                "tokens are not taken from the address (it stays in the browser's "
                "history): paste the token here"), status_code=400)
        return HTMLResponse(render.login_page())
    if not web.origins.origin_ok(request.headers.get("origin")):
        return _refuse(403, "cross-origin sign-in refused (Origin missing or not this "
                       "page's)", False)
    form = await _form(request)
    role: str | None
    if "code" in form:
        got = web.codes.take(form["code"])
        if got is None or got[1] != web.tokens.grant(got[0]):
            return HTMLResponse(render.login_page(
                "this sign-in link was used already or has expired: paste the token"),
                status_code=403)
        role, grant = got
    else:
        role = web.tokens.role_of(form.get("token"))
        if role is None:
            return HTMLResponse(render.login_page("wrong token"), status_code=403)
        grant = web.tokens.grant(role)
    s = web.sessions.open(role, grant)
    resp = RedirectResponse("/", status_code=303)
    resp.set_cookie(COOKIE, s.sid, httponly=True, samesite="strict", secure=web.origins.secure,
                    path="/")
    return resp


async def logout(request: Request) -> Response:
    s = await _writer_any(request)
    if isinstance(s, Response):
        return s
    _web(request).sessions.close(s.sid)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


async def _writer_any(request: Request) -> Session | Response:
    """A POST by either role (sign out, refresh): cookie, Origin and CSRF still checked."""
    web = _web(request)
    s = _session(request)
    form = await _form(request) if "form" in request.headers.get("content-type", "") else {}
    if s is None:
        return _refuse(401, "not signed in", not form)
    if not web.origins.origin_ok(request.headers.get("origin")):
        return _refuse(403, "cross-origin request refused", not form)
    if not csrf_ok(s, request.headers.get("x-csrf-token") or form.get("csrf")):
        return _refuse(403, "missing or wrong CSRF token: reload the page", not form)
    request.state.form = form
    return s


# -- actions -------------------------------------------------------------------------------


def _plan(web: Web, s: Session, fields: dict[str, str]):
    scope = fields.get("scope", "")
    if scope == "selection":
        flt, err = filter_of(web, dict(parse_qsl(fields.get("q", ""))))
        if err:
            raise PlanError(err)
    else:
        flt = web.hub.whole()
    action = fields.get("action", "")
    if action in UNIT_ACTIONS:
        items = plan_unit_items(web.hub.view(flt), scope, fields.get("host", ""),
                                fields.get("user", ""), web.session.discovery.hosts,
                                getattr(web.session.config, "users", None) or ())
    else:
        items = plan_items(web.hub.view(flt), scope, fields.get("host", ""),
                           fields.get("user", ""), fields.get("watcher", "").strip())
    return web.plans.add(s.sid, action, scope, items, web.threshold)


async def _act(web: Web, s: Session, plan_id: str, typed: str) -> tuple[str, list[dict]]:
    """Run a confirmed plan.  The audit gets a line when it starts (what is about to
    be touched), one per result as it comes (failures too), and the outcome; an
    action that breaks halfway is still on record up to where it broke."""
    plan = web.plans.take(s.sid, plan_id, typed)
    tag = {"scope": plan.scope, "plan": plan.id[:8]}
    web.audit.record(s.who, plan.action, [item_dict(plan.action, it) for it in plan.items],
                     "started", **tag)

    def each(row: dict) -> None:
        web.audit.record(s.who, plan.action, [row], "ok" if row["ok"] else "failed", **tag)

    try:
        rows = await run_in_threadpool(execute, web.session, plan, None, each)
    except Exception as e:  # execute reports per row; anything left is still recorded
        web.audit.record(s.who, plan.action, [], clean(f"broke off: {type(e).__name__}"),
                         **tag)
        raise
    finally:
        for h in plan.hosts:
            web.hub.bump(h)
    failed = [r for r in rows if not r["ok"]]
    result = "ok" if not failed else f"{len(failed)} of {len(rows)} failed"
    web.audit.record(s.who, plan.action, rows, result, **tag)
    return f"{plan.summary()}: {result}", rows


async def api_plan(request: Request) -> Response:
    s = await _writer(request)
    if isinstance(s, Response):
        return s
    try:
        plan = _plan(_web(request), s, await _json(request))
    except PlanError as e:
        return JSONResponse({"ok": False, "error": str(e)}, status_code=400)
    return JSONResponse({"ok": True, **plan.to_dict()})


async def api_act(request: Request) -> Response:
    s = await _writer(request)
    if isinstance(s, Response):
        return s
    try:
        fields = await _json(request)
        summary, rows = await _act(_web(request), s, fields.get("plan", ""),
                                   fields.get("typed", ""))
    except PlanError as e:
        return JSONResponse({"ok": False, "error": str(e)}, status_code=400)
    return JSONResponse({"ok": all(r["ok"] for r in rows), "summary": summary, "results": rows,
                         "html": render.results_html(summary, rows)})


async def form_plan(request: Request) -> Response:
    form = await _form(request)
    s = await _writer(request, form, as_json=False)
    if isinstance(s, Response):
        return s
    web = _web(request)
    ctx = render.PageContext(s.role, s.csrf, dict(parse_qsl(form.get("q", ""))))
    try:
        plan = _plan(web, s, form)
    except PlanError as e:
        return HTMLResponse(render.message_page("nothing done", str(e)), status_code=400)
    return HTMLResponse(render.confirm_page(plan.to_dict(), ctx))


async def form_act(request: Request) -> Response:
    form = await _form(request)
    s = await _writer(request, form, as_json=False)
    if isinstance(s, Response):
        return s
    ctx = render.PageContext(s.role, s.csrf, dict(parse_qsl(form.get("q", ""))))
    try:
        summary, rows = await _act(_web(request), s, form.get("plan", ""), form.get("typed", ""))
    except PlanError as e:
        return HTMLResponse(render.message_page("nothing done", str(e)), status_code=400)
    return HTMLResponse(render.result_page(summary, rows, ctx))


async def api_refresh(request: Request) -> Response:
    s = await _writer_any(request)
    if isinstance(s, Response):
        return s
    web = _web(request)

    def work() -> int:
        res = web.session.refresh()
        web.hub.poll_stats()
        for h in web.session.hosts:
            web.hub.bump(h)
        return sum(1 for h in res.hosts if h.error is None)

    n = await run_in_threadpool(work)
    if request.state.form:
        q = request.state.form.get("q", "")
        return RedirectResponse("/" + (f"?{q}" if q else ""), status_code=303)
    return JSONResponse({"ok": True, "hosts_answered": n, "t": time.time()})


# -- reads: JSON, metrics, events ----------------------------------------------------------


async def api_fleet(request: Request) -> Response:
    if _reader(request) is None:
        return _refuse(401, "not signed in (cookie or bearer token)", True)
    web = _web(request)
    flt, err = filter_of(web, query_of(request.query_params))
    if err:
        return JSONResponse({"ok": False, "error": err}, status_code=400)
    return JSONResponse({"ok": True, **web.hub.view(flt).to_dict()})


async def metrics_route(request: Request) -> Response:
    if _reader(request) is None:
        return PlainTextResponse("not signed in (cookie or bearer token)\n", status_code=401)
    web = _web(request)
    return Response(metrics.render(web.hub.view(web.hub.whole())),
                    media_type=metrics.CONTENT_TYPE)


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def api_events(request: Request) -> Response:
    who = _stream_reader(request)
    if isinstance(who, Response):
        return who
    web = _web(request)
    query = query_of(request.query_params)
    flt, err = filter_of(web, query)
    ctx = render.PageContext(who[0], who[1].csrf, query, err, web.threshold)
    return StreamingResponse(_stream(web, flt, ctx), media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no"})


async def _stream(web: Web, flt: Filter, ctx: render.PageContext):
    """Changed hosts' rows, at most once per host per COALESCE seconds; freshness each
    second; the order and counters with every change.  Woken by the hub's bumps (no
    polling): a change in a quiet row leaves once its burst has settled (SETTLE)."""
    sent: dict[str, int] = web.hub.snapshot_versions()  # the page has these already
    sent_at: dict[str, float] = {}
    noticed: dict[str, int] = dict(sent)  # the last version seen, and when it was new
    changed_at: dict[str, float] = {}
    pending_since: dict[str, float] = {}
    seen_sent: dict[str, Any] = {}
    last_fresh = last_ka = 0.0
    order: list[str] | None = None
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    web.hub.waiter(loop, wake)
    try:
        yield "retry: 2000\n\n"
        while not web.hub.closing.is_set():
            wake.clear()
            now = time.time()
            versions = web.hub.snapshot_versions()
            for h, v in versions.items():
                if v != noticed.get(h):
                    noticed[h], changed_at[h] = v, now
                    pending_since.setdefault(h, now)
            changed = [h for h, v in versions.items() if v != sent.get(h)]

            def due(h: str) -> float:
                """When h may go: its burst settled (or pending a full window), and a
                window after the last update."""
                settled = min(changed_at[h] + SETTLE, pending_since[h] + COALESCE)
                return max(settled, sent_at.get(h, 0.0) + COALESCE)

            ready = [h for h in changed if due(h) <= now]
            if ready:
                view = web.hub.view(flt, now)
                by_host = {h.host: h for h in view.hosts}
                for h in ready:
                    sent[h], sent_at[h] = versions[h], now
                    pending_since.pop(h, None)
                    hv = by_host.get(h)
                    yield _sse("host", {"host": h,
                                        "html": render.host_tbody(hv, ctx) if hv else ""})
                new_order = [h.host for h in view.hosts]
                if new_order != order:
                    order = new_order
                    yield _sse("order", order)
                yield _sse("counters", render.counters(view.counters))
            if now - last_fresh >= 1.0:
                last_fresh = now
                seen = {h: st.last_seen for h, st in web.session.host_states().items()}
                if seen != seen_sent:
                    seen_sent = seen
                    yield _sse("fresh", {"now": now, "seen": seen})
            if now - last_ka >= KEEPALIVE:
                last_ka = now
                yield ": keepalive\n\n"
            waiting = [due(h) - now for h in changed if h not in ready]
            timeout = max(0.01, min([last_fresh + 1.0 - now, *waiting]))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout)
    finally:
        web.hub.unwait(loop, wake)


# -- logs ----------------------------------------------------------------------------------


def _unit_of(web: Web, host: str, unit: str) -> str | None:
    """An error unless ``unit`` is a circus unit the session knows on ``host``."""
    if host not in web.session.hosts:
        return "unknown host"
    if not any(h == host and u == unit for h, _user, u in web.session.units([host])):
        return "unknown unit on this host"
    return None


async def logs_page(request: Request) -> Response:
    who = _reader(request)
    if who is None or who[1] is None:
        return RedirectResponse("/login", status_code=303)
    web = _web(request)
    host, unit = request.query_params.get("host", ""), request.query_params.get("unit", "")
    ctx = render.PageContext(who[0], who[1].csrf, {})
    err = _unit_of(web, host, unit)
    if err:
        return HTMLResponse(render.message_page("no such unit", err), status_code=404)
    around = None
    with_around = request.query_params.get("around")
    if with_around:
        try:
            around = float(with_around)
        except ValueError:
            around = None
        if around is not None and not math.isfinite(around):
            around = None
    lines: list[dict] = []
    try:
        lines = await run_in_threadpool(web.session.logs, unit, host, 1000 if around else 100)
    except Exception as e:
        err = clean(str(e))
    if around is not None:
        lines = [ln for ln in lines if isinstance(ln.get("t"), int | float)
                 and abs(ln["t"] - around) <= 60]
    return HTMLResponse(render.logs_page(host, unit, lines, ctx, around, err))


def _output_query(web: Web, q: Any) -> tuple[tuple[str, str, str, str], str | None]:
    args = (q.get("host", ""), q.get("unit", ""), q.get("watcher", ""), q.get("stream", ""))
    err = _unit_of(web, args[0], args[1])
    if err is None and args[3] not in ("stdout", "stderr"):
        err = "stream must be stdout or stderr"
    return args, err


async def output_page(request: Request) -> Response:
    who = _reader(request)
    if who is None or who[1] is None:
        return RedirectResponse("/login", status_code=303)
    web = _web(request)
    ctx = render.PageContext(who[0], who[1].csrf, {})
    (host, unit, watcher, stream), err = _output_query(web, request.query_params)
    if err:
        return HTMLResponse(render.message_page("no such output", err), status_code=404)
    result = None
    try:
        result = await run_in_threadpool(web.session.output, host, unit, watcher, stream)
    except Exception as e:
        err = clean(str(e))
    return HTMLResponse(render.output_page(host, unit, watcher, stream, result, ctx, err))


def _n_arg(q: Any, default: int) -> int:
    """``?n=``: how many lines; not a whole number is the caller's error (400)."""
    raw = q.get("n")
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest("n must be an integer from 0 to 10000") from None


def _failed(e: Exception) -> Response:
    """A session request's failure as JSON: 400, 404 or 502 by its type (barnum.live.errors)."""
    status = e.status if isinstance(e, SessionError) else 502
    return JSONResponse({"ok": False, "error": clean(str(e))}, status_code=status)


async def api_output(request: Request) -> Response:
    if _reader(request) is None:
        return _refuse(401, "not signed in (cookie or bearer token)", True)
    web = _web(request)
    (host, unit, watcher, stream), err = _output_query(web, request.query_params)
    if err:
        return JSONResponse({"ok": False, "error": err}, status_code=404)
    try:
        n = _n_arg(request.query_params, 200)
        result = await run_in_threadpool(web.session.output, host, unit, watcher, stream, n)
    except Exception as e:
        return _failed(e)
    return JSONResponse({"ok": True, "host": host, **result})


async def api_logs(request: Request) -> Response:
    if _reader(request) is None:
        return _refuse(401, "not signed in (cookie or bearer token)", True)
    web = _web(request)
    host, unit = request.query_params.get("host", ""), request.query_params.get("unit", "")
    err = _unit_of(web, host, unit)
    if err:
        return JSONResponse({"ok": False, "error": err}, status_code=404)
    try:
        n = _n_arg(request.query_params, 100)
        lines = await run_in_threadpool(web.session.logs, unit, host, n)
    except Exception as e:
        return _failed(e)
    return JSONResponse({"ok": True, "host": host, "unit": unit, "lines": lines})


async def api_logs_stream(request: Request) -> Response:
    who = _stream_reader(request)
    if isinstance(who, Response):
        return who
    web = _web(request)
    host, unit = request.query_params.get("host", ""), request.query_params.get("unit", "")
    err = _unit_of(web, host, unit)
    if err:
        return JSONResponse({"ok": False, "error": err}, status_code=404)
    sub = web.session.subscribe(kinds={"log"})
    try:
        await run_in_threadpool(web.hub.follow, host, unit)
    except Exception as e:
        sub.close()
        return _failed(e)

    async def gen():
        try:
            yield "retry: 2000\n\n"
            while True:  # until the client goes, or the stream ends: then an ``end`` event
                why = "the server is stopping" if web.hub.closing.is_set() else \
                    web.hub.ended(host, unit)
                if why is not None:
                    yield _sse("end", {"host": host, "unit": unit, "reason": why})
                    return
                batch = []
                while (ev := sub.get(0)) is not None:
                    if ev.host == host and ev.data.get("unit") == unit:
                        batch.append(render.log_line(ev.data.get("line") or {}))
                if batch:
                    yield _sse("lines", "".join(batch))
                await asyncio.sleep(0.2)
        finally:
            sub.close()
            # the last page out cancels the host's journalctl -f (off the event loop)
            threading.Thread(target=web.hub.unfollow, args=(host, unit), daemon=True).start()

    return StreamingResponse(gen(), media_type="text/event-stream")


def build_app(web: Web) -> Any:
    routes = [
        Route("/", index),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/plan", form_plan, methods=["POST"]),
        Route("/act", form_act, methods=["POST"]),
        Route("/refresh", api_refresh, methods=["POST"]),
        Route("/logs", logs_page),
        Route("/output", output_page),
        Route("/api/output", api_output),
        Route("/metrics", metrics_route),
        Route("/api/fleet", api_fleet),
        Route("/api/events", api_events),
        Route("/api/plan", api_plan, methods=["POST"]),
        Route("/api/act", api_act, methods=["POST"]),
        Route("/api/refresh", api_refresh, methods=["POST"]),
        Route("/api/logs", api_logs),
        Route("/api/logs/stream", api_logs_stream),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(debug=False, routes=routes)
    app.state.web = web
    return Guard(app, web)
