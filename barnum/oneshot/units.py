"""Control of the circus units themselves: ``systemctl VERB circus_<user>_<host>.service``.

The units are named from structured (host, user) pairs (discovery, the
operator's targets), never from text a host sent, and every name is checked
against ``circus_<user>_<host>.service`` before anything runs.  Each unit is
one remote command (``systemctl VERB UNIT``, or ``sudo -n systemctl VERB UNIT``
when the SSH login is not root), so each gets its own result and a sudoers
rule can allow exactly one unit per command (see :data:`SUDOERS_LINE`).

Planning, naming and reading a command's outcome are pure; :func:`run_units`
does the SSH part (barnum.transport.ssh, one connection per host, ``fanout`` at once).
"""

from __future__ import annotations

import contextlib
import re
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from barnum import EXIT_HOST, EXIT_INSTANCE, EXIT_OK, EXIT_USAGE, BarnumError
from barnum.model.config import is_valid_user
from barnum.model.discovery import is_valid_host
from barnum.model.hostsort import natural_key
from barnum.text.sanitize import clean

VERBS = ("start", "stop", "restart", "reset-failed", "enable", "disable")
UNIT_DEADLINE = 120.0  # one systemctl call: systemd's default stop timeout (90 s) and some
MAX_OUTPUT = 64 * 1024
DEFAULT_THRESHOLD = 5  # as barnum web's --confirm-threshold

# One unit per command, matched by a regular expression (sudo >= 1.9.10): a
# sudoers wildcard ``*`` also matches spaces, so ``circus_*.service`` would let
# ``systemctl stop circus_x.service ssh.service`` through.
SUDOERS_LINE = (
    "%barnum-ops ALL=(root) NOPASSWD: /usr/bin/systemctl "
    "^(start|stop|restart|reset-failed|enable|disable) "
    r"circus_[a-z_][a-z0-9_.-]*_[A-Za-z0-9.-]+\.service$"
)

_DENIED = ("a password is required", "is not allowed to execute", "is not in the sudoers",
           "may not run sudo", "a terminal is required")


class UnitNameError(BarnumError):
    """A unit name outside ``circus_<user>_<host>.service``: refused before anything runs."""


def unit_name(user: str, host: str) -> str:
    """``circus_<user>_<host>.service``, for a valid user and host only."""
    if not is_valid_user(user) or not is_valid_host(host):
        raise UnitNameError(f"no circus unit for {user!r} on {host!r}: not a valid user or "
                            "host name", EXIT_USAGE)
    return f"circus_{user}_{host}.service"


def parse_unit(name: str) -> tuple[str, str]:
    """Pure: ``circus_<user>_<host>.service`` -> (host, user); anything else is refused.

    Host names hold no ``_``, so the last one splits user from host.
    """
    m = re.fullmatch(r"circus_(.+)_([^_]+)\.service", name)
    if not m or not is_valid_user(m[1]) or not is_valid_host(m[2]):
        raise UnitNameError(f"refusing {name!r}: barnum unit acts only on "
                            "circus_<user>_<host>.service units", EXIT_USAGE)
    return m[2], m[1]


def unit_of(host: str, user: str | None) -> str | None:
    """The unit barnum unit acts on for (host, user); None if no valid name.  A host
    reached as ``localhost`` names its units by the machine's short name, as bailey does."""
    from barnum.model.thishost import unit_host

    if user is None or not is_valid_user(user) or not is_valid_host(host):
        return None
    return unit_name(user, unit_host(host))


@dataclass(frozen=True)
class UnitJob:
    host: str
    user: str

    @property
    def unit(self) -> str:
        u = unit_of(self.host, self.user)
        if u is None:
            raise UnitNameError(f"no circus unit for {self.user!r} on {self.host!r}",
                                EXIT_USAGE)
        return u


@dataclass
class UnitPlan:
    """Exactly which units a verb will touch, before anything runs."""

    verb: str
    jobs: list[UnitJob]

    @property
    def hosts(self) -> list[str]:
        return sorted({j.host for j in self.jobs}, key=natural_key)

    def summary(self) -> str:
        n, m = len(self.jobs), len(self.hosts)
        return f"{self.verb} {n} unit{'s' * (n != 1)} on {m} host{'s' * (m != 1)}"

    def confirm_word(self, threshold: int) -> str | None:
        """Above the threshold the operator types this (the unit's name, or the count),
        as on the web page."""
        if len(self.jobs) <= threshold:
            return None
        return self.jobs[0].unit if len(self.jobs) == 1 else str(len(self.jobs))


