"""The fleet as it should be, compared with the fleet as it is (``barnum check``).

The users file's ``expect:`` says, per target (host, pattern or @group),
which users' instances must be active and which of their watchers active::

    expect:
      '@itg': {user1: [kafka, spark-master]}
      host5: {user2: [grafana]}

:func:`check` compares that with a :class:`~barnum.model.results.FleetResult` (a
one-shot run's or a session's snapshot) and returns findings, each a
*problem* (exit 1), an *unknown* (the host could not tell: exit 3) or a
*note* (something nothing expects: information only).  Pure: no I/O, so the
CLI, the web page's matrix and the tests share it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from bailey.report import ERROR, INACTIVE, OK, UNIT_FAILED, Instance
from barnum import EXIT_HOST, EXIT_INSTANCE, EXIT_OK
from barnum.model.hostsort import natural_key
from barnum.model.nodeset import Evaluator, parse
from barnum.model.results import FleetResult

if TYPE_CHECKING:
    from barnum.live.session import FleetSession
    from barnum.model.targets import Selection
from barnum.text.sanitize import clean

if TYPE_CHECKING:
    from barnum.live.session import FleetSession
    from barnum.model.targets import Selection

SCHEMA = "barnum-check/1"
PROBLEM, UNKNOWN, NOTE = "problem", "unknown", "note"

# Finding kinds, and what each means.
KINDS = {
    "missing-instance": "expected instance has no unit on the host",
    "instance-inactive": "expected instance's unit is not active",
    "enabled-inactive": "unit is enabled but not active",
    "unit-failed": "unit failed",
    "instance-error": "unit active but its circusd could not be read",
    "watcher-missing": "expected watcher is not in the instance",
    "watcher-stopped": "expected watcher is not active",
    "host-unknown": "the host could not tell",
    "host-error": "bailey reported a host-level error",
    "unexpected-instance": "active instance that nothing expects",
    "unexpected-watcher": "watcher that nothing expects",
}


@dataclass
class Finding:
    """One difference between the fleet and its expectations."""

    kind: str
    severity: str  # problem, unknown or note
    host: str
    user: str | None = None
    watcher: str | None = None
    unit: str | None = None
    detail: str = ""  # one line, already clean

    def line(self) -> str:
        where = self.host + (f" {self.user}" if self.user else "")
        where += f" {self.watcher}" if self.watcher else ""
        text = f"{where}: {KINDS[self.kind]}"
        return clean(text + (f" ({self.detail})" if self.detail else ""))


@dataclass
class Cell:
    """One row of the matrix: a (host, user) instance and its watchers' states.

    ``status``: ok, missing, inactive, failed, error, unknown.  ``watchers``:
    name -> ok, missing, stopped, failed, unknown, or unexpected.
    """

    host: str
    user: str
    expected: bool
    status: str
    watchers: dict[str, str] = field(default_factory=dict)
    unit: str | None = None


@dataclass
class Check:
    """What :func:`check` found."""

    findings: list[Finding] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == PROBLEM]

    @property
    def unknowns(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == UNKNOWN]

    @property
    def notes(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == NOTE]

    @property
    def exit_code(self) -> int:
        """0 as expected, 1 not as expected, 3 some host could not tell (wins over 1)."""
        if self.unknowns:
            return EXIT_HOST
        return EXIT_INSTANCE if self.problems else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        """``barnum check --json``: schema, exit, findings, and the matrix's cells."""
        return {
            "schema": SCHEMA,
            "exit": self.exit_code,
            "counts": {"problems": len(self.problems), "unknown": len(self.unknowns),
                       "notes": len(self.notes)},
            "findings": [asdict(f) for f in self.findings],
            "cells": [asdict(c) for c in self.cells],
        }


