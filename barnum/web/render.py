"""Server-side HTML for the page: readable without JavaScript, every host string escaped.

Everything that came from a host, a circus user or the operator's URL passes
:func:`barnum.text.sanitize.html` (control characters made visible, then HTML
escaping, quotes included) exactly where it is placed; nothing else builds
markup.  No inline script and no inline style (the CSP forbids both); the
page's own JS (``static/web.js``) only replaces fragments rendered here.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from barnum.live.flapping import Moment
from barnum.model.linkstate import LinkState
from barnum.text.plural import plural
from barnum.text.sanitize import html as e
from barnum.web.actions import ACTIONS
from barnum.web.expectations import ABSENT, MISSING
from barnum.web.model import STATES, Counters, FleetView, HostView, InstanceRow, WatcherRow

COLUMNS = ("host", "instance", "systemd", "watcher", "circus", "procs", "cpu %", "mem %",
           "trend", "notes", "actions")


@dataclass(frozen=True)
class PageContext:
    role: str  # operator | readonly
    csrf: str
    query: dict[str, str]  # the filter, as in the URL
    error: str | None = None  # the filter's error, one line
    threshold: int = 5
    groups: tuple[str, ...] = ()  # the users file's groups, for the group filter

    @property
    def operator(self) -> bool:
        return self.role == "operator"

    @property
    def qs(self) -> str:
        return urlencode({k: v for k, v in self.query.items() if v})


def layout(title: str, body: str, csrf: str = "", refresh_meta: bool = False) -> str:
    meta = '<meta http-equiv="refresh" content="30">' if refresh_meta else ""
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{e(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="csrf-token" content="{e(csrf)}">{meta}'
        '<link rel="icon" href="data:,">'
        '<link rel="stylesheet" href="/static/web.css">'
        '<noscript><link rel="stylesheet" href="/static/nojs.css"></noscript>'
        '<script src="/static/web.js" defer></script>'
        f"</head><body>{body}</body></html>\n")


def age_text(age: float | None) -> str:
    if age is None:
        return "never heard"
    return f"as of {age:.0f} s ago"


def counters(c: Counters) -> str:
    """The counts over the table; ``data-counter`` names each (plural), the text agrees
    with its number ("1 host up")."""
    items = [("host", "up", c.hosts_up, "ok"), ("host", "down", c.hosts_down, "bad"),
             ("instance", "ok", c.instances_ok, "ok"),
             ("instance", "failed", c.instances_failed, "bad"),
             ("watcher", "active", c.watchers_active, "ok"),
             ("watcher", "stopped", c.watchers_stopped, "warn"),
             ("watcher", "flapped (last hour)", c.watchers_flapped, "bad")]
    named: list[tuple[str, str, int | None, str]] = [
        (f"{noun}s {what}", f"{plural(n, noun)} {what}", n, cls) for noun, what, n, cls in items]
    unmet = "not as expected (barnum check)"
    named.append((unmet, unmet, c.expectations_unmet, "bad"))
    cells = "".join(
        f'<li class="counter {cls if n else ""}" data-counter="{e(key)}">'
        f'<span class="n">{n}</span> {e(text)}</li>' for key, text, n, cls in named
        if n is not None)  # no expectation counter when the users file expects nothing
    return f'<ul id="counters" class="counters">{cells}</ul>'


def sparkline(values: list[float], label: str) -> str:
    """An inline SVG polyline (no script, no style attribute), or nothing."""
    if len(values) < 2:
        return ""
    w, h = 80, 18
    top = max(max(values), 1e-9)
    step = w / (len(values) - 1)
    pts = " ".join(f"{i * step:.1f},{h - 1 - (v / top) * (h - 2):.1f}"
                   for i, v in enumerate(values))
    return (f'<svg class="spark" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
            f'aria-label="{e(label)}"><polyline fill="none" stroke="currentColor" '
            f'stroke-width="1.2" points="{pts}"/></svg>')


def _hidden(**fields: str) -> str:
    return "".join(f'<input type="hidden" name="{e(k)}" value="{e(v)}">'
                   for k, v in fields.items())


def action_form(ctx: PageContext, scope: str, host: str = "", user: str = "",
                watcher: str = "", actions: tuple[str, ...] = ACTIONS) -> str:
    if not ctx.operator:
        return ""
    what = f"{watcher} on {user}@{host}" if watcher else f"every watcher of {user}@{host}"
    buttons = "".join(
        f'<button type="submit" name="action" value="{a}" '
        f'aria-label="{e(a + " " + what)}" data-action="{a}">{_LABEL[a]}</button>'
        for a in actions)
    hidden = _hidden(csrf=ctx.csrf, scope=scope, host=host, user=user, watcher=watcher,
                     q=ctx.qs)
    return f'<form class="act" method="post" action="/plan">{hidden}{buttons}</form>'


_LABEL = {"start": "start", "stop": "stop", "restart": "restart", "reload": "reload",
          "incr": "+1", "decr": "\u22121"}


def clock(t: object, fmt: str = "%H:%M:%S") -> str:
    """A time for a person, or "" when it is no time (NaN, far out of range, not a number)."""
    if isinstance(t, bool) or not isinstance(t, int | float):
        return ""
    try:
        return time.strftime(fmt, time.localtime(t))
    except (OverflowError, OSError, ValueError):
        return ""


def _moment(m: Moment, host: str, unit: str) -> str:
    when = clock(m.t)
    text = e(m.describe())
    if m.action == "reap":
        link = "/logs?" + urlencode({"host": host, "unit": unit, "around": f"{m.t:.0f}"}) \
            if math.isfinite(m.t) else "/logs?" + urlencode({"host": host, "unit": unit})
        text += f' <a href="{e(link)}">journal around it</a>'
    return f'<li class="{e(m.action)}"><time>{e(when)}</time> {text}</li>'


def watcher_row(w: WatcherRow, ctx: PageContext) -> str:
    status = e(w.status)
    if w.flapping:
        status += ' <strong class="flag">FLAPPING</strong>'
    elif w.flapped:
        status += ' <span class="flag">flapped (last hour)</span>'
    procs = "" if w.running is None else (
        f"{w.running}/{w.wanted}" if w.wanted is not None else f"{w.running}")
    timeline = ""
    if w.timeline:
        items = "".join(_moment(m, w.host, w.unit) for m in reversed(w.timeline))
        timeline = f'<details class="timeline"><summary>timeline</summary><ul>{items}</ul>' \
                   "</details>"
    outputs = "".join(
        f' <a class="output {s}" href="{e(output_href(w.host, w.unit, w.name, s))}">{s}</a>'
        for s in w.outputs)
    notes = expect_notes(w.expect) + "".join(
        f'<span class="flag">\u26a0 {e(f)}</span>' for f in w.flags)
    cls = "w" + (" problem" if w.problem else "") + (f" st-{e(w.status)}")
    trend = sparkline(w.cpu_series, f"cpu of {w.name}") + sparkline(w.mem_series,
                                                                    f"memory of {w.name}")
    return (
        f'<tr class="{cls}" data-host="{e(w.host)}" data-user="{e(w.user)}" '
        f'data-watcher="{e(w.name)}">'
        '<td></td><td></td><td></td>'
        f'<td class="wname"><span class="name">{e(w.name)}</span>{outputs}{timeline}</td>'
        f'<td class="status">{status}</td><td class="num procs">{e(procs)}</td>'
        f'<td class="num">{"" if w.cpu is None else f"{w.cpu:.1f}"}</td>'
        f'<td class="num">{"" if w.mem is None else f"{w.mem:.2f}"}</td>'
        f'<td class="trend">{trend}</td><td class="notes">{notes}</td>'
        f'<td class="actions">{action_form(ctx, "watcher", w.host, w.user, w.name)}</td></tr>')


def size_text(n: int | None) -> str:
    """Bytes for a person; "n/a" when systemd does not account the unit's memory."""
    if n is None:
        return "n/a"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def expect_notes(texts: list[str]) -> str:
    """Unmet expectations, in barnum check's words (and its mark, FAIL)."""
    return "".join(f'<span class="flag expect">\u2717 FAIL: {e(t)}</span>' for t in texts)


