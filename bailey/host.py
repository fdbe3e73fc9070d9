"""bailey's Python API: inspect the circus instances of this host.

``inspect_host`` is what the CLI calls and what tests call: list the units
(two systemctl calls), work out each instance's user, config and endpoint,
then run circusctl (or the native client) for all running instances at once,
and return a ``Report`` (bailey/report.py), which never raises for a
problem of one instance: that instance gets ``state="error"`` and a
one-line ``error``.
"""

from __future__ import annotations

import shlex
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bailey import __version__
from bailey import circusctl as ctl
from bailey.report import ERROR, INACTIVE, OK, PLANNED, UNIT_FAILED, Instance, Report
from bailey.units import DEFAULT_PATTERN, SystemctlError, Unit, list_units

DEFAULT_CONFIG_TEMPLATE = "{home}/circus/{host}/circus.ini"
DEFAULT_ARGS = ("status",)


def short_hostname() -> str:
    """This host's name up to the first dot, as in the config path."""
    return socket.gethostname().split(".", 1)[0]


@dataclass
class Options:
    """How to inspect; defaults are what ``bailey`` with no options does."""

    units: str = DEFAULT_PATTERN  # systemctl glob for the circus units
    config_template: str = DEFAULT_CONFIG_TEMPLATE  # {user} {host} {home}
    circusctl: str | None = None  # None: $BAILEY_CIRCUSCTL, beside python, PATH
    timeout: int = 5  # circusctl --timeout, seconds
    native: bool = True  # answer status/list without a circusctl process
    helpers: bool = True  # --serve as root: a kept helper per user opens their files
    dry_run: bool = False
    systemctl: str = "systemctl"
    hostname: str | None = None  # None: this host's short name
    environ: Mapping[str, str] | None = None  # for circus.ini substitution
    verbose: Callable[[str], None] | None = None  # receives one line per note
    home_of: Callable[[str], str] | None = None  # user -> home (default: pwd)
    listed: Callable[[], list[Unit]] | None = None  # the units, when the caller keeps them


@dataclass
class _Plan:
    """An instance on its way: its endpoint, argv, and whether to run it."""

    instance: Instance
    unit: Unit
    run: bool = False
    native: bool = False
    notes: list[str] = field(default_factory=list)


def _home(user: str) -> str:
    import pwd

    try:
        return pwd.getpwnam(user).pw_dir
    except KeyError:
        raise LookupError(f"user {user!r} is not in the password database") from None


def config_path(template: str, user: str, host: str, home_of: Callable[[str], str]) -> str:
    """The circus.ini for ``user`` on ``host`` from the template.

    The home is looked up only when the template asks for it, so a template
    like ``/users/{user}/...`` works for users unknown to this host's pwd.
    """
    home = home_of(user) if "{home}" in template else ""
    try:
        return template.format(user=user, host=host, home=home)
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"bad --config-template {template!r}: {e}") from None


def _instance(unit: Unit) -> Instance:
    return Instance(
        unit=unit.name,
        user=unit.user,
        user_source=unit.user_source,
        unit_file_state=unit.unit_file_state,
        active_state=unit.active_state,
        sub_state=unit.sub_state,
        main_pid=unit.main_pid,
        n_restarts=unit.n_restarts,
        memory_current=unit.memory_current,
        fragment_path=unit.fragment_path,
        working_directory=unit.working_directory,
    )


def _plan(unit: Unit, args: list[str], host: str, circusctl: str, options: Options,
          home_of: Callable[[str], str]) -> _Plan:
    """Decide what to do for one unit; reads its circus.ini when it must."""
    from bailey.circusini import CircusIniError, read_circus_ini, resolve_stream_file
    from bailey.endpoint import connectable
    from bailey.safefile import Reader

    inst = _instance(unit)
    plan = _Plan(inst, unit)
    note = plan.notes.append
    where = unit.fragment_path or f"unit {unit.name}"
    if unit.user_source == "User=":
        note(f"Derived circus user {unit.user} from {where} (User=)")
    elif unit.user:
        note(f"Derived circus user {unit.user} from unit name {unit.name} (User= is empty)")

    if not unit.running and not unit.failed:
        inst.state = INACTIVE
        note(f"{unit.name} is {unit.active_state} ({unit.sub_state}): "
             "no circus expected, circusctl not called")
        return plan
    if not unit.user:
        inst.state = ERROR
        inst.error = "no User= and the unit name is not circus_<user>_<host>.service"
        return plan

    cause = None
    try:
        inst.config = config_path(options.config_template, unit.user, host, home_of)
        environ = options.environ if options.environ is not None else _unit_environ(unit, note)
        ini = read_circus_ini(inst.config, environ, Reader.for_user(unit.user))
    except (LookupError, ValueError, CircusIniError) as e:
        cause = str(e)
        inst.config_error = " ".join(cause.split())
    if unit.failed:
        inst.state = UNIT_FAILED
        inst.error = f"unit failed (systemd: {unit.active_state}/{unit.sub_state})"
        if cause:
            inst.error += f"; config: {cause}"
        note(f"{unit.name} failed: circusctl not called")
        return plan
    if cause:
        inst.state = ERROR
        inst.error = cause
        return plan

    note(f"config {inst.config}" + (
        f" (with {', '.join(ini.files[1:])})" if len(ini.files) > 1 else ""))
    for pattern in ini.missing_includes:
        note(f"include {pattern} matches no file (circusd ignores it too)")
    for why in ini.skipped_includes:
        note(f"include skipped: {why}")
    if ini.endpoint_is_default:
        note(f"no endpoint in [circus]: circus's default {ini.endpoint}")
    else:
        note(f"endpoint {ini.endpoint} from {inst.config}")
    workdir = unit.working_directory
    if workdir.lstrip("-") == "~":
        try:
            workdir = home_of(unit.user)
        except LookupError:
            workdir = ""
    derived = connectable(ini.endpoint, workdir)
    if derived.reason:
        note(f"endpoint {derived.configured} -> {derived.endpoint}: {derived.reason}")
    inst.endpoint = derived.endpoint
    inst.pubsub_endpoint = connectable(ini.pubsub_endpoint, workdir).endpoint
    cwd = workdir.lstrip("-") or "/"  # systemd starts circusd there ("-": may be missing)
    inst.stream_files = {k: resolve_stream_file(v, cwd) for k, v in ini.stream_files.items()}
    inst.argv = ctl.circusctl_argv(circusctl, derived.endpoint, options.timeout, args)
    plan.native = options.native and ctl.native_message(args) is not None
    how = "native ZMTP client" if plan.native else "circusctl subprocess"
    note(f"circus cmd: {shlex.join(inst.argv)} (via {how})")
    if options.dry_run:
        inst.state = PLANNED
        return plan
    plan.run = True
    return plan


