"""The page's view model: pure functions from the session's state to rows.

Everything here is computed from :class:`barnum.live.session.HostState` copies, a
``stats`` result per host and :class:`barnum.web.history.History`; nothing
talks to a host.  Strings are already cleaned by the session (they are
escaped again when rendered).  The same model feeds the HTML, the JSON API
and ``/metrics``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from barnum.live.flapping import Moment
from barnum.model.hostsort import natural_key
from barnum.model.linkstate import LinkState, answers
from barnum.text.plural import count
from barnum.web import expectations
from barnum.web.history import History

if TYPE_CHECKING:
    from barnum.spec.expect import Finding

STATES = ("problem", "active", "stopped", "failed", "down")  # the state filter's values


@dataclass
class WatcherRow:
    host: str
    user: str
    unit: str
    name: str
    status: str
    running: int | None = None  # processes circusd runs (from stats)
    wanted: int | None = None  # numprocesses
    cpu: float | None = None
    mem: float | None = None
    rss: int | None = None
    flapping: bool = False
    flapped: bool = False  # flapped within the last hour
    flags: list[str] = field(default_factory=list)  # disagreements, one line each
    cpu_series: list[float] = field(default_factory=list)
    mem_series: list[float] = field(default_factory=list)
    timeline: list[Moment] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)  # "stdout"/"stderr" circus writes to files
    expect: list[str] = field(default_factory=list)  # unmet expectations (barnum.spec.expect)

    @property
    def problem(self) -> bool:
        return self.flapping or bool(self.flags) or bool(self.expect) \
            or self.status not in ("active", "stopped")


@dataclass
class InstanceRow:
    host: str
    user: str
    unit: str
    unit_file_state: str
    active_state: str
    sub_state: str
    n_restarts: int
    state: str  # bailey's: ok | inactive | unit-failed | error
    error: str | None
    watchers: list[WatcherRow] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    memory_current: int | None = None  # systemd's MemoryCurrent (bytes); None: not accounted
    expect: list[str] = field(default_factory=list)  # unmet expectations (barnum.spec.expect)

    @property
    def problem(self) -> bool:
        return self.state in ("unit-failed", "error", "missing") or bool(self.flags) \
            or bool(self.expect) or any(w.problem for w in self.watchers)


@dataclass
class HostView:
    host: str
    state: str  # connecting | up | stale | down | closed
    error: str | None
    last_seen: float | None
    age: float | None  # seconds since the host was last heard
    instances: list[InstanceRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # bailey's host-level errors

    @property
    def down(self) -> bool:
        return not answers(self.state)

    @property
    def problem(self) -> bool:
        return self.down or self.state == LinkState.STALE or bool(self.errors) \
            or any(i.problem for i in self.instances)


@dataclass
class Counters:
    hosts_up: int = 0
    hosts_down: int = 0
    instances_ok: int = 0
    instances_failed: int = 0
    watchers_active: int = 0
    watchers_stopped: int = 0
    watchers_flapped: int = 0  # flapping now or within the last hour, across the targets
    expectations_unmet: int | None = None  # barnum check's problems; None: nothing expected


@dataclass
class FleetView:
    hosts: list[HostView]
    counters: Counters
    now: float
    unmet: list[Any] = field(default_factory=list)  # barnum.spec.expect.Finding, problems only

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Filter:
    """What the URL asks to see; ``selection`` is host -> users ([] = all), from targets."""

    selection: dict[str, list[str]]
    watcher: str = ""  # fnmatch glob on the watcher name
    state: str = ""  # one of STATES, or "" for any

    def wants_instance(self, host: str, user: str) -> bool:
        users = self.selection.get(host)
        return users is not None and (not users or user in users)

    def wants_watcher(self, name: str) -> bool:
        return not self.watcher or fnmatch.fnmatchcase(name, self.watcher)


def stats_index(stats: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(host, user, watcher) -> running, wanted, cpu, mem, rss (summed over processes)."""
    out = {}
    for host, result in stats.items():
        if not isinstance(result, dict):
            continue
        for inst in result.get("instances", []) or []:
            for w in inst.get("watchers", []) or []:
                procs = w.get("processes") or []
                out[(host, inst.get("user") or "?", w.get("name"))] = {
                    "running": len(procs), "wanted": w.get("numprocesses"),
                    "cpu": sum(p.get("cpu") or 0.0 for p in procs),
                    "mem": sum(p.get("mem") or 0.0 for p in procs),
                    "rss": sum(p.get("rss") or 0 for p in procs),
                }
    return out


def unit_memory(stats: dict[str, Any]) -> dict[tuple[str, str], int | None]:
    """(host, user) -> the unit's MemoryCurrent from the newest stats (fresher than a report)."""
    out: dict[tuple[str, str], int | None] = {}
    for host, result in stats.items():
        for inst in (result.get("instances", []) or []) if isinstance(result, dict) else []:
            mem = inst.get("memory_current", "absent")
            if mem is None or (isinstance(mem, int) and not isinstance(mem, bool)):
                out[(host, inst.get("user") or "?")] = mem
    return out


def instance_flags(active_state: str, state: str, error: str | None) -> list[str]:
    """Where systemd and circus disagree about an instance."""
    if active_state == "active" and state == "error":
        return [f"systemd says active, circus does not answer: {error or 'no reply'}"]
    return []


def watcher_flags(status: str, running: int | None, wanted: int | None) -> list[str]:
    if status == "active" and running is not None and wanted is not None and running < wanted:
        return [f"{running} of {count(wanted, 'process')} running"]
    return []


