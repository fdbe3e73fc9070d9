"""Running shell commands on the live session: the part between parse and terminal.

:class:`Shell` holds the session, the current target set and the last
command's failures.  Every command fans out per host in threads; the main
thread only waits, so Ctrl-C there cancels the command (never the session):
what finished is printed, what did not is named.  bailey has no way to take
back a circusctl already sent, so the line says it may still complete.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.text import Text

from barnum import EXIT_HOST, EXIT_OK, EXIT_USAGE, BarnumError
from barnum.live.errors import worst_exit
from barnum.model.hostsort import natural_sorted
from barnum.model.linkstate import LinkState
from barnum.model.nodeset import fold
from barnum.shell.events import ECHO_AFTER, EventView
from barnum.shell.gather import Answer, gather
from barnum.shell.parse import (
    ACTIONS,
    COMMANDS,
    SCALERS,
    Command,
    ParseError,
    change_targets,
    parse_command,
    prompt_text,
    set_text,
    split_commands,
)
from barnum.shell.selection import Selection, as_targets, describe, resolve_set
from barnum.spec.expect import check_session
from barnum.text.plural import count
from barnum.text.sanitize import clean, clean_lines

if TYPE_CHECKING:
    from rich.console import Console

    from barnum.live.session import FleetSession
    from barnum.model.results import FleetResult, HostResult

Where = tuple[str, "str | None"]  # (host, user); None: the host as a whole
EXIT_INSTANCE = 1
EXIT_INTERRUPTED = 130
_RANK = {EXIT_OK: 0, EXIT_INSTANCE: 1, EXIT_HOST: 2, EXIT_USAGE: 3, EXIT_INTERRUPTED: 4}

HELP = {
    "status": ("status [targets]", "the overview: units and watchers (also: list)"),
    "start": ("start WATCHER [targets]", "start a watcher on every targeted instance"),
    "stop": ("stop WATCHER [targets]", "stop a watcher"),
    "restart": ("restart WATCHER [targets]", "restart a watcher"),
    "reload": ("reload WATCHER [targets]", "reload a watcher"),
    "incr": ("incr WATCHER [N] [targets]", "N more processes (default 1)"),
    "decr": ("decr WATCHER [N] [targets]", "N fewer processes (default 1)"),
    "stats": ("stats [targets]", "cpu and memory per watcher"),
    "logs": ("logs [targets] [-n N]", "the last N journal lines of each unit (default 10)"),
    "target": ("target TARGETS|+x|-x|?|@failed|*",
               "change the target set (+ adds, - removes, ? shows, * every host)"),
    "hosts": ("hosts", "the session's hosts and their state"),
    "users": ("users", "circus users and their hosts"),
    "groups": ("groups", "the users file's groups (@name in targets)"),
    "circusctl": ("circusctl ARGS...", "circusctl on the targets, arguments passed exactly"),
    "unit": ("unit start|stop|restart|reset-failed [--yes] [targets]",
             "systemctl on the targets' circus units (asks first; see barnum unit)"),
    "help": ("help [command]", "this list, or one command"),
    "exit": ("exit [N] | quit | Ctrl-D", "leave the shell"),
}


def worst(codes: list[int]) -> int:
    """The exit status of many commands: usage mistakes over unreachable hosts
    over failed instances; an interrupt over all."""
    return max(codes, key=lambda c: _RANK.get(c, 1), default=EXIT_OK)


@dataclass
class Outcome:
    """What one fan-out gave: results per key, and the keys still running."""

    results: dict[str, Any]
    unfinished: list[str] = field(default_factory=list)


def fan_out(work: dict[str, Callable[[], Any]], poll: float = 0.02) -> Outcome:
    """Each job in a thread; Ctrl-C (KeyboardInterrupt) stops the waiting, not the jobs."""
    results: dict[str, Any] = {}
    lock = threading.Lock()

    def one(key: str, fn: Callable[[], Any]) -> None:
        try:
            value = fn()
        except Exception as e:  # one host's failure is its answer
            value = e
        with lock:
            results[key] = value

    for key, fn in work.items():
        threading.Thread(target=one, args=(key, fn), daemon=True,
                         name=f"shell-{key}").start()
    try:
        while True:
            with lock:
                if len(results) == len(work):
                    return Outcome(dict(results))
            time.sleep(poll)
    except KeyboardInterrupt:
        with lock:
            done = dict(results)
        if sys.stdout.isatty():
            print(flush=True)  # past the terminal's echoed ^C
        return Outcome(done, [k for k in work if k not in done])


class Shell:
    """The shell's state and commands; output goes to ``console``, mistakes to ``err``."""

    def __init__(self, session: FleetSession, console: Console, err: Callable[[str], None],
                 targets: list[str] | None = None,
                 groups: dict[str, list[str]] | None = None) -> None:
        self.session = session
        self.console = console
        self.err = err
        self.groups = groups or {}
        self.exprs: list[str] = []
        self.failed: list[Where] = []  # (host, user or None) the last command failed on
        self.view = EventView()
        self.leaving = False  # `exit` was run
        self.exit_code: int | None = None  # `exit N`
        if targets:
            self.selection(list(targets))  # a bad target is a TargetError at start
            self.exprs = list(targets)

    # -- targets --------------------------------------------------------------------------

    def hosts_map(self) -> dict[str, list[str]]:
        return {h: self.session.discovery.hosts[h] for h in self.session.hosts}

    def selection(self, exprs: list[str] | None = None) -> Selection:
        sel = resolve_set(self.exprs if exprs is None else exprs, self.hosts_map(),
                          self.groups)
        return {h: sel[h] for h in natural_sorted(sel)}

    def prompt(self) -> str:
        return clean(prompt_text(self.exprs))

    # -- running --------------------------------------------------------------------------

    def run_text(self, text: str) -> int:
        """Run every command of a line or a ``-c`` string; their worst exit status."""
        try:
            commands = split_commands(text)
        except ParseError as e:
            self.err(f"error: {e}")
            return EXIT_USAGE
        codes = []
        for words in commands:
            codes.append(self.run_words(words))
            if self.leaving or codes[-1] == EXIT_INTERRUPTED:
                break
        return worst(codes)

    def run_words(self, words: list[str]) -> int:
        try:
            cmd = parse_command(words)
            return self.execute(cmd)
        except (ParseError, BarnumError) as e:
            self.err(f"error: {e}")
            return EXIT_USAGE

    def execute(self, cmd: Command) -> int:
        fn = getattr(self, "do_" + cmd.name)
        return fn(cmd)

    def _sel(self, cmd: Command) -> Selection:
        sel = self.selection(cmd.targets) if cmd.targets else self.selection()
        if not sel:
            raise ParseError("the target set is empty (target * selects every host)")
        self._await_connecting(list(sel))
        return sel

    def _await_connecting(self, hosts: list[str]) -> None:
        """A host still connecting (a slow first connection) gets until the timeout."""
        deadline = time.monotonic() + self.session.options.timeout
        while time.monotonic() < deadline:
            states = self.session.host_states()
            if all(states[h].state != LinkState.CONNECTING for h in hosts):
                return
            time.sleep(0.05)

    @staticmethod
    def _host_targets(sel: Selection) -> dict[str, Selection]:
        """Per host, the structured selection the session takes (never target text)."""
        return {h: {h: list(users)} for h, users in sel.items()}

    @staticmethod
    def _pending(per_host: dict[str, Selection], unfinished: list[str]) -> list[Where]:
        return [(h, u) for h in unfinished for u in (per_host[h][h] or (None,))]

    def _failed_exprs(self) -> list[str]:
        """``target @failed`` as target text made only from the operator's own names:
        a failure is kept when its host is a session host and its user one the users
        file gives that host (both validated names), so a name a host reported can
        never become an expression that reaches another host."""
        known = self.hosts_map()
        exprs, dropped = [], []
        for h, u in self.failed:
            if h not in known:
                continue
            if u is None:
                exprs.append(h)
            elif u in known[h]:
                exprs.append(f"{known[h][known[h].index(u)]}@{h}")
            else:
                dropped.append((h, u))
        if dropped:
            self.console.print(Text(clean(
                f"@failed: {len(dropped)} instance(s) not in the users file left out"),
                style="yellow"))
        return list(dict.fromkeys(exprs))

    def _unfinished(self, unfinished: list[str]) -> int:
        if not unfinished:
            return EXIT_OK
        self.console.print(Text(
            f"cancelled: no answer yet from {fold(unfinished)} "
            "(what was sent there may still complete)", style="yellow"))
        return EXIT_INTERRUPTED

    def _show(self, answers: list[Answer]) -> None:
        for block in gather(answers):
            style = "red" if block.failed else ""
            for line in block.lines():
                self.console.print(Text(line, style=style))

    # -- circusctl commands ---------------------------------------------------------------

    def do_start(self, cmd: Command) -> int:
        return self._circusctl([cmd.name, cmd.watcher or ""], cmd, cmd.watcher, first=True)

    do_stop = do_restart = do_reload = do_start

    def do_incr(self, cmd: Command) -> int:
        args = [cmd.name, cmd.watcher or ""] + ([str(cmd.number)] if cmd.number else [])
        return self._circusctl(args, cmd, cmd.watcher, first=True)

    do_decr = do_incr

    def do_circusctl(self, cmd: Command) -> int:
        watcher = cmd.args[1] if len(cmd.args) > 1 and cmd.args[0] in (
            *ACTIONS, *SCALERS, "kill", "signal", "rm", "set") else None
        quiet = cmd.args[0] in ("status", "list", "stats", "dstats", "get", "options",
                                "numprocesses", "numwatchers", "listsockets",
                                "globaloptions")
        return self._circusctl(list(cmd.args), cmd, watcher, first=False, echo=not quiet)

    def _circusctl(self, args: list[str], cmd: Command, watcher: str | None, first: bool,
                   echo: bool = True) -> int:
        sel = self._sel(Command(cmd.name, targets=None) if cmd.name == "circusctl" else cmd)
        per_host = self._host_targets(sel)
        if echo:
            self.view.echo.expect(list(per_host), watcher, float("inf"))
        try:
            out = fan_out({h: functools.partial(self.session.circusctl, args, t)
                           for h, t in per_host.items()})
        finally:
            if echo:
                self.view.echo.expect(list(per_host), watcher, time.time() + ECHO_AFTER)
        answers = []
        for h, v in out.results.items():
            answers += _answers(h, _one_host(h, v), first)
        self._show(answers)
        pending = self._pending(per_host, out.unfinished)
        self.failed = [a.at for a in answers if a.failed and a.at] + pending
        code = self._unfinished(_labels(pending))
        if code:
            return code
        if any(a.failed and "@" not in a.who for a in answers):
            return EXIT_HOST
        return EXIT_INSTANCE if any(a.failed for a in answers) else EXIT_OK

    # -- the units themselves -------------------------------------------------------------

    def do_unit(self, cmd: Command) -> int:
        """``systemctl VERB`` on the selected instances' units (barnum.oneshot.units), asked
        first like ``barnum unit``; the instances are the selection's structured
        (host, user) pairs."""
        from barnum.oneshot.units import DEFAULT_THRESHOLD, exit_code, plan_units, run_units
        from barnum.transport import ssh
        from barnum.views.units import confirm, done_word

        plan = plan_units(cmd.watcher or "", self._sel(cmd), self.hosts_map())
        if "--yes" not in cmd.args and not confirm(plan, DEFAULT_THRESHOLD):
            self.console.print(Text(f"unit: not confirmed; nothing was "
                                    f"{done_word(plan.verb)}", style="yellow"))
            return EXIT_INSTANCE
        options = self.session.options
        out = fan_out({"units": lambda: run_units(plan, options,
                                                  ssh.fabric_config(options.ssh_config))})
        results = out.results.get("units", [])
        if isinstance(results, Exception):
            raise BarnumError(f"unit {plan.verb}: {results}")
        for r in results:
            self.console.print(Text(r.line(), style="" if r.ok else "red"))
        self.failed = [(r.host, r.user) for r in results if not r.ok]
        if out.unfinished:
            self.failed = [(j.host, j.user) for j in plan.jobs]
            self.console.print(Text("cancelled: the units' results are unknown (systemctl "
                                    "may still complete there)", style="yellow"))
            return EXIT_INTERRUPTED
        return exit_code(results)

    # -- views ----------------------------------------------------------------------------

    def do_status(self, cmd: Command) -> int:
        from barnum.model.results import FleetResult
        from barnum.views.render import host_lines, summary_line

        sel = self._sel(cmd)
        per_host = self._host_targets(sel)
        took: dict[str, float] = {}

        def refresh(h: str, t: Selection) -> FleetResult:
            start = time.monotonic()
            try:
                return self.session.refresh(t)
            finally:
                took[h] = time.monotonic() - start

        out = fan_out({h: functools.partial(refresh, h, t) for h, t in per_host.items()})
        hosts = [_one_host(h, out.results[h]) for h in per_host if h in out.results]
        for h in hosts:
            h.elapsed = took.get(h.host, 0.0)  # the answer's time on the open channel
        result = FleetResult(hosts)
        for h in hosts:
            for line in host_lines(h):
                self.console.print(line)
        self.console.print(summary_line(result))
        self.failed = [*((h.host, None) for h in hosts  # a host-level note fails the host
                         if h.error or (h.report and h.report.errors)), *(
            (h.host, i.user) for h in hosts if h.report
            for i in h.report.instances if not i.healthy)]
        unmet = self._unmet(sel)
        self.failed += [(f.host, f.user) for f in unmet
                        if f.user and (f.host, f.user) not in self.failed]
        pending = self._pending(per_host, out.unfinished)
        self.failed += pending
        code = self._unfinished(_labels(pending)) or result.exit_code
        return EXIT_INSTANCE if unmet and code == EXIT_OK else code

    def _unmet(self, sel: Selection) -> list:
        """``barnum check``'s problems over what ``status`` just read (FleetSession.check:
        the same comparison as the CLI and the web page), printed as it prints them."""
        from barnum.views.check import finding_text, unmet_line

        if not getattr(self.session.config, "expect", None):
            return []
        everything = set(sel) == set(self.session.hosts) and not any(sel.values())
        problems = check_session(self.session, None if everything else sel).problems
        for f in problems:
            self.console.print(finding_text(f))
        self.console.print(unmet_line(len(problems)))
        return problems

    def do_stats(self, cmd: Command) -> int:
        from barnum.views.stats import rows, sort_rows, table_of

        per_host = self._host_targets(self._sel(cmd))
        out = fan_out({h: functools.partial(self.session.stats, t) for h, t in per_host.items()})
        stats: dict[str, Any] = {}
        errors: list[Answer] = []
        for h, v in out.results.items():
            v = v.get(h, "no answer") if isinstance(v, dict) else f"{v}"
            stats[h] = v
            if not isinstance(v, dict):
                errors.append(Answer(h, clean(v), True, (h, None)))
                continue
            errors += [Answer(f"{i.get('user')}@{h}", clean(i['error']), True,
                              (h, i["user"]) if isinstance(i.get("user"), str) else (h, None))
                       for i in v.get("instances", []) if i.get("error")]
        self.console.print(table_of(sort_rows(rows(stats), "name")))
        self._show(errors)
        pending = self._pending(per_host, out.unfinished)
        self.failed = [a.at for a in errors if a.at] + pending
        return self._unfinished(_labels(pending)) or (EXIT_HOST if errors else EXIT_OK)

    def do_logs(self, cmd: Command) -> int:
        from barnum.views.logs import line_text, merged

        sel = self._sel(cmd)
        units = self.session.units(sel)
        states = self.session.host_states()
        down = [Answer(h, states[h].error or states[h].state, True, (h, None)) for h in sel
                if not states[h].state.answers]
        key = {(h, u): f"{u}@{h}" for h, u, _unit in units}  # display and thread names
        out = fan_out({key[(h, u)]: functools.partial(self.session.logs, unit, h, cmd.lines)
                       for h, u, unit in units})
        batches, errors, failures = [], list(down), []
        for h, u, _unit in units:
            if any(a.at == (h, None) for a in down):
                continue
            v = out.results.get(key[(h, u)])
            if isinstance(v, Exception):
                errors.append(Answer(key[(h, u)], clean(str(v)), True, (h, u)))
                failures.append(v)
            elif v is not None:
                batches.append((h, u, v))
        for h, u, rec in merged(batches):
            self.console.print(Text(line_text(h, u, rec)))
        self._show(errors)
        self.failed = [a.at for a in errors if a.at] + [
            hu for hu, k in key.items() if k in out.unfinished]
        worst = EXIT_HOST if down else worst_exit(failures)  # a bad request: 2
        return self._unfinished(out.unfinished) or worst or EXIT_OK

    # -- the set and the names ------------------------------------------------------------

    def do_target(self, cmd: Command) -> int:
        change = change_targets(self.exprs, cmd.args)
        if change.failed:
            if not self.failed:
                raise ParseError("the last command failed nowhere: @failed is empty")
            new = self._failed_exprs()
            if not new:
                raise ParseError("none of the last command's failures is an instance of "
                                 "the users file: the set is unchanged")
        elif change.show:
            new = None
        else:
            new = list(change.exprs or ())
        if new is not None:
            sel = self.selection(new)  # an unknown name is refused, the set unchanged
            if not sel:
                raise ParseError("that would select nothing; the set is unchanged")
            self.exprs = new
        sel = self.selection()
        self.console.print(Text(f"targets: {clean(set_text(self.exprs)) or '* (every host)'}"))
        for line in describe(sel):
            self.console.print(Text("  " + clean(line)))
        return EXIT_OK

    def do_hosts(self, cmd: Command) -> int:
        down = 0
        for h, st in self.session.host_states().items():
            n = len(st.report.instances) if st.report else 0
            what = f"{st.state}, {count(n, 'instance')}" if st.state.answers else \
                f"{st.state}: {st.error or ''}".rstrip(": ")
            down += not st.state.answers
            style = "" if st.state == LinkState.UP else "red"
            self.console.print(Text(f"{h}: {what}", style=style))
        return EXIT_HOST if down else EXIT_OK

    def do_users(self, cmd: Command) -> int:
        by_user: dict[str, list[str]] = {}
        for h, users in self.hosts_map().items():
            for u in users:
                by_user.setdefault(u, []).append(h)
        for u in sorted(by_user):
            self.console.print(Text(clean(f"{u}: {fold(by_user[u])}")))
        return EXIT_OK

    def do_groups(self, cmd: Command) -> int:
        """Each group's members as the users file says, and what they select now."""
        if not self.groups:
            self.console.print(Text("no groups are defined (groups: in the users file)"))
            return EXIT_OK
        now = self.session.groups()
        for name in sorted(self.groups):
            sel = as_targets({h: u for h, u in now.get(name, {}).items()})
            self.console.print(Text(clean(
                f"@{name}: {', '.join(self.groups[name])} -> "
                f"{fold(sel) if sel else 'no host of this session'}")))
        return EXIT_OK

    def do_help(self, cmd: Command) -> int:
        if cmd.args:
            name = {"list": "status", "quit": "exit"}.get(cmd.args[0], cmd.args[0])
            if name not in HELP:
                raise ParseError(f"no command {cmd.args[0]!r} (help lists them)")
            self.console.print(Text("  ".join(HELP[name])))
            return EXIT_OK
        width = max(len(u) for u, _ in HELP.values())
        for name in COMMANDS:
            if name in HELP:
                usage, what = HELP[name]
                self.console.print(Text(f"{usage.ljust(width)}  {what}"))
        self.console.print(Text("targets: host, user@host, ranges and globs (host[1-12], "
                                "user1@*), @group; commands may be joined with ;"))
        return EXIT_OK

    def do_exit(self, cmd: Command) -> int:
        self.leaving, self.exit_code = True, cmd.number
        return EXIT_OK