def expected_instances(expect: Mapping[str, Mapping[str, list[str]]],
                       hosts: Mapping[str, list[str]],
                       groups: Mapping[str, list[str]] | None = None
                       ) -> dict[tuple[str, str], list[str]]:
    """(host, user) -> expected watchers, over the discovered ``hosts``.

    A target's literal host names (``host5``, or a group's ``host5``) count even
    where no user has a config for that host: its instances are then missing,
    which is exactly what the operator needs to hear.  Globs only match what
    was discovered.
    """
    ev = Evaluator(hosts, groups, strict=False)
    out: dict[tuple[str, str], list[str]] = {}
    for target, users in expect.items():
        e = parse(target)
        chosen = {h for h, _ in ev.expr(e)}
        chosen |= {h for h in _literal_hosts(target, groups or {}) if h not in hosts}
        for h in chosen:
            for user, watchers in users.items():
                have = out.setdefault((h, user), [])
                have += [w for w in watchers if w not in have]
    return out


def _literal_hosts(target: str, groups: Mapping[str, list[str]], seen: frozenset = frozenset()
                   ) -> set[str]:
    """Host names written out (no glob) in a target made only of unions, through its
    groups; a target with an exclusion or intersection counts only what it selects."""
    e = parse(target)
    if e.negated or any(op != "," for op, _ in e.rest):
        return set()
    out: set[str] = set()
    for t in e.terms:
        if t.group is not None and t.user is None and t.group not in seen:
            for m in groups.get(t.group, []):
                out |= _literal_hosts(m, groups, seen | {t.group})
        elif t.host is not None and t.user is None and not any(c in t.host for c in "*?["):
            out.add(t.host)
    return out


def check(result: FleetResult, expect: Mapping[str, Mapping[str, list[str]]],
          hosts: Mapping[str, list[str]], groups: Mapping[str, list[str]] | None = None,
          whole_fleet: bool = True) -> Check:
    """Compare ``result`` with ``expect``; ``hosts`` is discovery's {host: users}.

    Only the hosts in ``result`` are checked, and on a host run for some users
    only, only those users.  ``whole_fleet`` (no targets given): expected hosts
    that are not in ``result`` at all are reported too, as missing instances.
    """
    wanted = expected_instances(expect, hosts, groups)
    out = Check()
    seen_hosts = {h.host for h in result.hosts}
    for hr in sorted(result.hosts, key=lambda h: natural_key(h.host)):
        mine = {u: w for (h, u), w in wanted.items() if h == hr.host
                and (not hr.users or u in hr.users)}
        if not hr.ok:
            why: str = clean(hr.error or (hr.report.errors[0] if hr.report and hr.report.errors
                                     else "bailey could not list the units"))
            out.findings.append(Finding("host-unknown", UNKNOWN, hr.host, detail=why))
            for u in sorted(mine):
                out.cells.append(Cell(hr.host, u, True, "unknown",
                                      {w: "unknown" for w in mine[u]}))
            continue
        report = hr.report
        if report is None:
            out.findings.append(Finding("host-unknown", UNKNOWN, hr.host,
                                        detail="bailey sent no report"))
            continue
        for e in report.errors:
            out.findings.append(Finding("host-error", PROBLEM, hr.host, detail=clean(e)))
        by_user: dict[str, Instance] = {}
        for inst in report.instances:
            if inst.user is not None:
                by_user.setdefault(inst.user, inst)
        for u in sorted(mine):
            _expected(out, hr.host, u, mine[u], by_user.get(u))
        for inst in report.instances:
            if inst.user not in mine:
                _unexpected(out, hr.host, inst)
    if whole_fleet:
        for (h, u), watchers in sorted(wanted.items(), key=lambda kv: natural_key(kv[0][0])):
            if h in seen_hosts:
                continue
            why = ("no circus config found for this host, or it is not an allowed host"
                   if h not in hosts else "the host was not looked at")
            out.findings.append(Finding("missing-instance", PROBLEM, h, u,
                                        unit=_unit(u, h), detail=why))
            out.cells.append(Cell(h, u, True, "missing", {w: "missing" for w in watchers},
                                  _unit(u, h)))
    return out


def _unit(user: str, host: str) -> str:
    return f"circus_{user}_{host}.service"


