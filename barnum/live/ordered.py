"""Start or stop watchers in dependency order over a live session (``--ordered``).

The order is barnum.model.deps'; this module carries it out: each level's watchers
are started (``circusctl start W``, grouped by watcher name, in parallel across
instances), then barnum waits until every one of them reports ``active``
(bounded by ``wait``) before the next level, whose watchers need them, is
started.  Stopping goes dependents first and waits for ``stopped``.  A step
that fails or does not settle in time stops the run: nothing after it is
touched, and the report says what was and what was not done.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bailey.report import OK
from barnum.model.deps import Node, node_key
from barnum.model.discovery import Discovery
from barnum.text.plural import count
from barnum.text.sanitize import clean

POLL = 0.2  # seconds between status requests while waiting (over open channels)


@dataclass
class Step:
    """One level: its nodes, when it was started and when it settled."""

    nodes: list[Node]
    started: float | None = None
    settled: float | None = None
    error: str | None = None


@dataclass
class Outcome:
    """What an ordered run did."""

    verb: str
    steps: list[Step] = field(default_factory=list)
    error: str | None = None
    host_error: bool = False  # the failure was a host that could not be reached

    @property
    def exit_code(self) -> int:
        from barnum import EXIT_HOST, EXIT_INSTANCE, EXIT_OK

        if self.error is None:
            return EXIT_OK
        return EXIT_HOST if self.host_error else EXIT_INSTANCE


def ini_inventory(discovery: Discovery, warn: Callable[[str], None] | None = None
                  ) -> dict[tuple[str, str], list[str]]:
    """(host, user) -> the watchers each discovered circus.ini declares.

    Read on the operator's machine (the homes are shared), so ``--dry-run``
    knows what exists without connecting anywhere.
    """
    from bailey.circusini import CircusIniError, read_circus_ini

    out: dict[tuple[str, str], list[str]] = {}
    for (user, host), path in sorted(discovery.configs.items()):
        if host not in discovery.hosts:
            continue  # not an allowed host
        try:
            out[(host, user)] = read_circus_ini(path).watchers
        except CircusIniError as e:
            if warn:
                warn(f"{host}: {user}: cannot read its circus.ini here: {e}")
    return out


def instances(nodes: list[Node]) -> list[str]:
    """``user@host`` targets of ``nodes``, each once, in order."""
    return list(dict.fromkeys(n.instance for n in sorted(nodes, key=node_key)))


def selection(nodes: list[Node]) -> dict[str, list[str]]:
    """The session's structured addressing for ``nodes``: host -> users, never text."""
    out: dict[str, list[str]] = {}
    for n in sorted(nodes, key=node_key):
        users = out.setdefault(n.host, [])
        if n.user not in users:
            users.append(n.user)
    return out


def commands(verb: str, level: list[Node]) -> list[tuple[str, list[str], list[str]]]:
    """(watcher, circusctl args, instances) for one level, one per watcher name."""
    by_watcher: dict[str, list[Node]] = {}
    for n in level:
        by_watcher.setdefault(n.watcher, []).append(n)
    return [(w, [verb, w], instances(ns)) for w, ns in sorted(by_watcher.items())]


def describe(verb: str, levels: list[list[Node]], graph: Mapping[Node, set[Node]],
             wait: float) -> list[str]:
    """The plan, as --dry-run prints it: order, then the commands (clean lines)."""
    want = "active" if verb == "start" else "stopped"
    lines = [f"{verb} order ({count(len(levels), 'step')}; "
             f"{'dependencies first' if verb == 'start' else 'dependents first'}):"]
    for i, level in enumerate(levels, 1):
        for n in level:
            deps = sorted(graph.get(n, ()), key=node_key)
            why = f"   needs {', '.join(map(str, deps))}" if deps and verb == "start" else ""
            lines.append(clean(f"  {i}. {n}{why}"))
    lines.append("commands:")
    for i, level in enumerate(levels, 1):
        for _w, args, targets in commands(verb, level):
            import shlex

            lines.append(clean(f"  {i}. barnum {shlex.join(targets)} "
                               f"-- -- {shlex.join(args)}"))
        lines.append(f"     then wait until each is {want} (at most {wait:g}s)")
    return lines