def _labels(where: list[Where]) -> list[str]:
    """How the shell names instances to the operator: ``user@host``, or the host."""
    return [h if u is None else f"{u}@{h}" for h, u in where]


def _one_host(host: str, value: Any) -> HostResult:
    """The HostResult for ``host`` out of a per-host call's result (or exception)."""
    from barnum.model.results import HostResult

    if isinstance(value, Exception):
        r = HostResult(host, [], [])
        r.error = str(value) or type(value).__name__
        return r
    result: FleetResult = value
    for h in result.hosts:
        if h.host == host:
            return h
    r = HostResult(host, [], [])
    r.error = "no answer"
    return r


def _answers(host: str, h: HostResult, first: bool) -> list[Answer]:
    """One answer per instance (or one for the host when it failed as a whole)."""
    from bailey.report import INACTIVE, OK

    if h.error:
        return [Answer(host, h.error, True, (host, None))]
    if h.report is None:
        return [Answer(host, "no answer", True, (host, None))]
    out = [Answer(host, e, True, (host, None)) for e in h.report.errors]
    for i in h.report.instances:
        who = f"{i.user or '?'}@{host}"
        if i.state == OK:
            lines = clean_lines(i.stdout)
            text = (lines[0] if lines else "ok") if first else "\n".join(lines) or "ok"
            out.append(Answer(who, text))
        elif i.state == INACTIVE:
            out.append(Answer(who, "inactive: no circus expected"))
        else:
            out.append(Answer(who, i.error or i.state, True, (host, i.user)))
    return out
