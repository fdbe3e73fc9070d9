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
import threading
import time
from collections.abc import Callable
from typing import Any

from barnum.model.hostsort import natural_key
from barnum.model.results import FleetResult, HostResult, interpret
from barnum.oneshot.plan import HostPlan, Plan
from barnum.text.sanitize import clean
from barnum.transport.connector import Connector
from barnum.transport.options import Options

PROGRESS_TICK = 0.2  # seconds between progress callbacks
GRACE = 0.5  # the pool's hard deadline is timeout + GRACE, so SSH's own timeouts speak first

Log = Callable[[str], None]
Progress = Callable[[int, list[tuple[str, float]]], None]


class _Job:
    """One host's work, with what the pool needs to abandon it."""

    def __init__(self, hp: HostPlan, argv: list[str]) -> None:
        self.hp = hp
        self.argv = argv
        self.started: float | None = None
        self.conn: Any = None


def _run(job: _Job, connector: Connector, deadline: float) -> HostResult:
    """One host through the connector (SSH, or this machine with --local)."""
    ran = connector.run_bailey(job.hp.host, job.argv, deadline, local=job.hp.local,
                               hold=lambda c: setattr(job, "conn", c))
    r = HostResult(job.hp.host, job.hp.users, job.argv, shipped=ran.shipped, error=ran.error)
    if ran.error is None:
        r.stdout, r.stderr, r.exit_status = ran.stdout, ran.stderr, ran.status
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
    # One queue for everything the workers say: ("log", text), ("debug", text)
    # (only with --verbose) and ("done", (job, result)).
    events: queue.Queue[tuple[str, Any]] = queue.Queue()
    connector = Connector(options, warn=lambda msg: events.put(("log", msg)),
                          debug=lambda msg: events.put(("debug", msg)))
    jobs = [_Job(hp, connector.argv(hp.users, plan.bailey_args, plan.circusctl_args))
            for hp in plan.hosts]
    connector.prepare(any(not hp.local for hp in plan.hosts))
    todo: queue.Queue[_Job] = queue.Queue()
    for j in jobs:
        todo.put(j)
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
            try:
                r = _run(job, connector, deadline)
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
        if options.verbose:  # the slot is free: with --fanout N, N hosts at most in between
            log(f"{job.hp.host}: finished" + (f" ({r.error})" if r.error else ""))
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


