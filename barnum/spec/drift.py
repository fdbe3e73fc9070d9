"""Drift: where the fleet's files and units disagree with each other (``barnum drift``).

- a config folder (``~user/circus/<host>/circus.ini``) with no unit;
- a unit with no config;
- a unit whose ``User=`` is not the owner of its config folder;
- a running circusd whose circus.ini changed after it started;
- a failed unit, with the last journal lines that explain it.

Each finding carries the commands that would clear it.  barnum runs none of
them: drift only reads.  Pure: the facts come from a FleetResult (bailey
adds them, see bailey.drift), discovery and the journal lines fetched for
the failed units.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from barnum import EXIT_HOST, EXIT_INSTANCE, EXIT_OK
from barnum.model.discovery import Discovery
from barnum.model.hostsort import natural_key
from barnum.model.results import FleetResult
from barnum.text.sanitize import clean

SCHEMA = "barnum-drift/1"

KINDS = {
    "config-without-unit": "config folder with no unit",
    "unit-without-config": "unit with no config",
    "owner-mismatch": "unit's User= is not the owner of its config folder",
    "config-changed": "circus.ini changed after circusd started (reload or restart needed)",
    "unit-failed": "unit failed",
    "host-unknown": "the host could not tell",
}


@dataclass
class DriftFinding:
    kind: str
    host: str
    user: str | None = None
    unit: str | None = None
    detail: str = ""
    fix: list[str] = field(default_factory=list)  # commands (or steps) that would clear it
    journal: list[str] = field(default_factory=list)  # last lines, for failed units

    def lines(self) -> list[str]:
        """Clean lines for a terminal: the finding, its journal lines, the fixes."""
        who = f"{self.host} {self.user}" if self.user else self.host
        head = f"{who}: {KINDS[self.kind]}" + (f" ({self.detail})" if self.detail else "")
        out: list[str] = [clean(head)]
        out += [clean(f"    | {ln}") for ln in self.journal]
        out += [clean(f"    fix: {f}") for f in self.fix]
        return out


@dataclass
class Drift:
    findings: list[DriftFinding] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if any(f.kind == "host-unknown" for f in self.findings):
            return EXIT_HOST
        return EXIT_INSTANCE if self.findings else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "exit": self.exit_code,
                "findings": [asdict(f) for f in self.findings]}


def _on(host: str, argv: list[str]) -> str:
    return f"on {host}: {shlex.join(argv)}"


def _when(us: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(us / 1e6))


def find_drift(result: FleetResult, discovery: Discovery,
               journal: Mapping[tuple[str, str], list[str]] | None = None) -> Drift:
    """Every drift finding on the hosts of ``result``; ``journal``: (host, unit) -> lines."""
    journal = journal or {}
    out = Drift()
    for hr in sorted(result.hosts, key=lambda h: natural_key(h.host)):
        h = hr.host
        if not hr.ok or hr.report is None:
            out.findings.append(DriftFinding("host-unknown", h, detail=clean(
                hr.error or "bailey sent no report")))
            continue
        insts = hr.report.instances
        with_unit = {i.user for i in insts if i.user}
        user: str | None  # a config's user below, then an instance's (None: unknown)
        for (user, host), path in sorted(discovery.configs.items()):
            if host != h or user in with_unit or (hr.users and user not in hr.users):
                continue
            folder = os.path.dirname(path)
            unit = f"circus_{user}_{h}.service"
            out.findings.append(DriftFinding(
                "config-without-unit", h, user, unit, clean(path), [
                    clean(f"create and enable {unit} (User={user}, ExecStart=circusd {path})"),
                    clean(f"or, if it is dead: {shlex.join(['rm', '-r', folder])} "
                          f"(as {user}; barnum deletes nothing)"),
                ]))
        for i in insts:
            user = i.user
            config = i.config_file or (discovery.configs.get((user, h)) if user else None)
            missing = i.config_state == "missing" or (
                not i.config_state and user is not None and (user, h) not in discovery.configs)
            if missing:
                fix = _unit_fix(["stop", "disable"], h, user, i.unit, False) or \
                    [_on(h, ["systemctl", "disable", "--now", i.unit]) + " (root)"]
                if i.fragment_path:
                    fix.append(clean(f"then remove {i.fragment_path} and run "
                                     f"'systemctl daemon-reload' on {h} (root)"))
                if config:
                    fix.append(clean(f"or give it a config: create {config} (as {user})"))
                out.findings.append(DriftFinding("unit-without-config", h, user, i.unit,
                                                 clean(f"{config or 'its circus.ini'} does "
                                                       "not exist"), fix))
            if user and i.config_owner and i.config_owner != user and not missing:
                folder = os.path.dirname(config or "")
                out.findings.append(DriftFinding(
                    "owner-mismatch", h, user, i.unit,
                    clean(f"User={user}, {folder} owned by {i.config_owner}"), [
                        clean(_on(h, ["chown", f"{user}:", folder]) + " (root), if the "
                              "folder is the user's"),
                        clean(f"or set User={i.config_owner} in "
                              f"{i.fragment_path or i.unit} and restart it (root)"),
                    ]))
            if (i.active_state == "active" and i.circusd_started_us and i.config_mtime_us
                    and i.config_mtime_us > i.circusd_started_us):
                late = (i.config_mtime_us - i.circusd_started_us) / 1e6
                out.findings.append(DriftFinding(
                    "config-changed", h, user, i.unit,
                    clean(f"{config} changed {late:.0f}s after circusd started at "
                          f"{_when(i.circusd_started_us)}"), [
                        clean(f"barnum {user}@{h} -- -- reloadconfig"),
                        *(_unit_fix(["restart"], h, user, i.unit, True, "or ") or [
                            clean(_on(h, ["systemctl", "restart", i.unit])
                                  + " (root or polkit rights)")]),
                    ]))
            if i.active_state == "failed":
                why = f"systemd: {i.active_state}/{i.sub_state}"
                if i.config_error:  # bailey/1 minor 1; an older bailey's findings omit it
                    why += f"; config: {i.config_error}"
                out.findings.append(DriftFinding(
                    "unit-failed", h, user, i.unit, clean(why),
                    _failed_fix(h, user, i.unit, (user, h) in discovery.configs),
                    [clean(x) for x in journal.get((h, i.unit), [])]))
    return out


def _unit_fix(verbs: list[str], host: str, user: str | None, unit: str, configured: bool,
              lead: str = "") -> list[str]:
    """``barnum unit VERB ...`` for each verb, one after the other; [] when the unit
    is not the one barnum unit would name (the caller falls back to plain systemctl)."""
    from barnum.oneshot.units import suggest, unit_of

    if unit_of(host, user) != unit:
        return []
    found = [suggest(v, host, user, configured) for v in verbs]
    cmds = [c for c in found if c is not None]
    if not cmds or len(cmds) < len(found):
        return []
    return [clean(lead + ", then ".join(cmds))]


def _failed_fix(host: str, user: str | None, unit: str, configured: bool) -> list[str]:
    restart = _unit_fix(["restart"], host, user, unit, configured)
    reset = _unit_fix(["reset-failed"], host, user, unit, configured)
    if not restart:
        return [clean("fix the cause above, then " + _on(host, ["systemctl", "restart", unit])),
                clean("or, to clear a dead instance: "
                      + _on(host, ["systemctl", "reset-failed", unit])
                      + " (root or polkit rights; the unit file stays)")]
    return [clean("fix the cause above, then " + restart[0]),
            clean("or, to clear a dead instance: " + reset[0] + " (the unit file stays)")]


def failed_units(result: FleetResult) -> list[tuple[str, str]]:
    """(host, unit) of every failed unit: the ones whose journal lines drift shows."""
    return [(h.host, i.unit) for h in result.hosts if h.report
            for i in h.report.instances if i.active_state == "failed"]
