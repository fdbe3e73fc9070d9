"""barnum's Python API: plan a fleet run, run it in parallel, get results back.

    from barnum.config import load_config
    from barnum.fleet import Options, plan, run_fleet

    p = plan(load_config("circus_users.yaml"), ["host1", "user2@host[2-3]"])
    result = run_fleet(p, Options(ssh_config="fleet_ssh_config"))
    result.exit_code, result.to_dict()

The CLI is a thin layer over this.  Nothing here prints: progress and
``--verbose`` lines go to the ``log`` callback, each finished host to
``on_result`` (both called from the calling thread).
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bailey.report import EXIT_HOST as BAILEY_EXIT_HOST
from bailey.report import UNIT_FAILED, Report
from barnum import EXIT_HOST, EXIT_INSTANCE, EXIT_OK, EXIT_USAGE, BarnumError, __version__
from barnum.capture import DEFAULT_MAX_OUTPUT, Captured, run_capped, run_local_capped
from barnum.config import Config
from barnum.discovery import Discovery, discover
from barnum.hostsort import natural_key
from barnum.plural import count
from barnum.remote import bailey_args_of, bailey_argv, remote_command, shipped_argv
from barnum.sanitize import clean
from barnum.targets import group_members, groups_of, resolve
from barnum.validate import DocumentError, report_from_document

SCHEMA = "barnum/1"
BAILEY_DEFAULT_TIMEOUT = 5  # bailey's own --timeout default
PROGRESS_TICK = 0.2  # seconds between progress callbacks
GRACE = 0.5  # the pool's hard deadline is timeout + GRACE, so SSH's own timeouts speak first

Log = Callable[[str], None]
Progress = Callable[[int, list[tuple[str, float]]], None]
_payload_lock = threading.Lock()  # build bailey's payload once, not once per thread


@dataclass
class Options:
    """How to reach hosts; CLI flags override the users file's settings."""

    ssh_config: str | None = None
    bailey: str = "bailey"  # command on the hosts, split like a shell would
    timeout: float = 10.0  # per host: connecting and running bailey, all included
    fanout: int = 32  # hosts worked on at once
    ship: bool = False  # always send bailey's source (python3 -c ...)
    auto_ship: bool = True  # ship when bailey is not installed (exit 127)
    host_key_policy: str = "accept-new"
    verbose: bool = False  # ask bailey for --verbose; relay its stderr through log
    max_output: int = DEFAULT_MAX_OUTPUT  # bytes a host may send before "output too large"
    config_template: str | None = None  # the users file's, passed on to bailey
    local: bool = False  # run bailey without SSH for names meaning this machine
    preconnect: Any = None  # barnum.preconnect.Preconnect: TCP opened while starting

    @classmethod
    def from_config(cls, config: Config | None, **overrides: Any) -> Options:
        """The users file's settings, then every override that is not None."""
        o = cls()
        if config is not None:
            for key in ("ssh_config", "bailey", "timeout", "fanout", "max_output",
                        "config_template", "local"):
                v = getattr(config, key)
                if v is not None:
                    setattr(o, key, v)
        for key, v in overrides.items():
            if v is not None:
                setattr(o, key, v)
        return o


@dataclass
class HostPlan:
    """One host to visit; ``users`` empty means every circus instance there."""

    host: str
    users: list[str] = field(default_factory=list)
    configured_users: list[str] = field(default_factory=list)  # from discovery
    local: bool = False  # this machine: bailey runs as a subprocess, no SSH