def _unit_environ(unit: Unit, note: Callable[[str], None]) -> dict[str, str]:
    """circusd's environment (bailey.unitenv), so ``$(circus.env.HOME)`` is the user's."""
    import pwd

    from bailey.safefile import read_text
    from bailey.unitenv import unit_environment

    def passwd(user: str) -> tuple[str, str]:
        pw = pwd.getpwnam(user)
        return pw.pw_dir, pw.pw_shell

    props = {"Environment": unit.environment, "EnvironmentFiles": unit.environment_files}
    env, notes = unit_environment(unit.user if unit.user_source == "User=" else None, props,
                                  read_text, passwd)
    for n in notes:
        note(n)
    return env


def _execute(plan: _Plan, args: list[str], timeout: int) -> None:
    """Run one instance's command (in its own thread) and record the outcome."""
    inst = plan.instance
    try:
        if plan.native:
            out = ctl.retry_busy(lambda t: ctl.run_native(inst.endpoint or "", args, t), timeout)
        else:
            out = ctl.retry_busy(lambda t: ctl.run_subprocess(inst.argv, timeout), timeout)
    except Exception as e:  # a bug must cost one instance, not the report
        inst.state, inst.error, inst.via = ERROR, f"internal error: {e!r}", None
        return
    inst.via, inst.exit, inst.stdout, inst.stderr = out.via, out.exit, out.stdout, out.stderr
    inst.state = OK if out.exit == 0 else ERROR
    inst.error = out.error
    inst.watchers = parse_watchers_from(out, args)
    plan.notes.append(
        f"{inst.unit}: {out.via} exit {out.exit} in {out.seconds * 1000:.0f} ms")


def parse_watchers_from(out: ctl.Outcome, args: list[str]) -> dict[str, str] | None:
    """Watcher statuses: straight from circusd's reply when native, else from stdout."""
    if out.exit != 0:
        return None
    if out.reply is not None and "statuses" in out.reply:
        return {str(k): str(v) for k, v in out.reply["statuses"].items()}
    return ctl.parse_watchers(args, out.stdout, out.exit)


def inspect_host(
    users: list[str] | None = None,
    circusctl_args: list[str] | None = None,
    options: Options | None = None,
) -> Report:
    """Inspect this host's circus units (only ``users``' when given).

    ``circusctl_args`` default to ``["status"]``.  Host-level problems
    (systemctl failing, a named user without a unit) go to ``report.errors``.
    """
    options = options or Options()
    args = list(circusctl_args or DEFAULT_ARGS)
    host = options.hostname or short_hostname()
    say = options.verbose or (lambda _msg: None)
    report = Report(host=host, bailey_version=__version__, circusctl_args=args,
                    dry_run=options.dry_run)
    try:
        units = (options.listed or (lambda: list_units(options.units, options.systemctl)))()
    except SystemctlError as e:
        report.errors.append(str(e))
        return report
    say(f"{len(units)} unit(s) match {options.units}: "
        + (", ".join(u.name for u in units) or "none"))

    if users:
        wanted = list(dict.fromkeys(users))
        known = {u.user for u in units}
        for user in wanted:
            if user not in known:
                found = ", ".join(u.name for u in units) or "none"
                report.errors.append(
                    f"{user}: no {options.units} unit for this user on {host} "
                    f"(units found: {found})")
        units = [u for u in units if u.user in wanted]

    circusctl = ctl.find_circusctl(options.circusctl, options.environ)
    home_of = options.home_of or _home
    plans = [_plan(u, args, host, circusctl, options, home_of) for u in units]
    to_run = [p for p in plans if p.run]
    if to_run:
        if any(not p.native for p in to_run):
            say(f"circusctl: {circusctl}")
        # in parallel, the last one in this thread: a thread start is not free
        threads = [threading.Thread(target=_execute, args=(p, args, options.timeout),
                                    daemon=True) for p in to_run[:-1]]
        for t in threads:
            t.start()
        _execute(to_run[-1], args, options.timeout)
        for t in threads:
            t.join()

    for p in plans:
        p.instance.notes = p.notes
        for n in p.notes:
            say(n)
        report.instances.append(p.instance)
    from bailey.drift import annotate  # facts barnum drift compares

    annotate(report, lambda user: config_path(options.config_template, user, host, home_of))
    return report
