"""Resolve command-line targets (``host``, ``user@host``, globs, groups) against discovery.

A target without ``@`` selects a host and leaves the user list empty, so
bailey looks at every circus instance on it.  A target with ``@`` selects
those users only.  Both parts may hold numeric ranges (``host[1-12]``,
ClusterShell's) and ``*``/``?`` globs (``*@host1``, ``user1@*``).  A target
that matches nothing is a usage error listing close matches, because a typo
must not silently shrink a fleet run.  Groups (``@itg``), ranges and set
operations are barnum.model.nodeset's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from barnum import BarnumError
from barnum.model.nodeset import Evaluator, ExpressionError, parse, to_selection


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


def resolve(targets: list[str], hosts: dict[str, list[str]],
            groups: Mapping[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Map targets to {host: users for bailey}; [] means every instance on the host.

    No targets: every discovered host, whole.  Each target is an expression
    (barnum.model.nodeset: ``@group``, ``,`` ``!`` ``&`` ``^``); several targets are
    their union.  A host selected both whole and for some users is whole (the
    wider selection wins).
    """
    if not targets:
        return {h: [] for h in sorted(hosts)}
    ev = Evaluator(hosts, groups)
    atoms: set = set()
    for text in targets:
        try:
            e = parse(text)
        except ExpressionError as err:
            raise TargetError(str(err)) from None
        try:
            got = ev.expr(e)
        except ExpressionError as err:
            raise TargetError(str(err)) from None
        if not got:
            raise TargetError(f"target {text!r} selects nothing (the set operations left "
                              "no host)")
        atoms |= got
    return to_selection(atoms, hosts)


def group_members(hosts: dict[str, list[str]],
                  groups: Mapping[str, list[str]] | None) -> dict[str, dict[str, list[str]]]:
    """Every group's selection over ``hosts``: name -> {host: users ([] = whole)}.

    A group none of whose members is among ``hosts`` maps to {} (not an error:
    groups describe the fleet as it should be, discovery the fleet as it is).
    """
    ev = Evaluator(hosts, groups, strict=False)
    return {g: to_selection(ev.group(g), hosts) for g in (groups or {})}


def groups_of(members: dict[str, dict[str, list[str]]]) -> dict[str, list[str]]:
    """host -> the names of the groups it is (wholly or partly) in, sorted."""
    out: dict[str, list[str]] = {}
    for g in sorted(members):
        for h in members[g]:
            out.setdefault(h, []).append(g)
    return out


Selection = Mapping[str, "list[str] | tuple[str, ...]"]  # host -> users ([] = whole host)


def exact(selection: Selection, hosts: list[str] | Mapping[str, object]) -> dict[str, list[str]]:
    """Pure: a structured selection (host -> users, as the operator picked them)
    checked, never parsed: every host must be one of ``hosts``, every user a
    plain string.  Nothing in it is read as a pattern, group or expression, so
    a name a host reported can only ever stand for itself on that host."""
    out: dict[str, list[str]] = {}
    for h, users in selection.items():
        if not isinstance(h, str) or h not in hosts:
            raise TargetError(f"unknown host {h!r}")
        if not all(isinstance(u, str) and u for u in users):
            raise TargetError(f"{h}: users must be names")
        out[h] = list(dict.fromkeys(users))
    return out
