"""The users file's ``expect:`` on the page: ``barnum check``'s problems, placed on rows.

The comparison itself is :func:`barnum.expect.check` (what ``FleetSession.check()``
serves, and what ``barnum check``, ``barnum watch`` and the shell's ``status``
use); nothing here compares anything.  It only decides where each problem
shows: on the instance's row, on the watcher's row, or on a row of its own
for an expected instance (or watcher) that does not exist.
"""

from __future__ import annotations

from typing import Any

from barnum.expect import KINDS, PROBLEM, Finding
from barnum.session import HostState

SHOWN_ALREADY = {"unit-failed", "instance-error", "host-error"}  # the row says so itself
ABSENT = "absent"  # the state of an expected host that is not in this session
MISSING = "missing"  # the state of an expected instance or watcher that has no unit / no watcher


def text(f: Finding) -> str:
    """The row's note: what ``barnum check`` says, without the host and user it sits on."""
    return KINDS[f.kind] + (f" ({f.detail})" if f.detail else "")


def unmet(check: Any, flt: Any, session_hosts: set[str]) -> list[Finding]:
    """``check``'s problems within the filter's targets (host-level ones included); an
    expected host outside the session counts only when the page shows every host."""
    if check is None:
        return []
    whole = set(flt.selection) == session_hosts and not any(flt.selection.values())
    out = []
    for f in check.findings:
        if f.severity != PROBLEM:
            continue
        if f.host not in session_hosts:
            if whole:
                out.append(f)
        elif f.user is None:
            if f.host in flt.selection:
                out.append(f)
        elif flt.wants_instance(f.host, f.user):
            out.append(f)
    return out


def absent_hosts(found: list[Finding], host_states: dict[str, Any]) -> list[tuple[str, Any]]:
    """(host, state) for expected hosts the session does not have, so their rows show."""
    names = sorted({f.host for f in found if f.host not in host_states})
    return [(h, HostState(h, ABSENT, "expected by the users file, but no circus config "
                                     "was found for this host (or it is not allowed)"))
            for h in names]


def place(row: Any, found: list[Finding], flt: Any) -> None:
    """Put the problems of ``row``'s instance on it and on its watchers (an expected
    watcher it lacks gets a row of its own)."""
    from barnum.web.model import WatcherRow

    for f in found:
        if (f.host, f.user) != (row.host, row.user) or f.kind in SHOWN_ALREADY:
            continue
        if f.watcher is None:
            row.expect.append(text(f))
            continue
        if not flt.wants_watcher(f.watcher):
            continue
        w = next((w for w in row.watchers if w.name == f.watcher), None)
        if w is None:
            w = WatcherRow(row.host, row.user, row.unit, f.watcher, MISSING)
            row.watchers.append(w)
        w.expect.append(text(f))


def missing_rows(hv: Any, found: list[Finding], flt: Any) -> list[Any]:
    """Rows for expected instances the host has no unit for, unless the page's filter
    asks for watchers or for a state a missing instance is not in."""
    from barnum.web.model import InstanceRow

    if flt.watcher or flt.state not in ("", "problem", "failed"):
        return []
    have = {i.user for i in hv.instances}
    out = []
    for f in found:
        if f.host != hv.host or f.user is None or f.user in have:
            continue
        if f.kind != "missing-instance":
            continue
        have.add(f.user)
        out.append(InstanceRow(hv.host, f.user, f.unit or f"circus_{f.user}_{hv.host}.service",
                               "", MISSING, "", 0, MISSING, None, expect=[text(f)]))
    return out
