"""Serve one invocation from the open session: the normal CLI code runs, with the
session as the source of its results.

Two seams answer from the session while a call runs: the one-shot pool's
``run_fleet`` (the overview, passthrough, ``check``; replaced once in the
session process by one that serves the call running on the current thread)
and ``barnum.context.open_session`` (``stats``, ``logs``, ``start``/``stop``;
given per thread).  Calls run in parallel, each on its own thread with its
own output and environment (barnum.warm.calls).  Everything else, from the
users file to the rendering, is the cold path's own code, so output, exit
codes and JSON are the same.  Hosts the session does not
hold up are asked the cold way, in the same run; a call the session cannot
serve at all raises :class:`Cold` before anything is printed, and the client
runs it cold.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Callable
from typing import Any

from barnum.live import cancel
from barnum.live.session import FleetSession
from barnum.model.hostsort import natural_key, natural_sorted
from barnum.model.results import FleetResult
from barnum.oneshot.plan import HostPlan, Plan
from barnum.transport.options import Options
from barnum.warm import calls, phases
from barnum.warm.paths import file_part
from barnum.warm.protocol import ENV_KEYS

SERVED = (None, "check", "stats", "logs", "start", "stop")  # commands served warm
COMPLETING = threading.Lock()  # argcomplete keeps its state in globals: one at a time


class Cold(BaseException):  # BaseException: main() must not catch it
    """This call runs cold (``why`` says why); ``retire``: the session no longer fits."""

    def __init__(self, why: str, retire: bool = False) -> None:
        super().__init__(why)
        self.why = why
        self.retire = retire


def identity(options: Options) -> tuple:
    """What must match between the session and a call for the session to answer it."""
    return (file_part(options.ssh_config), options.bailey, options.config_template,
            options.host_key_policy, options.ship, options.auto_ship, options.max_output,
            bool(options.local))


class Output:
    """A call's output, in order: held while the call may still turn out cold (so a cold
    rerun does not print it twice), then sent to the client as it is written."""

    def __init__(self, emit: Callable[[int, bytes], None] | None = None) -> None:
        self.emit = emit
        self.held: list[tuple[int, bytes]] = []
        self.live = False  # the call is served warm: what is written goes out at once
        self.lock = threading.Lock()

    def write(self, fd: int, data: bytes) -> None:
        with self.lock:
            if self.live and self.emit is not None:
                self.emit(fd, data)
            else:
                self.held.append((fd, data))

    def commit(self) -> None:
        """The call is the session's now: what was held goes out, the rest as written."""
        with self.lock:
            if self.live or self.emit is None:
                return
            self.live = True
            held, self.held = self.held, []
            for fd, data in held:
                self.emit(fd, data)


class Capture(io.TextIOBase):
    """A stdout/stderr stand-in: what is written goes to the call's Output, with the
    client's tty flag."""

    def __init__(self, fd: int, out: Output, tty: bool) -> None:
        self.fd, self.out, self.tty = fd, out, tty

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def write(self, s: str) -> int:
        self.out.write(self.fd, s.encode("utf-8", "surrogateescape"))
        return len(s)

    def isatty(self) -> bool:
        return self.tty

    def fileno(self) -> int:
        raise io.UnsupportedOperation("a warm call's output is not a file")


class _View:
    """The session seen through one call's targets; closing it leaves the session open."""

    def __init__(self, session: FleetSession, chosen: dict[str, list[str]]) -> None:
        self._s = session
        self.chosen = chosen
        self.hosts = natural_sorted(chosen)
        self._follows: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s, name)

    def _t(self, targets: Any) -> Any:
        return targets if targets else self.chosen

    def host_states(self) -> dict:
        return {h: st for h, st in self._s.host_states().items() if h in self.chosen}

    def snapshot(self, targets: Any = None) -> FleetResult:
        return self._s.snapshot(self._t(targets))

    def refresh(self, targets: Any = None, timeout: float | None = None) -> FleetResult:
        return self._s.refresh(self._t(targets), timeout)

    def circusctl(self, args: list[str], targets: Any = None,
                  timeout: float | None = None) -> FleetResult:
        return self._s.circusctl(args, self._t(targets), timeout)

    def stats(self, targets: Any = None, timeout: float | None = None) -> dict:
        return self._s.stats(self._t(targets), timeout)

    def units(self, targets: Any = None) -> list:
        return self._s.units(self._t(targets))

    def follow(self, targets: Any = None, n: int = 0) -> Any:
        """The session's follow, closed (its hosts' follows cancelled) when the client
        leaves (its Ctrl-C) or the call ends: the session outlives both."""
        cancel.check()  # the client left (its Ctrl-C): stop where a cold call would
        sub = self._s.follow(self._t(targets), n)
        self._follows.append(sub)
        call = calls.current()
        if call is not None:
            def close_on_leave() -> None:
                while not (sub.closed or call.cancel.wait(1.0)):
                    pass
                sub.close()

            threading.Thread(target=close_on_leave, daemon=True, name="warm-follow").start()
        return sub

    def close(self) -> None:
        """The call is over; the session stays (without this call's follows)."""
        for sub in self._follows:
            sub.close()


