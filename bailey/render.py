"""The human-readable form of a Report (``--json`` prints Report.to_json()).

Plain text with ANSI colour only when asked (the CLI asks when stdout is a
TTY and NO_COLOR is unset); stdlib only, no rich on the hosts.  Every string
that came from systemd, a circus.ini or circusd passes bailey.sanitize.clean
(watcher names and unit names are the circus users' choice).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from bailey.report import ERROR, INACTIVE, PLANNED, UNIT_FAILED, Instance, Report
from bailey.sanitize import clean, clean_lines

NO_CIRCUS = "No circus expected"

_RESET = "\033[0m"
_STYLES = {"bold": "\033[1m", "dim": "\033[2m", "red": "\033[31m",
           "green": "\033[32m", "yellow": "\033[33m"}


def _paint(text: str, style: str, color: bool) -> str:
    return f"{_STYLES[style]}{text}{_RESET}" if color and text else text


def _state_style(inst: Instance) -> str:
    if inst.state in (ERROR, UNIT_FAILED) or inst.active_state == "failed":
        return "red"
    if inst.active_state == "active":
        return "green"
    return "yellow"


def dry_run_line(inst: Instance) -> str:
    """What --dry-run prints for an instance: a command one can paste."""
    return f"DRY RUN; would execute: {clean(shlex.join(inst.argv))}"


def instance_lines(inst: Instance, width: int, color: bool = False) -> list[str]:
    """The unit line and what is indented under it."""
    state = clean(f"{inst.active_state} ({inst.sub_state})")
    name = clean(inst.unit).ljust(width)
    lines = [f"  {name}  {clean(inst.unit_file_state)}  "
             f"{_paint(state, _state_style(inst), color)}"]
    body: Sequence[str] = ()
    if inst.state == INACTIVE:
        body = [_paint(NO_CIRCUS, "dim", color)]
    elif inst.state == PLANNED and inst.argv:
        body = [dry_run_line(inst)]
    else:
        body = clean_lines(inst.stdout) if inst.stdout.strip() else []
    lines += [f"    {line}" for line in body]
    return lines


def render_human(report: Report, color: bool = False) -> str:
    """The whole report as text for a terminal, ending with a newline."""
    lines = [_paint(clean(report.host), "bold", color)]
    width = max((len(clean(i.unit)) for i in report.instances), default=0)
    for inst in report.instances:
        lines += instance_lines(inst, width, color)
    if not report.instances and not report.errors:
        lines.append("  no circus units")
    return "\n".join(lines) + "\n"


def error_lines(report: Report) -> list[str]:
    """One ``bailey: <unit>: <cause>`` line per problem, host-level ones first."""
    lines = [f"bailey: {clean(e)}" for e in report.errors]
    for inst in report.instances:
        if inst.error and not inst.healthy:
            lines.append(f"bailey: {clean(inst.unit)}: {clean(inst.error)}")
    return lines
