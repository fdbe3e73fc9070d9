"""barnum's Python API: plan a fleet run, run it in parallel, get results back.

    from barnum.model.config import load_config
    from barnum.transport.options import Options
    from barnum.oneshot.plan import plan
    from barnum.oneshot.pool import run_fleet

    p = plan(load_config("circus_users.yaml"), ["host1", "user2@host[2-3]"])
    result = run_fleet(p, Options(ssh_config="fleet_ssh_config"))
    result.exit_code, result.to_dict()

The CLI is a thin layer over this.  Nothing here prints: progress and
``--verbose`` lines go to the ``log`` callback, each finished host to
``on_result`` (both called from the calling thread).
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from barnum.model.hostsort import natural_key
from barnum.model.results import FleetResult, HostResult, interpret
from barnum.oneshot.plan import HostPlan, Plan
from barnum.text.sanitize import clean
from barnum.transport.capture import Captured, run_capped, run_local_capped
from barnum.transport.options import Options
from barnum.transport.remote import bailey_args_of, remote_command, shipped_argv

PROGRESS_TICK = 0.2  # seconds between progress callbacks
GRACE = 0.5  # the pool's hard deadline is timeout + GRACE, so SSH's own timeouts speak first

Log = Callable[[str], None]
Progress = Callable[[int, list[tuple[str, float]]], None]
_payload_lock = threading.Lock()  # build bailey's payload once, not once per thread


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
    from barnum.transport import ssh

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
        from barnum.transport import ssh

        fab_config = ssh.fabric_config(options.ssh_config)
    if options.ship:
        from barnum.transport.remote import payload

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