class Runner:
    """Runs calls against one open session (``barnum.warm.server`` owns it)."""

    def __init__(self, session: FleetSession, options: Options) -> None:
        self.session = session
        self.ident = identity(options)
        self._cold_fleet: Any = None
        self.folders = calls.Folders()

    # -- the two seams ----------------------------------------------------------------

    def _fits(self, options: Options) -> None:
        if options.verbose:
            raise Cold("--verbose runs cold")
        if identity(options) != self.ident:
            raise Cold("the ssh_config, bailey command or connection options changed",
                       retire=file_part(options.ssh_config) != self.ident[0]
                       or options.bailey != self.ident[1])

    def run_fleet(self, plan: Plan, options: Options, on_result: Any = None,
                  log: Any = None, progress: Any = None) -> FleetResult:
        """The pool's run_fleet, answered over the open channels where the host is up."""
        self._fits(options)
        cancel.check()  # the client left (its Ctrl-C): stop where a cold call would
        if plan.bailey_args:
            raise Cold("bailey's own options run cold")
        t0 = time.monotonic()
        s = self.session
        warm: list[HostPlan] = []
        cold: list[HostPlan] = []
        for hp in plan.hosts:
            if hp.local or hp.host not in s.links:
                raise Cold(f"{hp.host} is not in the session")
            (warm if s.links[hp.host].copy().state == "up" else cold).append(hp)
        self._commit()
        results = {}
        if warm:
            where = {hp.host: list(hp.users) for hp in warm}
            phases.mark("ask")
            if plan.circusctl_args is None:
                got = s.refresh(where, options.timeout, phases.WATCHED)
            else:
                got = s.circusctl(plan.circusctl_args, where, options.timeout)
            phases.mark("asked")
            by_host = {hp.host: hp for hp in warm}
            for r in got.hosts:
                hp = by_host[r.host]
                if r.error is not None or r.report is None:
                    cold.append(hp)  # asked again the cold way, which words its failure
                    continue
                r.argv = plan.argv(hp, options)
                r.exit_status = remote_exit(r.document, r.report.exit)
                r.shipped = bool(getattr(s.links[r.host], "shipped", False))  # as cold says
                r.elapsed = time.monotonic() - t0
                results[r.host] = r
                if on_result is not None:
                    on_result(r)
        if cold:
            sub = Plan(cold, plan.bailey_args, plan.circusctl_args, plan.discovery, plan.groups)
            for r in self._cold_fleet(sub, options, on_result, log, progress).hosts:
                results[r.host] = r
        return FleetResult([results[h] for h in sorted(results, key=natural_key)],
                           time.monotonic() - t0, plan.groups)

    def open_session(self, ctx: Any) -> _View:
        """``barnum.context.open_session``, answered by the open session when every targeted
        host is up in it (else the call runs cold: a fresh session words what is wrong)."""
        self._fits(ctx.options)
        s = self.session
        for h in ctx.discovery.hosts:
            if h not in s.links:
                raise Cold(f"{h} is not in the session")
        chosen = s.resolve(ctx.targets)
        for h in chosen:
            if s.links[h].copy().state != "up":
                raise Cold(f"{h} is not up in the session")
        self._commit()
        return _View(s, chosen)

    @staticmethod
    def _commit() -> None:
        call = calls.current()
        if call is not None:
            call.data["out"].commit()

    def install(self) -> None:
        """Put the per-call stand-ins and the pool's seam in place, once per process."""
        import barnum.oneshot.pool

        calls.install()
        if self._cold_fleet is not None:
            return
        self._cold_fleet = cold = barnum.oneshot.pool.run_fleet

        def run_fleet(*args: Any, **kw: Any) -> FleetResult:
            """The pool's, for a warm call: answered by the session; else the pool's own."""
            if calls.current() is None:
                return cold(*args, **kw)
            return self.run_fleet(*args, **kw)

        barnum.oneshot.pool.run_fleet = run_fleet

    # -- one request ------------------------------------------------------------------

    def serve(self, req: dict[str, Any], emit: Callable[[int, bytes], None] | None = None,
              cancel: threading.Event | None = None) -> dict[str, Any]:
        """Answer one run or completion request: ``{"code", "chunks"}`` or ``{"cold"}``.
        ``emit(fd, bytes)``, if given, gets the output as it is written once the call is
        sure to be served warm; ``chunks`` is then what was not sent that way.
        ``cancel`` set: the client left, the call is interrupted at its next request on
        the session.  Calls from one working folder run in parallel."""
        import barnum.context

        self.install()
        argv = [str(a) for a in req.get("argv") or []]
        with self.folders.inside(req.get("cwd")) as here:
            if not here:
                return {"cold": "another warm call runs in another folder"}
            out = Output(emit)
            call = calls.Call(Capture(1, out, bool(req.get("stdout_tty"))),
                              Capture(2, out, False),  # not a terminal: no progress line
                              call_env(req), {"out": out}, cancel or threading.Event())
            with calls.running(call):
                if req.get("op") == "complete":
                    with COMPLETING:
                        return {"code": 0, "completion": complete()}
                why = refuse(argv)
                if why:
                    return {"cold": why}
                try:
                    from barnum.cli.main import main

                    phases.begin()
                    with barnum.context.sessions_from(self.open_session):
                        code = main(argv)
                except Cold as c:
                    if not out.live:
                        return {"cold": c.why, "retire": c.retire}
                    out.write(2, f"barnum: error: warm session: {c.why} (run it again with "
                              "--no-persist)\n".encode())  # part of it went out: no rerun
                    code = 3
                finally:
                    phases.end()
            return {"code": code, "chunks": out.held}


