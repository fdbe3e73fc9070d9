"""``GET /metrics``: the fleet in Prometheus's text format (0.0.4), from the view model.

Hand-written (the format is small) so the server needs no client library;
the tests parse it with ``prometheus_client``'s own parser.
"""

from __future__ import annotations

from barnum.text.sanitize import clean
from barnum.web.expectations import ABSENT, MISSING
from barnum.web.model import FleetView

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_HELP = {
    "barnum_host_up": ("gauge", "1 if the session's channel to the host is up or stale"),
    "barnum_host_freshness_seconds": ("gauge", "seconds since the host was last heard"),
    "barnum_unit_active": ("gauge", "1 if the circus unit's ActiveState is active"),
    "barnum_unit_failed": ("gauge", "1 if the circus unit is failed or circusd not answering"),
    "barnum_circusd_up": ("gauge", "while the unit is active: 1 if its circusd answered, "
                          "0 if it did not answer in time (absent when the unit is not "
                          "active, or circusd was not asked: its config unreadable)"),
    "barnum_unit_restarts": ("gauge", "systemd's NRestarts of the circus unit"),
    "barnum_unit_memory_bytes": ("gauge", "systemd's MemoryCurrent of the circus unit "
                                 "(absent when not accounted)"),
    "barnum_watcher_active": ("gauge", "1 if circus says the watcher is active"),
    "barnum_watcher_processes": ("gauge", "processes circusd runs for the watcher"),
    "barnum_watcher_processes_wanted": ("gauge", "the watcher's numprocesses"),
    "barnum_watcher_cpu_percent": ("gauge", "cpu of the watcher's processes, summed (%)"),
    "barnum_watcher_mem_percent": ("gauge", "memory of the watcher's processes, summed (%)"),
    "barnum_watcher_rss_bytes": ("gauge", "resident memory of the watcher's processes"),
    "barnum_watcher_flapping": ("gauge", "1 if the watcher exited 3 times in the last minute"),
    "barnum_expectation_unmet": ("gauge", "1 per problem barnum check finds against the users "
                                 "file's expect: (kind as in barnum check --json)"),
    "barnum_check_problems": ("gauge", "how many problems barnum check finds "
                              "(absent when the users file expects nothing)"),
}


def label_value(v: object) -> str:
    """Cleaned (control characters visible), then escaped as the format wants:
    backslash, double quote, newline."""
    return clean(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**kw: object) -> str:
    if not kw:
        return ""
    return "{" + ",".join(f'{k}="{label_value(v)}"' for k, v in kw.items()) + "}"


def render(view: FleetView) -> str:
    samples: dict[str, list[str]] = {name: [] for name in _HELP}

    def add(name: str, value: float | int | None, **labels: object) -> None:
        if value is not None:
            # ints whole (":g" keeps 6 digits: bytes would be rounded), floats as repr
            text = str(int(value)) if isinstance(value, int) else repr(float(value))
            samples[name].append(f"{name}{_labels(**labels)} {text}")

    for f in view.unmet:
        add("barnum_expectation_unmet", 1, host=f.host, user=f.user or "",
            watcher=f.watcher or "", kind=f.kind)
    add("barnum_check_problems", view.counters.expectations_unmet)  # None: nothing expected
    for h in view.hosts:
        if h.state == ABSENT:
            continue  # expected, not in the session: only its finding above
        add("barnum_host_up", 0 if h.down else 1, host=h.host, state=h.state)
        add("barnum_host_freshness_seconds", h.age, host=h.host)
        for i in h.instances:
            if i.state == MISSING:
                continue  # no such unit: only its finding above
            lab = {"host": h.host, "user": i.user, "unit": i.unit}
            add("barnum_unit_active", int(i.active_state == "active"), **lab,
                state=i.active_state)
            add("barnum_unit_failed", int(i.state in ("unit-failed", "error")), **lab)
            if i.active_state == "active" and (i.hung or i.state == "ok"):
                add("barnum_circusd_up", int(not i.hung), **lab)
            add("barnum_unit_restarts", i.n_restarts, **lab)
            add("barnum_unit_memory_bytes", i.memory_current, **lab)
            for w in i.watchers:
                wl = {"host": h.host, "user": i.user, "watcher": w.name}
                add("barnum_watcher_active", int(w.status == "active"), **wl, status=w.status)
                add("barnum_watcher_processes", w.running, **wl)
                add("barnum_watcher_processes_wanted", w.wanted, **wl)
                add("barnum_watcher_cpu_percent", w.cpu, **wl)
                add("barnum_watcher_mem_percent", w.mem, **wl)
                add("barnum_watcher_rss_bytes", w.rss, **wl)
                add("barnum_watcher_flapping", int(w.flapping), **wl)
    out = []
    for name, (kind, text) in _HELP.items():
        out += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *samples[name]]
    return "\n".join(out) + "\n"