def plan_units(verb: str, selection: Mapping[str, list[str]],
               instances: Mapping[str, list[str]], units: Sequence[str] = (),
               users: Sequence[str] = ()) -> UnitPlan:
    """Pure: the units of ``selection`` (host -> users, [] = every instance there, as
    barnum.model.targets.resolve returns) plus explicit unit names, each checked.

    ``instances``: host -> users configured there (discovery); ``users``: the
    users file's users.  A unit name must be ``circus_<user>_<host>.service``
    for a discovered host and a user of the users file (a unit whose config
    is gone, as drift finds, can be named this way); anything else is refused
    before anything runs.
    """
    if verb not in VERBS:
        raise BarnumError(f"unknown verb {verb!r}: one of {', '.join(VERBS)}", EXIT_USAGE)
    jobs: list[UnitJob] = []
    for name in units:
        host, user = parse_unit(name)
        if host not in instances:
            raise UnitNameError(f"refusing {name!r}: {host} is not a discovered, allowed host",
                                EXIT_USAGE)
        if user not in instances[host] and user not in users:
            raise UnitNameError(f"refusing {name!r}: {user} is not a user of the users file",
                                EXIT_USAGE)
        jobs.append(UnitJob(host, user))
    for host, chosen in selection.items():
        for user in chosen or instances.get(host, []):
            jobs.append(UnitJob(host, user))
    for j in jobs:
        _ = j.unit  # raises for a name that is not a circus unit's
    jobs = sorted(set(jobs), key=lambda j: (natural_key(j.host), j.user))
    if not jobs:
        raise BarnumError("no circus unit selected", EXIT_USAGE)
    return UnitPlan(verb, jobs)


def suggest(verb: str, host: str, user: str | None, configured: bool = True) -> str | None:
    """The ``barnum unit VERB ...`` command that acts on one instance's unit, for
    check and drift to print: ``user@host`` where discovery knows the instance,
    else the unit's name.  None where no valid unit name can be made."""
    unit = unit_of(host, user)
    if unit is None:
        return None
    what = f"{user}@{host}" if configured else unit
    return shlex.join(["barnum", "unit", verb, what])


def unit_argv(verb: str, unit: str, as_root: bool) -> list[str]:
    """The command for one unit: ``systemctl`` as root, else through ``sudo -n``
    (never prompts: no rights is an error, not a hang)."""
    if verb not in VERBS:
        raise BarnumError(f"unknown verb {verb!r}", EXIT_USAGE)
    parse_unit(unit)
    argv = ["systemctl", verb, unit]
    return argv if as_root else ["sudo", "-n", *argv]


@dataclass
class UnitResult:
    """One unit's outcome: ``state`` ok, failed (systemctl said no), denied (no
    right to run it) or unreachable (the host could not be reached)."""

    host: str
    user: str
    unit: str
    state: str
    error: str | None = None
    argv: list[str] = field(default_factory=list)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "error" and value is not None:  # it may quote a host: one clean line
            value = clean(str(value).strip())
        object.__setattr__(self, name, value)

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    def line(self) -> str:
        head = f"{self.host}  {self.unit}  "
        return clean(head + ("ok" if self.ok else f"{self.state}: {self.error}"))


