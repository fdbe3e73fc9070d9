"""Human output with rich: a block per host, then a summary with every error.

Colour only on a terminal, and no escape codes at all under NO_COLOR (rich
alone would still write bold) or to a pipe.  Errors go to stderr, one line
each, so a pipe of stdout holds only results.  Everything that came from a
host is inserted as plain Text, never as markup, so a watcher called ``[red]x`` prints as itself.

And everything that came from a host must already be clean (barnum.model.validate
cleans a report as it accepts it; barnum.oneshot.pool cleans error lines): the
renderers take host strings only through :func:`_c`, which refuses a plain
``str``, so a path that forgot the sanitizer fails loudly instead of writing
a host's escape sequences to the operator's terminal.
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import IO

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from bailey.report import INACTIVE, OK, PLANNED, UNIT_FAILED, Instance
from barnum.model.circusd import NOT_ANSWERING, not_answering
from barnum.model.results import FleetResult, HostResult, error_lines
from barnum.text.plural import count
from barnum.text.sanitize import Clean, clean, clean_lines

WATCHER_STYLE = {"active": "green", "stopped": "yellow", "error": "red"}


class _Console(Console):
    """rich's Console, but a closed pipe (``barnum | head``) is not a failure: rich
    would exit 1; barnum stops writing and still exits with the fleet's code."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def make_console(file: IO[str] | None = None, color: bool | None = None) -> Console:
    """A console for ``file`` (stdout); ``color`` None: only if it is a terminal."""
    kwargs: dict = {}
    if color is False or (color is None and os.environ.get("NO_COLOR")):
        kwargs["color_system"] = None
        kwargs["no_color"] = True
    elif color is True:
        kwargs["force_terminal"] = True
    return _Console(file=file, highlight=False, emoji=False, soft_wrap=True, **kwargs)


def render(result: FleetResult, console: Console | None = None,
           errors: Console | None = None, group_by: str = "host") -> None:
    """Every host (sorted), then the counts; the error lines to ``errors`` (stderr).

    ``group_by="group"``: a section per users-file group (a host in two groups
    shows in both), then the hosts in none; the counts are still per host.
    """
    console = console or make_console()
    sections: list[tuple[str | None, list[HostResult]]] = [(None, result.hosts)]
    if group_by == "group":
        sections = []
        for name, members in sorted(result.groups.items()):
            hosts = [h for h in result.hosts if h.host in members]
            if hosts:  # a group none of whose hosts was looked at has nothing to show
                sections.append((f"@{name}", hosts))
        of = result.groups_of()
        rest = [h for h in result.hosts if h.host not in of]
        if rest or not sections:
            sections.append(("(in no group)", rest))
    lines: list[Text] = []
    for title, hosts in sections:
        if title is not None:
            lines.append(Text(clean(title), style="bold underline"))
        for h in hosts:
            lines += host_lines(h)
            lines.append(Text())
    lines.append(summary_line(result))
    print_lines(console, lines)
    messages = error_lines(result)
    if messages:
        print_lines(errors or make_console(sys.stderr),
                    [Text("barnum: " + m, style="red") for m in messages])


def print_lines(console: Console, lines: list[Text]) -> None:
    """``lines`` as one ``console.print`` of each would write them, in one print: rich's
    cost is mostly per print (terminal checks, the size, a buffer flush)."""
    console.print(_Joined(Text("\n").join(lines)))


class _Joined:
    """A text of whole lines, rendered as rich renders a Text printed with soft wrap
    (barnum's consoles: overflow "ignore") but without the wrapping step, a no-op
    then that costs more than the rest for a fleet of lines (split into lines, each
    kept whole, joined back).  Otherwise, or with a tab (expanded when wrapping), it
    takes rich's own way."""

    def __init__(self, text: Text) -> None:
        self.text = text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if options.overflow == "ignore" and "\t" not in self.text.plain:
            yield from self.text.render(console, end="\n")
        else:
            yield self.text


