"""The users file's ``expect:`` on the page: ``barnum check``'s problems, placed on rows.

The comparison itself is :func:`barnum.spec.expect.check` (what ``check_session``
serves, and what ``barnum check``, ``barnum watch`` and the shell's ``status``
use); nothing here compares anything.  It only decides where each problem
shows: on the instance's row, on the watcher's row, or on a row of its own
for an expected instance (or watcher) that does not exist.
"""

from __future__ import annotations

from typing import Any

from barnum.live.session import HostState
from barnum.model.linkstate import LinkState
from barnum.spec.expect import KINDS, PROBLEM, Finding

SHOWN_ALREADY = {"unit-failed", "instance-error", "host-error"}  # the row says so itself
ABSENT = LinkState.ABSENT  # the state of an expected host that is not in this session
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
