"""What the page may do to the fleet: a fixed set of circusctl verbs on known watchers.

An action is planned first (:func:`plan_items` over the view model: exactly
which watchers on which hosts), shown to the operator, then executed as that
plan and nothing else.  There is no way to pass other circusctl arguments:
no ``add`` with a command line, no shell, no options.  Plans are one-shot,
bound to the session that made them, and expire.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from barnum.model.hostsort import natural_key
from barnum.text.plural import count
from barnum.text.sanitize import clean
from barnum.web.model import FleetView

ACTIONS = ("start", "stop", "restart", "reload", "incr", "decr")
# systemctl on the instances' circus units (barnum.oneshot.units), not circusctl:
UNIT_ACTIONS = ("unit-start", "unit-stop", "unit-restart", "unit-reset-failed")  # the shell's
SCOPES = ("watcher", "instance", "selection", "fleet")
PLAN_TTL = 120.0
ACTION_TIMEOUT = 30.0  # a restart waits for circus to stop and start the processes

Item = tuple[str, str, str]  # host, user, watcher (a unit action: the unit's name)


class PlanError(ValueError):
    """A request that names no valid action or nothing to act on (one line)."""


@dataclass(frozen=True)
class Plan:
    id: str
    owner: str  # session id
    action: str
    scope: str
    items: tuple[Item, ...]
    confirm_word: str | None  # what the operator must type, above the threshold
    created: float = field(default_factory=time.time)

    @property
    def hosts(self) -> list[str]:
        return sorted({h for h, _, _ in self.items}, key=natural_key)

    @property
    def instances(self) -> int:
        return len({(h, u) for h, u, _ in self.items})

    @property
    def on_units(self) -> bool:
        return self.action in UNIT_ACTIONS

    def summary(self) -> str:
        if self.on_units:  # as barnum unit asks: "restart 2 units on 1 host"
            return (f"{unit_verb(self.action)} {count(len(self.items), 'unit')} on "
                    f"{count(len(self.hosts), 'host')}")
        return (f"{self.action} {count(len(self.items), 'watcher')} on "
                f"{count(len(self.hosts), 'host')} ({count(self.instances, 'instance')})")

    def to_dict(self) -> dict[str, Any]:
        return {"plan": self.id, "action": self.action, "scope": self.scope,
                "watchers": 0 if self.on_units else len(self.items),
                "units": len(self.items) if self.on_units else 0, "hosts": len(self.hosts),
                "instances": self.instances, "summary": self.summary(),
                "confirm_word": self.confirm_word,
                "items": [item_dict(self.action, it) for it in self.items]}


def unit_verb(action: str) -> str:
    """``unit-restart`` -> ``restart`` (systemctl's verb)."""
    return action.removeprefix("unit-")


def item_dict(action: str, item: Item) -> dict[str, str]:
    h, u, w = item
    return {"host": h, "user": u, ("unit" if action in UNIT_ACTIONS else "watcher"): w}


def plan_unit_items(view: FleetView, scope: str, host: str = "", user: str = "",
                    known: Mapping[str, Sequence[str]] | None = None,
                    users: Sequence[str] = ()) -> list[Item]:
    """Pure: the circus units a unit action touches: one instance's (``instance``), or
    every instance in ``view`` (``selection``, ``fleet``).  Units are named from the
    (host, user) pair, never from what the host reported; with ``known`` (discovery:
    host -> users) only a discovered host's users, or the users file's ``users``, count
    (as ``barnum unit`` allows), so a host cannot add units of its own to the plan."""
    from barnum.oneshot.units import unit_of

    if scope not in SCOPES or scope == "watcher":
        raise PlanError(f"a unit action acts on an instance, a selection or the fleet, "
                        f"not {scope!r}")
    out: list[Item] = []
    for h in view.hosts:
        if scope == "instance" and h.host != host:
            continue
        for i in h.instances:
            if scope == "instance" and i.user != user:
                continue
            if known is not None and i.user not in [*known.get(h.host, ()), *users]:
                continue
            unit = unit_of(h.host, i.user) if i.state != "missing" else None
            if unit is not None:
                out.append((h.host, i.user, unit))
    if not out:
        raise PlanError("nothing to act on: no such instance in the current view")
    return sorted(set(out), key=lambda it: (natural_key(it[0]), it[1]))


def plan_items(view: FleetView, scope: str, host: str = "", user: str = "",
               watcher: str = "") -> list[Item]:
    """Pure: the watchers an action touches.  ``view`` is the filtered view for
    ``selection``, the whole fleet's for the other scopes; ``watcher`` (an exact
    name) narrows ``selection`` and ``fleet``."""
    if scope not in SCOPES:
        raise PlanError(f"unknown scope {scope!r}")
    out: list[Item] = []
    for h in view.hosts:
        if scope in ("watcher", "instance") and h.host != host:
            continue
        for i in h.instances:
            if scope in ("watcher", "instance") and i.user != user:
                continue
            for w in i.watchers:
                if (scope != "instance" and watcher) and w.name != watcher:
                    continue
                if not w.name or w.name.startswith("-"):
                    continue  # circusctl would read it as an option: never acted on
                out.append((h.host, i.user, w.name))
    if scope == "watcher" and not watcher:
        raise PlanError("no watcher named")
    if not out:
        raise PlanError("nothing to act on: no such watcher in the current view")
    return sorted(set(out), key=lambda it: (natural_key(it[0]), it[1], it[2]))


def confirm_word(items: list[Item], threshold: int) -> str | None:
    """Above the threshold the operator types the watcher's name (or, for many
    names, how many watchers will be touched)."""
    if len(items) <= threshold:
        return None
    names = {w for _, _, w in items}
    return next(iter(names)) if len(names) == 1 else str(len(items))


class PlanBook:
    """Plans waiting for their confirmation: one-shot, per session, expiring."""

    def __init__(self) -> None:
        self._plans: dict[str, Plan] = {}
        self._lock = threading.Lock()

    def add(self, owner: str, action: str, scope: str, items: list[Item],
            threshold: int) -> Plan:
        if action not in ACTIONS + UNIT_ACTIONS:
            raise PlanError(f"unknown action {action!r}: one of "
                            f"{', '.join(ACTIONS + UNIT_ACTIONS)}")
        p = Plan(secrets.token_urlsafe(16), owner, action, scope, tuple(items),
                 confirm_word(items, threshold))
        with self._lock:
            now = time.time()
            for k in [k for k, v in self._plans.items() if now - v.created > PLAN_TTL]:
                del self._plans[k]
            self._plans[p.id] = p
        return p

    def take(self, owner: str, plan_id: str, typed: str = "") -> Plan:
        """The plan, once; a wrong typed word leaves it waiting (the operator retries)."""
        with self._lock:
            p = self._plans.get(plan_id)
            if p is None or p.owner != owner or time.time() - p.created > PLAN_TTL:
                raise PlanError("this confirmation expired or is not yours: plan again")
            if p.confirm_word is not None and typed.strip() != p.confirm_word:
                raise PlanError(f"type {p.confirm_word!r} to confirm")
            del self._plans[plan_id]
            return p


def execute(session: Any, plan: Plan, timeout: float | None = None,
            on_result: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run the plan: one ``circusctl ACTION NAME`` per watcher name, on exactly the
    planned instances (in parallel across hosts).  Returns one result per planned watcher.

    Instances are addressed as structured (host, user) pairs, never as target
    text: a name a host reported can only stand for itself on that host.  A
    failure (even an exception) in one name's or host's part becomes those rows'
    error; the other rows still run and are reported.  ``on_result`` gets each
    row as soon as it is known (the audit's per-result lines).
    """
    if plan.on_units:
        return execute_units(session, plan, on_result)
    if timeout is None:
        timeout = max(ACTION_TIMEOUT, getattr(getattr(session, "options", None), "timeout", 0))
    by_name: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for h, u, w in plan.items:
        by_name[w][h].append(u)

    def on_host(name: str, host: str, users: list[str],
                out: dict[tuple[str, str], str | None]) -> None:
        try:
            res = session.circusctl([plan.action, name], {host: users}, timeout=timeout)
            got: dict[tuple[str, str], str | None] = {}
            for hr in res.hosts:
                if hr.host != host:
                    continue  # an answer for a host not asked: ignored
                if hr.error or hr.report is None:
                    got.update({(host, u): hr.error or "no answer" for u in users})
                    continue
                for inst in hr.report.instances:
                    if inst.user in users:
                        got[(host, inst.user)] = None if inst.state == "ok" else (
                            inst.error or inst.state)
        except Exception as e:  # this host's rows fail, the others go on
            text = str(e).splitlines()[0] if str(e) else ""
            got = {(host, u): clean(f"internal error: {type(e).__name__} {text}".strip())
                   for u in users}
        out.update(got)

    def one(name: str) -> dict[tuple[str, str], str | None]:
        """``circusctl ACTION name`` on each of its hosts at once."""
        out: dict[tuple[str, str], str | None] = {}
        threads = [threading.Thread(target=on_host, args=(name, h, us, out), daemon=True)
                   for h, us in by_name[name].items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout + 5)
        return out

    # One name after the other (each already runs on all its hosts at once): two
    # requests at once to one circusd only queue there, and may miss the deadline.
    rows = []
    for name in by_name:
        got = dict(one(name))
        for h, u, w in plan.items:
            if w != name:
                continue
            err = got.get((h, u), "no answer from this instance")
            row = {"host": h, "user": u, "watcher": w, "ok": err is None, "error": err}
            rows.append(row)
            if on_result is not None:
                on_result(row)
    order = {it: n for n, it in enumerate(plan.items)}
    return sorted(rows, key=lambda r: order[(r["host"], r["user"], r["watcher"])])


def execute_units(session: Any, plan: Plan,
                  on_result: Callable[[dict[str, Any]], None] | None = None
                  ) -> list[dict[str, Any]]:
    """Run a unit plan as ``barnum unit`` does (barnum.oneshot.units.run_units: systemctl
    as root, or ``sudo -n``), over the session's SSH settings.  One row per unit."""
    from barnum.oneshot.units import UnitJob, UnitPlan, run_units
    from barnum.transport.ssh import fabric_config

    uplan = UnitPlan(unit_verb(plan.action), [UnitJob(h, u) for h, u, _ in plan.items])
    fab = getattr(session, "fab_config", None) or fabric_config(session.options.ssh_config)

    def row(r: Any) -> dict[str, Any]:
        return {"host": r.host, "user": r.user, "unit": r.unit, "ok": r.ok,
                "error": None if r.ok else f"{r.state}: {r.error}"}

    def each(r: Any) -> None:
        if on_result is not None:
            on_result(row(r))

    return [row(r) for r in run_units(uplan, session.options, fab, on_result=each,
                                      log=getattr(session, "log", None))]