def run_ordered(session, verb: str, levels: list[list[Node]], wait: float,
                say: Callable[[str], None]) -> Outcome:
    """Carry out ``levels`` over an open FleetSession; ``say`` gets progress lines."""
    want = "active" if verb == "start" else "stopped"
    out = Outcome(verb)
    t0 = time.monotonic()
    for i, level in enumerate(levels, 1):
        step = Step(level)
        out.steps.append(step)
        step.started = time.monotonic() - t0
        for w, args, _targets in commands(verb, level):
            where = selection([n for n in level if n.watcher == w])
            res = session.circusctl(args, where)
            bad = _failures(res, where)
            if bad:
                step.error = "; ".join(bad)
                out.host_error = any(not h.ok for h in res.hosts)
                break
        if step.error is None:
            step.error = _settle(session, level, want, wait)
        if step.error is not None:
            out.error = f"step {i}: {step.error}"
            rest = [str(n) for lvl in levels[i:] for n in lvl]
            if rest:
                out.error += f"; not {verb}ed: {', '.join(rest)}"
            return out
        step.settled = time.monotonic() - t0
        say(clean(f"{i}. {', '.join(map(str, level))}: {want} "
                  f"({step.settled - step.started:.1f}s)"))
    return out


def _failures(res, where: dict[str, list[str]]) -> list[str]:
    """One line per instance where circusctl did not succeed (clean text)."""
    bad = []
    for h in res.hosts:
        if h.host not in where:
            continue
        if not h.ok:
            bad.append(f"{h.host}: {h.error}")
            continue
        for inst in (h.report.instances if h.report else []):
            if inst.user in where[h.host] and inst.state != OK:
                bad.append(f"{inst.user}@{h.host}: {inst.error or inst.state}")
    got = {(h.host, i.user) for h in res.hosts for i in (h.report.instances
                                                          if h.report else [])}
    down = {h.host for h in res.hosts if not h.ok}
    bad += [f"{u}@{h}: no such instance" for h, users in where.items() for u in users
            if (h, u) not in got and h not in down]
    return [clean(b) for b in bad]


def _settle(session, level: list[Node], want: str, wait: float) -> str | None:
    """None once every node of ``level`` has settled; else why not, after ``wait``.

    Stopped: circus says ``stopped``.  Started: circus says ``active`` *and* the
    watcher has processes whose PIDs are the same in two looks ``POLL`` apart:
    circus calls a watcher whose process keeps dying and being respawned
    ``active`` too, and a dependency like that is not running.
    """
    deadline = time.monotonic() + wait
    targets = selection(level)
    status: dict[Node, str] = {}
    pids: dict[Node, str] = {}
    steady: set[Node] = set()
    while True:
        with contextlib.suppress(Exception):
            res = session.refresh(targets)
            for h in res.hosts:
                for inst in (h.report.instances if h.report else []):
                    for n in level:
                        if (n.host, n.user) == (h.host, inst.user):
                            status[n] = (inst.watchers or {}).get(n.watcher, "missing")
            if want == "active":
                for w, args, _where in commands("list", level):
                    got = _pids(session.circusctl(args, selection(
                        [n for n in level if n.watcher == w])))
                    for n in level:
                        if n.watcher != w:
                            continue
                        now = got.get((n.host, n.user), "")
                        if now and now == pids.get(n):
                            steady.add(n)
                        else:
                            steady.discard(n)
                        pids[n] = now
        late = [n for n in level if status.get(n) != want
                or (want == "active" and n not in steady)]
        if not late:
            return None
        if time.monotonic() >= deadline:
            return "not " + want + f" after {wait:g}s: " + ", ".join(
                f"{n} ({_why(n, status, pids, want)})" for n in late)
        time.sleep(POLL)


def _pids(res) -> dict[tuple[str, str], str]:
    """(host, user) -> the PIDs ``circusctl list W`` printed ("" when none)."""
    out = {}
    for h in res.hosts:
        for inst in (h.report.instances if h.report else []):
            if inst.state == OK and inst.user:
                out[(h.host, inst.user)] = inst.stdout.strip()
    return out


def _why(n: Node, status: dict, pids: dict, want: str) -> str:
    st = status.get(n, "no answer")
    if want == "active" and st == "active":
        return "active, but its processes keep changing" if pids.get(n) else \
            "active, with no process"
    return st