def remote_exit(document: Any, fallback: int) -> int:
    """bailey's own exit status, as a cold call reads it off the process: the document's
    ``exit`` (bailey exits with it).  Not the checked report's: barnum drops an instance
    that does not name a circus unit of its host (a note in ``errors``), which can make
    that report unhealthy where bailey's was not."""
    got = document.get("exit") if isinstance(document, dict) else None
    return got if isinstance(got, int) and not isinstance(got, bool) else fallback


def refuse(argv: list[str]) -> str | None:
    """Why this call cannot be served warm, judged from the command line alone; None if
    it may be."""
    from barnum.cli.argsplit import split_argv
    from barnum.cli.parser import parse_argv, split_command

    split = split_argv(argv)
    if split.bailey:
        return "bailey's own options run cold"
    name = split_command(split.barnum).name
    if name not in SERVED:
        return f"barnum {name} runs cold"
    try:
        with calls.silenced():
            args = parse_argv(argv)
    except SystemExit:
        return None  # --help, --version, a usage error: the CLI's own words, served
    for flag in ("dry_run", "verbose", "debug"):
        if getattr(args, flag, False):
            return f"--{flag.replace('_', '-')} runs cold"
    return None


class _Done(Exception):
    pass


def complete() -> str:
    """What TAB offers for the client's COMP_LINE (argcomplete's protocol, in memory)."""
    import argcomplete.io

    from barnum.cli.completion import _finder, _typed_words, completion_parser

    out = io.StringIO()

    def stop(_code: int = 0) -> None:
        raise _Done

    finder = _finder()
    finder._init_debug_stream = lambda: setattr(argcomplete.io, "debug_stream",
                                                io.StringIO())
    with contextlib.suppress(_Done):
        finder(completion_parser(_typed_words()), always_complete_options=False,
               exit_method=stop, output_stream=out)
    return out.getvalue()


def call_env(req: dict[str, Any]) -> dict[str, str]:
    """The client's rendering environment (``ENV_KEYS``) for one call: what it has set."""
    env = req["env"] if isinstance(req.get("env"), dict) else {}
    out = {k: v for k, v in env.items() if k in ENV_KEYS and isinstance(v, str)}
    size = req.get("size")
    if req.get("stdout_tty") and isinstance(size, list) and len(size) == 2:
        out.setdefault("COLUMNS", str(int(size[0])))
        out.setdefault("LINES", str(int(size[1])))
    out.pop("_ARGCOMPLETE_STDOUT_FILENAME", None)
    return out