def instance_row(i: InstanceRow, ctx: PageContext) -> str:
    systemd = (f'{e(i.unit_file_state)} \u00b7 {e(i.active_state)} ({e(i.sub_state)}) '
               f'\u00b7 restarts {i.n_restarts} \u00b7 mem {e(size_text(i.memory_current))}')
    if i.state == MISSING:
        systemd = "expected, no such unit"
    notes = expect_notes(i.expect) + "".join(
        f'<span class="flag">\u26a0 {e(f)}</span>' for f in i.flags)
    if i.error and not i.flags:
        notes += f'<span class="flag">{e(i.state)}: {e(i.error)}</span>'
    logs = "/logs?" + urlencode({"host": i.host, "unit": i.unit})
    cls = "inst" + (" problem" if i.problem else "")
    acts = action_form(ctx, "instance", i.host, i.user) if i.watchers else ""
    return (
        f'<tr class="{cls}" data-host="{e(i.host)}" data-user="{e(i.user)}">'
        f'<td></td><td class="iname"><span class="user">{e(i.user)}</span> '
        f'<a class="unit" href="{e(logs)}" title="journal of this unit">{e(i.unit)}</a></td>'
        f'<td class="systemd">{systemd}</td>'
        f'<td colspan="6" class="istate">circus: {e(i.state)}</td>'
        f'<td class="notes">{notes}</td><td class="actions">{acts}</td></tr>'
        + "".join(watcher_row(w, ctx) for w in i.watchers))