@dataclass
class Plan:
    """What a run will do, before anything runs (``--dry-run`` prints it)."""

    hosts: list[HostPlan]
    bailey_args: list[str] = field(default_factory=list)
    circusctl_args: list[str] | None = None
    discovery: Discovery | None = None
    groups: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # see group_members

    def argv(self, hp: HostPlan, options: Options) -> list[str]:
        """bailey's argv for ``hp`` (before any shipping).

        bailey is told the users file's config_template, and a circusctl
        timeout that fits barnum's own, so one hung circusd cannot make the
        host's healthy instances miss barnum's deadline.
        """
        extra = []
        if options.config_template and not _has_option(self.bailey_args, "--config-template"):
            extra += ["--config-template", options.config_template]
        t = bailey_timeout(options.timeout)
        if t != BAILEY_DEFAULT_TIMEOUT and not _has_option(self.bailey_args, "--timeout"):
            extra += ["--timeout", str(t)]
        return bailey_argv(options.bailey, hp.users, [*extra, *self.bailey_args],
                           self.circusctl_args, options.verbose)


def bailey_timeout(timeout: float) -> int:
    """bailey's per-instance circusctl timeout for a barnum ``--timeout``: at most
    half of it (connecting and starting take the rest), between 1 and bailey's 5."""
    return max(1, min(BAILEY_DEFAULT_TIMEOUT, int(timeout // 2)))


def _has_option(args: list[str], name: str) -> bool:
    return any(a == name or a.startswith(name + "=") for a in args)


@dataclass
class HostResult:
    """What happened on one host.  ``error``: one line, host-level, None if bailey answered."""

    host: str
    users: list[str]
    argv: list[str]
    report: Report | None = None
    document: dict[str, Any] | None = None  # bailey's JSON as received
    stdout: str = ""
    stderr: str = ""
    exit_status: int | None = None  # bailey's exit status on the host
    error: str | None = None
    elapsed: float = 0.0
    shipped: bool = False

    def __setattr__(self, name: str, value: Any) -> None:
        # An error may quote what a host said: it is stored clean, one line, always.
        if name == "error" and value is not None:
            value = clean(str(value).strip())
        object.__setattr__(self, name, value)

    @property
    def ok(self) -> bool:
        """The host answered and bailey could look at it (instances may still be unhealthy)."""
        if self.error is not None:
            return False
        return self.report is None or self.report.exit != BAILEY_EXIT_HOST

    @property
    def exit_code(self) -> int:
        if not self.ok:
            return EXIT_HOST
        if self.report is not None:
            return EXIT_OK if self.report.exit == EXIT_OK else EXIT_INSTANCE
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "users": self.users,
            "ok": self.ok,
            "exit": self.exit_code,
            "elapsed": round(self.elapsed, 3),
            "error": self.error,
            "shipped": self.shipped,
            "argv": self.argv,
            "remote_exit": self.exit_status,
            "bailey": self.document,
            "raw_stdout": self.stdout if self.document is None else None,
        }


@dataclass
class FleetResult:
    """Every host's result, sorted by host name, and the exit code they add up to."""

    hosts: list[HostResult]
    elapsed: float = 0.0
    groups: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # name -> {host: users}

    @property
    def exit_code(self) -> int:
        codes = {h.exit_code for h in self.hosts}
        for code in (EXIT_HOST, EXIT_INSTANCE):
            if code in codes:
                return code
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        """The ``barnum --json`` document.

        ``{"schema": "barnum/1", "barnum_version": str, "exit": int,
        "elapsed": float, "groups": {name: {host: [user, ...]}},
        "hosts": [{"host", "users", "ok", "exit", "elapsed", "error", "shipped",
        "argv", "remote_exit", "bailey", "raw_stdout", "groups"}]}``

        ``groups`` (top level) is each users-file group's members among the
        discovered hosts (an empty user list: the whole host); a host's
        ``groups`` names the groups it is in.

        ``bailey`` is the host's bailey/1 document as received (see
        bailey.report) or null; ``raw_stdout`` is bailey's output when it was
        not a document (e.g. ``barnum -- --help``), else null; ``error`` is a
        one-line host-level error or null.  Fields may be added; the schema
        string changes when one changes meaning or disappears.
        """
        of = self.groups_of()
        return {
            "schema": SCHEMA,
            "barnum_version": __version__,
            "exit": self.exit_code,
            "elapsed": round(self.elapsed, 3),
            "groups": self.groups,
            "hosts": [{**h.to_dict(), "groups": of.get(h.host, [])} for h in self.hosts],
        }

    def groups_of(self) -> dict[str, list[str]]:
        """host -> names of the groups it is in."""
        return groups_of(self.groups)


def unit_host(host: str) -> str:
    """The host name in its units' names: ``localhost`` (this machine, run without
    SSH) names its units by this machine's short name, as bailey does."""
    return socket.gethostname().split(".")[0] if host == "localhost" else host


def local_names() -> set[str]:
    """Names that mean "this machine": run bailey here, without SSH."""
    short = socket.gethostname().split(".")[0]
    return {"localhost", short}


def plan(
    config: Config,
    targets: list[str] | None = None,
    bailey_args: list[str] | None = None,
    circusctl_args: list[str] | None = None,
    *,
    discovery: Discovery | None = None,
    local: bool = False,
) -> Plan:
    """Resolve targets against the users' circus trees; raises BarnumError (exit 2)."""
    d = discovery if discovery is not None else discover(config.users, config.config_template)
    if not d.hosts:
        where = config.path or "the users file"
        raise BarnumError(
            f"no hosts found: none of the {count(len(config.users), 'user')} in {where} has a "
            "circus/<host>/circus.ini", EXIT_USAGE,
        )
    chosen = resolve(list(targets or []), d.hosts, config.groups)
    here = local_names() if local else set()
    hosts = [
        HostPlan(host=h, users=users, configured_users=d.hosts[h], local=h in here)
        for h, users in chosen.items()
    ]
    return Plan(hosts, list(bailey_args or []), circusctl_args, d,
                group_members(d.hosts, config.groups))


def interpret(result: HostResult) -> None:
    """Fill ``report``/``document``/``error`` from bailey's stdout and exit status.

    The document is checked strictly (barnum.validate): a host that sends a
    malformed one gets a one-line error, and the other hosts are unaffected.
    """
    text = result.stdout.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError as e:
            result.error = f"bailey printed unreadable JSON: {_first_line(e)}"
            return
        except RecursionError:
            result.error = "bailey printed JSON nested too deeply to read"
            return
        except MemoryError:
            result.error = f"bailey printed a document too big to read ({len(text)} bytes)"
            return
        try:
            result.report = report_from_document(doc, unit_host(result.host))
        except DocumentError as e:
            result.error = f"bailey printed an invalid document: {e}"
            return
        result.document = doc
        return
    if result.exit_status == 0:
        return  # not a document (e.g. --help): shown raw, cleaned
    err_lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    out_lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    if result.exit_status == 2 and err_lines:
        result.error = f"bailey rejected its arguments: {err_lines[-1].strip()}"
    elif out_lines:
        result.error = f"bailey printed no JSON: {out_lines[0].strip()}"
    elif err_lines:
        result.error = f"bailey exited {result.exit_status}: {err_lines[-1].strip()}"
    else:
        result.error = f"bailey exited {result.exit_status} and printed nothing"


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _apply(r: HostResult, c: Captured, options: Options) -> bool:
    """Copy a capture into ``r``; False (with ``r.error`` set) when it is unusable."""
    if c.too_large:
        r.error = (f"output too large: over {options.max_output} bytes "
                   "(raise max_output in the users file if this host is right)")
    elif c.timed_out:
        r.error = f"timed out after {options.timeout:g}s (bailey still running there)"
    elif c.signal:
        r.error = f"bailey was killed by signal {c.signal}"
    elif c.status is None:
        r.error = "connection closed before bailey finished (no exit status)"
    else:
        r.stdout, r.stderr, r.exit_status = c.stdout, c.stderr, c.status
        return True
    return False


def _not_found(status: int | None, stderr: str) -> bool:
    return status == 127 or (status == 126 and "not found" in stderr)


class _Job:
    """One host's work, with what the pool needs to abandon it."""

    def __init__(self, hp: HostPlan, argv: list[str]) -> None:
        self.hp = hp
        self.argv = argv
        self.started: float | None = None
        self.conn: Any = None


def _run_local(job: _Job, options: Options, deadline: float, log: Log) -> HostResult:
    r = HostResult(job.hp.host, job.hp.users, job.argv)

    def shipped() -> list[str]:  # built only when needed, like _run_ssh's
        with _payload_lock:
            return shipped_argv(bailey_args_of(job.argv, options.bailey), sys.executable)

    argv = shipped() if options.ship else job.argv
    r.shipped = options.ship
    try:
        c = run_local_capped(argv, deadline, options.max_output)
    except FileNotFoundError:
        if not options.auto_ship:
            r.error = "bailey not found; rerun with --ship"
            return r
        log(f"{job.hp.host}: {argv[0]} not found; running bailey from barnum's copy")
        r.shipped = True
        c = run_local_capped(shipped(), deadline, options.max_output)
    _apply(r, c, options)
    return r


def _run_ssh(job: _Job, options: Options, fab_config: Any, deadline: float,
             log: Log) -> HostResult:
    from barnum import ssh

    r = HostResult(job.hp.host, job.hp.users, job.argv)
    conn = None
    try:
        conn = ssh.make_connection(job.hp.host, fab_config, options.timeout,
                                   options.host_key_policy, log)
        job.conn = conn
        pre = options.preconnect
        if pre is not None and not conn.gateway:
            sock = pre.take(job.hp.host, conn.host, conn.port, deadline - time.monotonic())
            if sock is not None:
                conn.connect_kwargs["sock"] = sock
        ssh.open_connection(conn)

        def run(argv: list[str]) -> Captured:
            return run_capped(conn.transport, remote_command(argv), deadline, options.max_output)

        def shipped() -> list[str]:  # built only when needed: compressing costs ~10 ms
            with _payload_lock:
                return shipped_argv(bailey_args_of(job.argv, options.bailey))

        if options.ship:
            c, r.shipped = run(shipped()), True
        else:
            c = run(job.argv)
            if _not_found(c.status, c.stderr):
                if not options.auto_ship:
                    r.error = "bailey not found; rerun with --ship"
                    return r
                log(f"{job.hp.host}: bailey not installed; shipping it to python3")
                c, r.shipped = run(shipped()), True
        if r.shipped and _not_found(c.status, c.stderr):
            r.error = "bailey not installed and no python3 to ship it to"
            return r
        _apply(r, c, options)
    except Exception as e:  # every failure becomes one line for this host
        r.error = ssh.classify(e, conn, options.timeout, time.monotonic() >= deadline - 0.05)
    finally:
        if conn is not None:
            _quiet_close(conn)
    return r


def run_fleet(
    plan: Plan,
    options: Options,
    on_result: Callable[[HostResult], None] | None = None,
    log: Log | None = None,
    progress: Progress | None = None,
) -> FleetResult:
    """Visit every planned host, ``options.fanout`` at a time; never blocks past the deadline.

    A host that is still busy ``options.timeout`` (+ a short grace) after its
    work started is reported as timed out and its thread abandoned (daemon
    threads: they cannot keep the process alive).  ``progress`` gets, a few
    times a second, the number of hosts done and (host, seconds) of those
    being worked on.
    """
    log = log or (lambda _msg: None)
    t0 = time.monotonic()
    jobs = [_Job(hp, plan.argv(hp, options)) for hp in plan.hosts]
    fab_config = None
    if any(not j.hp.local for j in jobs):
        from barnum import ssh

        fab_config = ssh.fabric_config(options.ssh_config)
    if options.ship:
        from barnum.remote import payload

        payload()  # build once, before the threads race to
    todo: queue.Queue[_Job] = queue.Queue()
    for j in jobs:
        todo.put(j)
    # One queue for everything the workers say: ("log", text), ("debug", text)
    # (only with --verbose) and ("done", (job, result)).
    events: queue.Queue[tuple[str, Any]] = queue.Queue()
    limit = options.timeout + GRACE

    def worker() -> None:
        while True:
            try:
                job = todo.get_nowait()
            except queue.Empty:
                return
            job.started = time.monotonic()
            deadline = job.started + options.timeout
            events.put(("debug", f"Processing {job.hp.host}"))
            events.put(("debug", f"{job.hp.host}: bailey cmd: {remote_command(job.argv)}"))
            try:
                warn = lambda msg: events.put(("log", msg))  # noqa: E731
                if job.hp.local:
                    r = _run_local(job, options, deadline, warn)
                else:
                    r = _run_ssh(job, options, fab_config, deadline, warn)
                if r.error is None:
                    interpret(r)
            except Exception as e:  # a bug must not lose the host
                r = HostResult(job.hp.host, job.hp.users, job.argv,
                               error=f"internal error: {type(e).__name__}: {e}")
            r.elapsed = time.monotonic() - job.started
            events.put(("done", (job, r)))

    def spawn() -> None:
        threading.Thread(target=worker, name="barnum-worker", daemon=True).start()

    for _ in range(max(1, min(options.fanout, len(jobs)))):
        spawn()

    results: dict[str, HostResult] = {}
    pending = {id(j): j for j in jobs}

    def finish(job: _Job, r: HostResult) -> None:
        del pending[id(job)]
        results[job.hp.host] = r
        if options.verbose and r.stderr:
            for line in r.stderr.splitlines():
                if line.strip():
                    log(f"{job.hp.host}: {clean(line)}")
        if on_result:
            on_result(r)

    while pending:
        now = time.monotonic()
        starts = [j.started for j in pending.values() if j.started is not None]
        wait = min((s + limit - now for s in starts), default=limit)
        if progress is not None:
            wait = min(wait, PROGRESS_TICK)
        try:
            kind, payload_ = events.get(timeout=max(0.01, wait))
        except queue.Empty:
            kind, payload_ = "", None
        if kind == "done":
            job, r = payload_
            if id(job) in pending:  # else: already reported as timed out
                finish(job, r)
        elif kind == "log" or (kind == "debug" and options.verbose):
            log(payload_)
        now = time.monotonic()
        for j, started in [(j, j.started) for j in pending.values() if j.started is not None]:
            if now - started >= limit:
                r = HostResult(j.hp.host, j.hp.users, j.argv,
                               error=f"timed out after {options.timeout:g}s",
                               elapsed=now - started)
                _abandon(j)
                finish(j, r)
                spawn()  # the stuck thread no longer counts against the fanout
        if progress is not None and pending:
            progress(len(results), [(j.hp.host, now - j.started) for j in pending.values()
                                    if j.started is not None])
    return FleetResult([results[h] for h in sorted(results, key=natural_key)],
                       time.monotonic() - t0, plan.groups)


def _abandon(job: _Job) -> None:
    """Close a stuck host's connection from the side; never wait for it."""
    conn = job.conn
    if conn is not None:
        threading.Thread(target=lambda: _quiet_close(conn), daemon=True).start()


def _quiet_close(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.close()


def error_lines(result: FleetResult) -> list[str]:
    """``host: message`` for every host-level and instance-level problem."""
    lines = []
    for h in result.hosts:
        if h.error:
            lines.append(f"{h.host}: {h.error}")
            continue
        if not h.report:
            continue
        lines += [f"{h.host}: {e}" for e in h.report.errors]
        for i in h.report.instances:
            if not i.healthy:
                why = i.error or ("unit failed" if i.state == UNIT_FAILED else i.state)
                lines.append(f"{h.host}: {i.unit}: {why}")
    return lines