def _c(value: str) -> str:
    """A host's string, which must already have been through barnum.text.sanitize.clean."""
    if not isinstance(value, Clean):
        raise TypeError(f"unsanitized host string reached the renderer: {clean(value)!r}")
    return value


def host_lines(h: HostResult) -> list[Text]:
    """The block for one host: header, then units, watchers, raw output, errors."""
    header = Text(clean(h.host), style="bold")  # host and users: names barnum validated
    who = f" ({clean(', '.join(h.users))})" if h.users else ""
    header.append(f"{who}  {h.elapsed:.2f}s", style="dim")
    if h.shipped:
        header.append("  [bailey shipped]", style="dim")
    out = [header]
    if h.error:
        out.append(Text(f"  {_c(h.error)}", style="bold red"))
        return out
    if h.report is None:
        out += [Text(f"  {ln}") for ln in clean_lines(h.stdout.rstrip("\n"))]
        return out
    rep = h.report
    width = max((len(i.unit) for i in rep.instances), default=0)
    swidth = max((len(i.unit_file_state) for i in rep.instances), default=0)
    for inst in rep.instances:
        out += instance_lines(inst, width, swidth)
    if not rep.instances and not rep.errors:
        out.append(Text("  no circus units", style="dim"))
    out += [Text(f"  {_c(e)}", style="red") for e in rep.errors]
    return out


def instance_lines(inst: Instance, width: int = 0, state_width: int = 0) -> list[Text]:
    """A row for the unit, then watchers (or raw circusctl output, or the error)."""
    row = Text("  ")
    row.append(_c(inst.unit).ljust(width), style="bold" if inst.healthy else "bold red")
    row.append("  ")
    row.append(_c(inst.unit_file_state).ljust(state_width),
               style="green" if inst.unit_file_state == "enabled" else "")
    row.append("  ")
    active = (f"{_c(inst.active_state)} ({_c(inst.sub_state)})" if inst.sub_state
              else _c(inst.active_state))
    style = {"active": "green", "failed": "red"}.get(inst.active_state, "yellow")
    row.append(active, style=style)
    if not_answering(inst.active_state, inst.state, inst.error, inst.stderr):
        row.append("  " + NOT_ANSWERING, style="bold red")
    out = [row]
    pad = "      "
    if inst.state == INACTIVE:
        out.append(Text(pad + "No circus expected", style="dim"))
    elif inst.watchers is not None:
        if not inst.watchers:
            out.append(Text(pad + "no watchers", style="dim"))
        for name, status in sorted(inst.watchers.items()):
            t = Text(pad + f"{_c(name)}: ")
            t.append(_c(status), style=WATCHER_STYLE.get(status, "yellow"))
            out.append(t)
    elif inst.stdout.strip():
        out += [Text(pad + ln) for ln in clean_lines(inst.stdout.rstrip("\n"))]
    elif inst.state == PLANNED and inst.argv:
        out.append(Text(pad + "would run: " + shlex.join(_c(a) for a in inst.argv), style="dim"))
    if inst.error:
        out.append(Text(pad + _c(inst.error), style="red"))
    elif inst.state not in (OK, INACTIVE, PLANNED):
        what = "unit failed" if inst.state == UNIT_FAILED else inst.state
        out.append(Text(pad + what, style="red"))
    return out


def summary_line(result: FleetResult) -> Text:
    """Hosts and instances counted, ok and failed."""
    hosts_ok = sum(h.ok for h in result.hosts)
    insts = [i for h in result.hosts if h.report for i in h.report.instances]
    inst_ok = sum(i.healthy for i in insts)
    counts = Text(
        f"{count(len(result.hosts), 'host')}: {hosts_ok} ok, "
        f"{len(result.hosts) - hosts_ok} failed; "
        f"{count(len(insts), 'instance')}: {inst_ok} ok, {len(insts) - inst_ok} failed",
        style="bold" if result.exit_code == 0 else "bold red",
    )
    return counts