def folded(h: HostView, ctx: PageContext) -> bool:
    """A healthy host shows as one line until opened; problems stay open, and so does
    everything when the page is filtered (the operator asked to see those rows)."""
    return not h.problem and not ctx.query


def host_summary(h: HostView) -> str:
    """The folded line's counts: instances, and watchers active of all."""
    ws = [w for i in h.instances for w in i.watchers]
    active = sum(w.status == "active" for w in ws)
    inst = len(h.instances)
    return (f"{inst} instance{'' if inst == 1 else 's'} \u00b7 {active} of {len(ws)} "
            f"watcher{'' if len(ws) == 1 else 's'} active")


def host_tbody(h: HostView, ctx: PageContext) -> str:
    if h.state == ABSENT:
        state = f'<strong class="down">NOT FOUND</strong> <span class="reason">{e(h.error)}</span>'
    elif h.state == LinkState.CONNECTING and not h.error:
        state = '<strong class="stale">CONNECTING</strong>'
    elif h.down:
        state = f'<strong class="down">DOWN</strong> <span class="reason">' \
                f"{e(h.error or h.state)}</span>"
    elif h.state == LinkState.STALE:
        state = f'<strong class="stale">STALE</strong> <span class="reason">{e(h.error)}</span>'
    else:
        state = '<span class="up">up</span>'
    seen = "" if h.last_seen is None else f'{h.last_seen:.3f}'
    fresh = f'<span class="fresh" data-seen="{seen}">{e(age_text(h.age))}</span>'
    errs = "".join(f'<span class="flag">{e(x)}</span>' for x in h.errors)
    fold = folded(h, ctx)
    cls = "host" + (" problem" if h.problem else "") + (" is-down" if h.down else "") \
        + (" folded" if fold else "")
    name = f'<span class="hname">{e(h.host)}</span>'
    if fold:  # a real button: a click or Enter/Space opens it (static/web.js)
        name = (f'<button type="button" class="fold" aria-expanded="false" '
                f'aria-controls="host-{e(h.host)}" title="show this host\'s rows">{name}</button>')
    summary = "" if h.down else f'<span class="hsum">{e(host_summary(h))}</span> '
    head = (f'<tr class="hostrow"><th colspan="{len(COLUMNS)}" scope="rowgroup">'
            f'{name} <span class="hstate">{state}</span> {summary}'
            f"{fresh} {errs}</th></tr>")
    rows = "".join(instance_row(i, ctx) for i in h.instances)
    if not h.instances and not h.down:
        rows = f'<tr><td></td><td colspan="{len(COLUMNS) - 1}">no circus instance</td></tr>'
    return (f'<tbody id="host-{e(h.host)}" class="{cls}" data-host="{e(h.host)}">'
            f"{head}{rows}</tbody>")


def table(view: FleetView, ctx: PageContext) -> str:
    head = "".join(f'<th scope="col">{e(c)}</th>' for c in COLUMNS)
    bodies = "".join(host_tbody(h, ctx) for h in view.hosts)
    return (f'<table id="fleet"><caption elementtiming="fleet-table">circus instances and '
            "watchers, problems first; healthy hosts folded to one line</caption>"
            f"<thead><tr>{head}</tr></thead>{bodies}</table>")