def _state_detail(inst: Instance) -> str:
    sub = f" ({inst.sub_state})" if inst.sub_state else ""
    return clean(f"{inst.unit_file_state}, {inst.active_state}{sub}")


def _expected(out: Check, host: str, user: str, watchers: list[str],
              inst: Instance | None) -> None:
    """Findings and the matrix row for one instance the users file expects."""
    if inst is None:
        out.findings.append(Finding("missing-instance", PROBLEM, host, user, unit=_unit(user, host),
                                    detail="no such unit"))
        out.cells.append(Cell(host, user, True, "missing", {w: "missing" for w in watchers},
                              _unit(user, host)))
        return
    cell = Cell(host, user, True, "ok", unit=inst.unit)
    out.cells.append(cell)
    if inst.state == UNIT_FAILED:
        out.findings.append(Finding("unit-failed", PROBLEM, host, user, unit=inst.unit,
                                    detail=_state_detail(inst)))
        cell.status, cell.watchers = "failed", {w: "failed" for w in watchers}
        return
    if inst.state == INACTIVE:
        out.findings.append(Finding("instance-inactive", PROBLEM, host, user, unit=inst.unit,
                                    detail=_state_detail(inst)))
        cell.status, cell.watchers = "inactive", {w: "missing" for w in watchers}
        return
    if inst.state != OK or inst.watchers is None:
        detail = clean(inst.error or inst.state)
        out.findings.append(Finding("instance-error", PROBLEM, host, user, unit=inst.unit,
                                    detail=detail))
        cell.status = "error" if inst.state == ERROR else "unknown"
        cell.watchers = {w: "unknown" for w in watchers}
        return
    for w in watchers:
        status = inst.watchers.get(w)
        if status is None:
            out.findings.append(Finding("watcher-missing", PROBLEM, host, user, w, inst.unit))
            cell.watchers[w] = "missing"
        elif status != "active":
            out.findings.append(Finding("watcher-stopped", PROBLEM, host, user, w, inst.unit,
                                        detail=clean(status)))
            cell.watchers[w] = "stopped"
        else:
            cell.watchers[w] = "ok"
    for w in sorted(set(inst.watchers) - set(watchers)):
        out.findings.append(Finding("unexpected-watcher", NOTE, host, user, clean(w), inst.unit,
                                    detail=clean(inst.watchers[w])))
        cell.watchers[clean(w)] = "unexpected"


def _unexpected(out: Check, host: str, inst: Instance) -> None:
    """An instance nothing expects: a problem if it is broken, else a note."""
    user = inst.user or "?"
    if inst.state == UNIT_FAILED:
        out.findings.append(Finding("unit-failed", PROBLEM, host, user, unit=inst.unit,
                                    detail=_state_detail(inst)))
        status = "failed"
    elif inst.state == INACTIVE:
        if inst.unit_file_state != "enabled":
            return  # disabled and stopped, and nothing wants it: as it should be
        out.findings.append(Finding("enabled-inactive", PROBLEM, host, user, unit=inst.unit,
                                    detail=_state_detail(inst)))
        status = "inactive"
    elif inst.state != OK:
        out.findings.append(Finding("instance-error", PROBLEM, host, user, unit=inst.unit,
                                    detail=clean(inst.error or inst.state)))
        status = "error"
    else:
        names = ", ".join(sorted(inst.watchers or {}))
        out.findings.append(Finding("unexpected-instance", NOTE, host, user, unit=inst.unit,
                                    detail=clean(f"watchers: {names}" if names
                                                 else "no watchers")))
        status = "ok"
    out.cells.append(Cell(host, user, False, status,
                          {clean(w): "unexpected" for w in (inst.watchers or {})}, inst.unit))


def check_session(session: FleetSession, targets: list[str] | Selection | None = None) -> Check:
    """The live session's latest state against the users file's ``expect:``, without
    a request (findings, ``cells`` for a matrix, ``exit_code``)."""
    whole = not targets and set(session.hosts) == set(session.discovery.hosts)
    return check(session.snapshot(targets), session.config.expect, session.discovery.hosts,
                 session.config.groups, whole_fleet=whole)

