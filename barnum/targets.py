"""Resolve command-line targets (``host``, ``user@host``, globs) against discovery.

A target without ``@`` selects a host and leaves the user list empty, so
bailey looks at every circus instance on it.  A target with ``@`` selects
those users only.  Both parts may be fnmatch globs (``*@host1``,
``user1@*``, ``host[1-3]``).  A target that matches nothing is a usage error
listing close matches, because a typo must not silently shrink a fleet run.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass

from barnum import BarnumError


class TargetError(BarnumError):
    """A target that matches no discovered host or user@host."""


@dataclass(frozen=True)
class Target:
    """One parsed target; ``user`` None means "the host as a whole"."""

    host: str
    user: str | None = None

    def __str__(self) -> str:
        return f"{self.user}@{self.host}" if self.user is not None else self.host


def parse_target(text: str) -> Target:
    """Pure: ``host`` or ``user@host``; both non-empty."""
    user, sep, host = text.rpartition("@")
    if not host or (sep and not user) or text.startswith("-"):
        raise TargetError(f"bad target {text!r}: expected host or user@host")
    return Target(host=host, user=user if sep else None)


def resolve(targets: list[str], hosts: dict[str, list[str]]) -> dict[str, list[str]]:
    """Map targets to {host: users for bailey}; [] means every instance on the host.

    No targets: every discovered host, whole.  A host selected both whole and
    for some users is whole (the wider selection wins).
    """
    if not targets:
        return {h: [] for h in sorted(hosts)}
    whole: set[str] = set()
    chosen: dict[str, set[str]] = {}
    for text in targets:
        t = parse_target(text)
        matched_hosts = [h for h in hosts if fnmatch.fnmatchcase(h, t.host)]
        if t.user is None:
            if not matched_hosts:
                raise TargetError(_unknown(text, sorted(hosts)))
            whole.update(matched_hosts)
            continue
        pairs = [
            (h, u)
            for h in matched_hosts
            for u in hosts[h]
            if fnmatch.fnmatchcase(u, t.user)
        ]
        if not pairs:
            candidates = sorted(f"{u}@{h}" for h, us in hosts.items() for u in us)
            raise TargetError(_unknown(text, candidates))
        for h, u in pairs:
            chosen.setdefault(h, set()).add(u)
    out: dict[str, list[str]] = {}
    for h in sorted(whole | set(chosen)):
        out[h] = [] if h in whole else sorted(chosen[h])
    return out


def _unknown(text: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(text, candidates, n=3, cutoff=0.5)
    msg = f"unknown target {text!r}: no circus config found for it"
    if close:
        msg += f"; did you mean {', '.join(close)}?"
    elif candidates:
        shown = ", ".join(candidates[:8]) + (", ..." if len(candidates) > 8 else "")
        msg += f"; known: {shown}"
    return msg