def _instance_matches(state: str, row: InstanceRow) -> bool:
    bad = row.state in ("unit-failed", "error", "missing")
    return (state == "failed" and bad) or (state == "problem" and (
        bad or bool(row.flags) or bool(row.expect)))


def _watcher_matches(state: str, w: WatcherRow) -> bool:
    return w.problem if state == "problem" else w.status == state


def build(host_states: dict[str, Any], stats: dict[str, Any], history: History, flt: Filter,
          now: float, check: Any = None) -> FleetView:
    """The whole view: filtered, problems first, natural order otherwise.

    ``check``: barnum.spec.expect.check's result for the users file's ``expect:`` (None:
    nothing expected); its problems are placed on the rows (barnum.web.expectations).
    """
    idx = stats_index(stats)
    unit_mem = unit_memory(stats)
    counters = Counters()
    hosts: list[HostView] = []
    unmet = expectations.unmet(check, flt, set(host_states))
    counters.expectations_unmet = None if check is None else len(unmet)
    for host, st in [*host_states.items(), *expectations.absent_hosts(unmet, host_states)]:
        if host not in flt.selection and host in host_states:
            continue
        rep = st.report
        hv = HostView(host, st.state, st.error, st.last_seen,
                      None if st.last_seen is None else max(0.0, now - st.last_seen),
                      errors=list(rep.errors) if rep else [])
        if getattr(st, "rejected_text", None):
            hv.errors.append(st.rejected_text)
        if hv.state == expectations.ABSENT:
            pass  # expected, but not a host of this session: no channel to count
        elif hv.down:
            counters.hosts_down += 1
        else:
            counters.hosts_up += 1
        for inst in (rep.instances if rep is not None and not hv.down else []):
            user = inst.user or "?"
            if not flt.wants_instance(host, user):
                continue
            row = InstanceRow(host, user, inst.unit, inst.unit_file_state, inst.active_state,
                              inst.sub_state, inst.n_restarts, inst.state, inst.error,
                              flags=instance_flags(inst.active_state, inst.state, inst.error),
                              memory_current=unit_mem.get((host, user), inst.memory_current))
            for name, status in (inst.watchers or {}).items():
                if not flt.wants_watcher(name):
                    continue
                s = idx.get((host, user, name), {})
                key = (host, user, name)
                series = history.series(key)
                w = WatcherRow(host, user, inst.unit, name, status, s.get("running"),
                               s.get("wanted"), s.get("cpu"), s.get("mem"), s.get("rss"),
                               history.flapping(key, now), history.flapped_recently(key, now),
                               watcher_flags(status, s.get("running"), s.get("wanted")),
                               [c for _, c, _ in series], [m for _, _, m in series],
                               history.moments(key)[-10:],
                               [s for s in ("stdout", "stderr")
                                if f"{s}:{name}" in inst.stream_files])
                row.watchers.append(w)
            place_expected(row, unmet, flt)
            row.watchers.sort(key=lambda w: (not w.problem, natural_key(w.name)))
            _count(counters, row)
            if flt.watcher and not row.watchers:
                continue
            if flt.state and not _instance_matches(flt.state, row):
                row.watchers = [w for w in row.watchers if _watcher_matches(flt.state, w)]
                if not row.watchers:
                    continue
            hv.instances.append(row)
        hv.instances += missing_rows(hv, unmet, flt)
        hv.instances.sort(key=lambda i: (not i.problem, natural_key(i.user)))
        if flt.state and not (hv.instances or (hv.down and flt.state in ("down", "problem"))):
            continue
        hosts.append(hv)
    hosts.sort(key=lambda h: (not h.problem, natural_key(h.host)))
    return FleetView(hosts, counters, now, unmet)


def _count(c: Counters, row: InstanceRow) -> None:
    """Counters cover the targets' instances, whatever the watcher and state filters."""
    if row.state in ("ok", "inactive"):
        c.instances_ok += 1
    else:
        c.instances_failed += 1
    for w in row.watchers:
        if w.status == "active":
            c.watchers_active += 1
        elif w.status == "stopped":
            c.watchers_stopped += 1
        if w.flapping or w.flapped:
            c.watchers_flapped += 1


def place_expected(row: Any, found: list[Finding], flt: Any) -> None:
    """Put the problems of ``row``'s instance on it and on its watchers (an expected
    watcher it lacks gets a row of its own)."""
    for f in found:
        if (f.host, f.user) != (row.host, row.user) or f.kind in expectations.SHOWN_ALREADY:
            continue
        if f.watcher is None:
            row.expect.append(expectations.text(f))
            continue
        if not flt.wants_watcher(f.watcher):
            continue
        w = next((w for w in row.watchers if w.name == f.watcher), None)
        if w is None:
            w = WatcherRow(row.host, row.user, row.unit, f.watcher, expectations.MISSING)
            row.watchers.append(w)
        w.expect.append(expectations.text(f))


def missing_rows(hv: Any, found: list[Finding], flt: Any) -> list[Any]:
    """Rows for expected instances the host has no unit for, unless the page's filter
    asks for watchers or for a state a missing instance is not in."""
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
        unit = f.unit or f"circus_{f.user}_{hv.host}.service"
        out.append(InstanceRow(hv.host, f.user, unit, "", expectations.MISSING, "", 0,
                               expectations.MISSING, None, expect=[expectations.text(f)]))
    return out