def _filters(ctx: PageContext) -> str:
    q = ctx.query
    states = "".join(f'<option value="{s}"{" selected" if q.get("state") == s else ""}>{s}'
                     "</option>" for s in ("", *STATES))
    return (
        '<form id="filters" method="get" action="/" class="bar">'
        f'<label>targets <input name="t" value="{e(q.get("t", ""))}" size="22" '
        'placeholder="host1 user1@* @group"></label>'
        f'<label>watcher <input name="watcher" value="{e(q.get("watcher", ""))}" size="12" '
        'placeholder="glob"></label>'
        f'<label>state <select name="state">{states}</select></label>'
        f"{_group_select(ctx)}"
        '<button type="submit">filter</button> <a href="/">clear</a></form>')


def _group_select(ctx: PageContext) -> str:
    if not ctx.groups:
        return ""
    chosen = ctx.query.get("group", "")
    opts = "".join(f'<option value="{e(g)}"{" selected" if chosen == g else ""}>{e(g)}'
                   "</option>" for g in ("", *ctx.groups))
    return f'<label>group <select name="group">{opts}</select></label>'


def _toolbar(ctx: PageContext) -> str:
    refresh = (f'<form method="post" action="/refresh" id="refresh-form" class="inline">'
               f'{_hidden(csrf=ctx.csrf, q=ctx.qs)}'
               '<button type="submit" id="refresh">Refresh</button></form>')
    if not ctx.operator:
        return f'<div class="bar">{refresh} <span class="role">read-only</span></div>'
    opts = "".join(f'<option value="{a}">{a}</option>' for a in ACTIONS)
    bulk = (
        '<form class="act bulk" method="post" action="/plan">'
        f'{_hidden(csrf=ctx.csrf, q=ctx.qs, host="", user="")}'
        f'<label>action <select name="action">{opts}</select></label> '
        '<label>watcher <input name="watcher" size="12" placeholder="all"></label> '
        '<button type="submit" name="scope" value="selection" id="act-selection">'
        "on the filtered selection</button> "
        '<button type="submit" name="scope" value="fleet" id="act-fleet">'
        "on the whole fleet</button></form>")
    return f'<div class="bar">{refresh} {bulk}</div>'


DIALOG = (
    '<dialog id="confirm" aria-labelledby="confirm-title"><form method="dialog">'
    '<h2 id="confirm-title">Confirm</h2><p id="confirm-text"></p>'
    '<ul id="confirm-list"></ul>'
    '<p id="confirm-type" hidden><label>Type <code id="confirm-word"></code> to confirm: '
    '<input id="confirm-input" autocomplete="off"></label></p>'
    '<menu><button value="cancel" id="confirm-cancel">Cancel</button> '
    '<button value="ok" id="confirm-ok">Confirm</button></menu></form></dialog>')


def page(view: FleetView, ctx: PageContext) -> str:
    err = f'<p class="error" role="alert">{e(ctx.error)}</p>' if ctx.error else ""
    body = (
        '<header><h1>barnum: the fleet</h1>'
        f'<span id="live" class="live" data-qs="{e(ctx.qs)}">static page (no live updates '
        "without JavaScript)</span></header>"
        f"{counters(view.counters)}{_filters(ctx)}{_toolbar(ctx)}{err}"
        '<section id="results" aria-live="polite"></section>'
        f"{table(view, ctx)}{DIALOG if ctx.operator else ''}")
    return layout("barnum: the fleet", body, ctx.csrf)


def confirm_page(plan: dict, ctx: PageContext) -> str:
    """The no-JavaScript confirmation: the plan's exact list and one POST to run it."""
    items = "".join(f"<li>{e(it['watcher'])} on {e(it['user'])}@{e(it['host'])}</li>"
                    for it in plan["items"])
    word = ""
    if plan["confirm_word"]:
        word = (f'<p><label>Type <code>{e(plan["confirm_word"])}</code> to confirm: '
                '<input name="typed" autocomplete="off" required></label></p>')
    hidden = _hidden(csrf=ctx.csrf, plan=plan["plan"], q=ctx.qs)
    body = (f"<h1>Confirm</h1><p>{e(plan['summary'])}:</p><ul>{items}</ul>"
            f'<form method="post" action="/act">{hidden}'
            f'{word}<button type="submit">Confirm</button> <a href="/?{e(ctx.qs)}">cancel</a>'
            "</form>")
    return layout("barnum: confirm", body, ctx.csrf)