def outcome(job: UnitJob, verb: str, argv: list[str], status: int | None, stderr: str,
            timed_out: bool = False, signal: str | None = None,
            login: str = "") -> UnitResult:
    """Pure: a command's exit status and stderr as this unit's result."""
    r = UnitResult(job.host, job.user, job.unit, "ok", None, argv)
    if status == 0 and not timed_out:
        return r
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    text = " ".join(lines)
    sudo = argv[:1] == ["sudo"]
    who = login or "the SSH user"
    if timed_out:
        r.state, r.error = "failed", f"systemctl {verb} did not finish within {UNIT_DEADLINE:g}s"
    elif signal:
        r.state, r.error = "failed", f"systemctl was killed by signal {signal}"
    elif status is None:
        r.state, r.error = "failed", "connection closed before systemctl finished"
    elif sudo and status in (126, 127) and "sudo" in text and "not found" in text:
        r.state, r.error = "denied", (f"sudo is not installed on {job.host}: log in as root "
                                      f"(User root in ssh_config) or install sudo and add "
                                      f"to its sudoers: {SUDOERS_LINE}")
    elif sudo and any(d in text for d in _DENIED):
        r.state, r.error = "denied", (f"{who} may not run 'systemctl {verb} {job.unit}' as "
                                      f"root on {job.host} (sudo -n refused); add to its "
                                      f"sudoers: {SUDOERS_LINE}")
    else:
        why = lines[-1] if lines else f"systemctl exited {status}"
        if len(lines) > 1 and lines[0].startswith(("Job for", "Failed to")):
            why = lines[0]
        r.state, r.error = "failed", why
    return r


def exit_code(results: list[UnitResult]) -> int:
    states = {r.state for r in results}
    if "unreachable" in states:
        return EXIT_HOST
    return EXIT_INSTANCE if states - {"ok"} else EXIT_OK


def login_user(host: str, fab_config: Any) -> str:
    """The user barnum logs in as on ``host`` (ssh_config's User), without connecting."""
    from fabric import Connection

    return Connection(host, config=fab_config).user


def dry_run_lines(plan: UnitPlan, ssh_config: str | None, fab_config: Any) -> list[str]:
    """``DRY RUN; would execute: ssh ... systemctl ...``, one per unit; connects to nothing."""
    from barnum.transport.remote import ssh_command

    out = []
    for host in plan.hosts:
        root = login_user(host, fab_config) == "root"
        for j in (j for j in plan.jobs if j.host == host):
            cmd = ssh_command(host, unit_argv(plan.verb, j.unit, root), ssh_config)
            out.append(f"DRY RUN; would execute: {cmd}")
    return out


def run_units(plan: UnitPlan, options: Any, fab_config: Any,
              on_result: Callable[[UnitResult], None] | None = None,
              log: Callable[[str], None] | None = None) -> list[UnitResult]:
    """Run the plan: per host one SSH connection, its units one after the other;
    ``options.fanout`` hosts at once.  A host that cannot be reached makes each of
    its units ``unreachable``; the other hosts' results still come back.
    ``on_result`` is called as each host finishes (from worker threads)."""
    log = log or (lambda _m: None)
    by_host: dict[str, list[UnitJob]] = {}
    for j in plan.jobs:
        by_host.setdefault(j.host, []).append(j)

    def one(host: str) -> list[UnitResult]:
        out = _run_host(host, by_host[host], plan.verb, options, fab_config, log)
        if on_result is not None:
            for r in out:
                on_result(r)
        return out

    with ThreadPoolExecutor(max(1, min(options.fanout, len(by_host)))) as pool:
        done = list(pool.map(one, plan.hosts))
    order = {j: n for n, j in enumerate(plan.jobs)}
    return sorted((r for rs in done for r in rs), key=lambda r: order[UnitJob(r.host, r.user)])


def _run_host(host: str, jobs: list[UnitJob], verb: str, options: Any, fab_config: Any,
              log: Callable[[str], None]) -> list[UnitResult]:
    from barnum.transport import ssh
    from barnum.transport.capture import run_capped
    from barnum.transport.remote import remote_command

    out: list[UnitResult] = []
    conn = None
    try:
        conn = ssh.make_connection(host, fab_config, options.timeout, options.host_key_policy,
                                   log)
        ssh.open_connection(conn)
        login = conn.user
        for j in jobs:
            argv = unit_argv(verb, j.unit, login == "root")
            c = run_capped(conn.transport, remote_command(argv),
                           time.monotonic() + UNIT_DEADLINE, MAX_OUTPUT)
            status = c.status if not c.too_large else 1
            out.append(outcome(j, verb, argv, status, c.stderr, c.timed_out, c.signal, login))
    except Exception as e:  # the host's remaining units: one reason, each
        why = ssh.classify(e, conn, options.timeout)
        out += [UnitResult(j.host, j.user, j.unit, "unreachable", why)
                for j in jobs[len(out):]]
    finally:
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a dead connection
                conn.close()
    return out