def results_html(summary: str, rows: list[dict]) -> str:
    items = "".join(
        f'<li class="{"ok" if r["ok"] else "bad"}">{e(r["watcher"])} on {e(r["user"])}@'
        f'{e(r["host"])}: {"ok" if r["ok"] else e(r["error"])}</li>' for r in rows)
    return f'<div class="result"><p>{e(summary)}</p><ul>{items}</ul></div>'


def result_page(summary: str, rows: list[dict], ctx: PageContext) -> str:
    body = (f"<h1>Result</h1>{results_html(summary, rows)}"
            f'<p><a href="/?{e(ctx.qs)}">back to the fleet</a></p>')
    return layout("barnum: result", body, ctx.csrf)


def message_page(title: str, text: str, status_link: str = "/") -> str:
    return layout(f"barnum: {title}", f"<h1>{e(title)}</h1><p>{e(text)}</p>"
                  f'<p><a href="{e(status_link)}">back</a></p>')


LOGIN_JS = '<script src="/static/login.js" defer></script>'  # drops ?code= from history


def login_page(error: str = "") -> str:
    err = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    body = ('<h1>barnum web: sign in</h1>' + err +
            '<form method="post" action="/login"><label>token '
            '<input type="password" name="token" autocomplete="off" required autofocus></label> '
            '<button type="submit">sign in</button></form>'
            "<p>The operator and read-only tokens are in the token file named when "
            "<code>barnum web</code> started.</p>" + LOGIN_JS)
    return layout("barnum: sign in", body)


def code_login_page(code: str) -> str:
    """The printed link's page: a form that posts its one-time code (login.js
    sends it at once and takes the code out of the address bar)."""
    body = ('<h1>barnum web: sign in</h1>'
            '<form method="post" action="/login" id="code-login">'
            f'<input type="hidden" name="code" value="{e(code)}">'
            '<button type="submit">sign in</button></form>' + LOGIN_JS)
    return layout("barnum: sign in", body)


def logs_page(host: str, unit: str, lines: list[dict], ctx: PageContext,
              around: float | None = None, error: str | None = None) -> str:
    rows = "".join(log_line(ln) for ln in lines)
    what = f"{unit} on {host}"
    note = ""
    if around is not None:
        note = f"<p>lines within a minute of {e(clock(around))}</p>"
    err = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    follow = "" if around is not None else " data-follow=\"1\""
    body = (f'<header><h1>journal: {e(what)}</h1><a href="/?{e(ctx.qs)}">back to the fleet</a>'
            f"</header>{note}{err}"
            f'<pre id="log" data-host="{e(host)}" data-unit="{e(unit)}"{follow}>{rows}</pre>')
    return layout(f"barnum: {what}", body, ctx.csrf)


def output_href(host: str, unit: str, watcher: str, stream: str) -> str:
    return "/output?" + urlencode({"host": host, "unit": unit, "watcher": watcher,
                                   "stream": stream})


def output_page(host: str, unit: str, watcher: str, stream: str, result: dict | None,
                ctx: PageContext, error: str | None = None) -> str:
    """A watcher's stdout/stderr file, last lines (cleaned by the session, escaped here)."""
    what = f"{watcher} {stream} ({unit} on {host})"
    err = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    info = ""
    rows = ""
    if result:
        more = " (older lines left out)" if result.get("truncated") else ""
        info = f'<p class="path">file <code>{e(result.get("path", ""))}</code>{e(more)}</p>'
        rows = "".join(f'<span class="ln">{e(ln)}\n</span>' for ln in result.get("lines", [])
                       if isinstance(ln, str))
    body = (f'<header><h1>{e(what)}</h1><a href="/?{e(ctx.qs)}">back to the fleet</a>'
            f'</header>{err}{info}<pre id="output">{rows}</pre>')
    return layout(f"barnum: {what}", body, ctx.csrf)


def log_line(ln: dict) -> str:
    stamp = clock(ln.get("t") or ln.get("time"), "%Y-%m-%d %H:%M:%S")
    return f'<span class="ln">{e(stamp)} {e(ln.get("message", ""))}\n</span>'
