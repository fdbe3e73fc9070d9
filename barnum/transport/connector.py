"""One way to reach a host and start bailey there, for the one-shot pool and the session.

A :class:`Connector` holds what both paths must do alike: SSH with the
operator's host-key policy (barnum.transport.ssh), a TCP connection opened
early taken over (barnum.transport.preconnect), ``--local`` (this machine's
own names run bailey as a child process, no SSH), bailey's argv
(barnum.transport.bailey), the one ship rule, and the one output limit
(``max_output``: a one-shot host's whole output, a session's line).

- :meth:`Connector.run_bailey`: one ``bailey --json`` run, bounded by a deadline.
- :meth:`Connector.start_serve`: a ``bailey --serve`` channel, shipped if needed.

``warn`` lines are always shown; ``debug`` lines only with ``--verbose`` (each
layer: connecting, bailey's command, shipping, bailey's stderr).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from barnum.model.thishost import local_names
from barnum.transport.bailey import bailey_args_of, bailey_argv, not_installed
from barnum.transport.capture import Captured, run_capped, run_local_capped
from barnum.transport.options import Options
from barnum.transport.remote import remote_command, shipped_argv

Log = Callable[[str], None]
T = TypeVar("T")
_payload_lock = threading.Lock()  # build bailey's payload once, not once per thread
_STDERR_KEEP = 4096  # bytes of a serve channel's stderr kept for its error line


def _quiet(_msg: str) -> None:
    pass


class HostError(Exception):
    """A host-level problem, already worded for the operator (one line)."""


@dataclass
class Ran:
    """What one ``bailey --json`` run gave: its output, or one line saying why not."""

    stdout: str = ""
    stderr: str = ""
    status: int | None = None
    shipped: bool = False
    error: str | None = None


@dataclass
class Connector:
    """How this barnum reaches hosts: see the module's docstring."""

    options: Options
    warn: Log = _quiet
    debug: Log = _quiet
    fab_config: Any = None  # fabric's Config, built once by prepare()
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def max_output(self) -> int:
        """Bytes a host may send: one-shot, all its output; session, one line."""
        return self.options.max_output

    def is_local(self, host: str) -> bool:
        """Run bailey here, without SSH: only with ``--local``, only for this machine's names."""
        return bool(self.options.local) and host in local_names()

    def prepare(self, over_ssh: bool = True) -> None:
        """Read the ssh_config once, before any thread needs it (a usage error surfaces
        here, in the caller's thread); ``over_ssh`` False: every host is local."""
        if self.fab_config is None and over_ssh:
            from barnum.transport import ssh

            self.fab_config = ssh.fabric_config(self.options.ssh_config)
        if self.options.ship:
            self.shipped([], False)  # build the payload once, before threads race to

    # -- bailey's command -----------------------------------------------------------------

    def argv(self, users: Sequence[str] = (), bailey_args: Sequence[str] = (),
             circusctl_args: Sequence[str] | None = None, serve: bool = False) -> list[str]:
        """bailey's argv for these options (``--timeout`` fitted, config_template passed)."""
        o = self.options
        return bailey_argv(o.bailey, users, bailey_args, circusctl_args, serve=serve,
                           timeout=o.timeout, config_template=o.config_template,
                           verbose=o.verbose)

    def shipped(self, argv: Sequence[str], local: bool) -> list[str]:
        """``argv`` run from barnum's copy of bailey, by the host's python3 (here: ours)."""
        with _payload_lock:
            return shipped_argv(bailey_args_of(argv, self.options.bailey),
                                sys.executable if local else "python3")

    # -- SSH ------------------------------------------------------------------------------

    def open_ssh(self, host: str, deadline: float, hold: Callable[[Any], None] | None = None
                 ) -> Any:
        """An open fabric Connection (host keys checked; an early TCP socket taken over).
        ``hold(conn)`` gets it before it opens, so another thread can close it."""
        from barnum.transport import ssh

        o = self.options
        with self._lock:
            if self.fab_config is None:
                self.fab_config = ssh.fabric_config(o.ssh_config)
        self.debug(f"{host}: connecting over SSH")
        conn = ssh.make_connection(host, self.fab_config, o.timeout, o.host_key_policy,
                                   self.warn)
        if hold is not None:
            hold(conn)
        pre = o.preconnect
        if pre is not None and not conn.gateway:
            sock = pre.take(host, conn.host, conn.port, deadline - time.monotonic())
            if sock is not None:
                conn.connect_kwargs["sock"] = sock
        ssh.open_connection(conn)
        return conn

    # -- one run --------------------------------------------------------------------------

    def run_bailey(self, host: str, argv: list[str], deadline: float, *,
                   local: bool | None = None, hold: Callable[[Any], None] | None = None
                   ) -> Ran:
        """Run ``argv`` (from :meth:`argv`) on ``host`` until ``deadline`` (monotonic),
        shipping bailey where it is not installed; every failure is ``Ran.error``.
        ``local``: a plan's own decision (else :meth:`is_local`)."""
        if self.is_local(host) if local is None else local:
            return self._run_here(host, argv, deadline)
        from barnum.transport import ssh

        o = self.options
        conn = None

        def held(c: Any) -> None:
            nonlocal conn
            conn = c
            if hold is not None:
                hold(c)

        try:
            conn = self.open_ssh(host, deadline, held)

            def run(shipped: bool) -> Captured:
                self._said_cmd(host, argv, shipped)
                cmd = self.shipped(argv, False) if shipped else argv
                return run_capped(conn.transport, remote_command(cmd), deadline, o.max_output)

            shipped = bool(o.ship)
            c = run(shipped)
            if not shipped and not_installed(c.status, c.stderr):
                if not o.auto_ship:
                    return Ran(error="bailey not found; rerun with --ship")
                self.debug(self._shipping(host, argv, False))
                c, shipped = run(True), True
            if shipped and not_installed(c.status, c.stderr):
                return Ran(shipped=True, error="bailey not installed and no python3 to ship it to")
            return self._ran(c, shipped)
        except Exception as e:  # every failure becomes one line for this host
            return Ran(error=ssh.classify(e, conn, o.timeout,
                                          time.monotonic() >= deadline - 0.05))
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()

    def _run_here(self, host: str, argv: list[str], deadline: float) -> Ran:
        o = self.options
        self.debug(f"{host}: this machine (--local): running bailey without SSH")
        shipped = bool(o.ship)
        try:
            try:
                self._said_cmd(host, argv, shipped)
                c = run_local_capped(self.shipped(argv, True) if shipped else argv, deadline,
                                     o.max_output)
            except FileNotFoundError:
                if shipped:
                    raise
                if not o.auto_ship:
                    return Ran(error="bailey not found; rerun with --ship")
                self.debug(self._shipping(host, argv, True))
                self._said_cmd(host, argv, True)
                c, shipped = run_local_capped(self.shipped(argv, True), deadline,
                                              o.max_output), True
        except OSError as e:
            return Ran(shipped=shipped, error=f"cannot run bailey here: {e.strerror or e}")
        return self._ran(c, shipped)

    def _said_cmd(self, host: str, argv: Sequence[str], shipped: bool) -> None:
        """--verbose: bailey's argv as the host's shell gets it (shipped: its source
        travels too, too long to show)."""
        self.debug(f"{host}: bailey cmd: {remote_command(list(argv))}"
                   + (" (shipped)" if shipped else ""))

    @staticmethod
    def _shipping(host: str, argv: Sequence[str], local: bool) -> str:
        if local:
            return f"{host}: {argv[0]} not found; running bailey from barnum's copy"
        return f"{host}: bailey not installed; shipping it to python3"

    def _ran(self, c: Captured, shipped: bool) -> Ran:
        o = self.options
        r = Ran(shipped=shipped)
        if c.too_large:
            r.error = (f"output too large: over {o.max_output} bytes (raise --max-output, or "
                       "max_output in the users file, if this host is right)")
        elif c.timed_out:
            r.error = f"timed out after {o.timeout:g}s (bailey still running there)"
        elif c.signal:
            r.error = f"bailey was killed by signal {c.signal}"
        elif c.status is None:
            r.error = "connection closed before bailey finished (no exit status)"
        else:
            r.stdout, r.stderr, r.status = c.stdout, c.stderr, c.status
        return r

    # -- bailey --serve -------------------------------------------------------------------

    def start_serve(self, host: str, first: Callable[[Serve], T | None],
                    hold: Callable[[Any], None] | None = None) -> tuple[Serve, T]:
        """A running ``bailey --serve`` on ``host`` and what ``first`` read from it.

        ``first(serve)`` reads the opening (bailey's hello) and returns None when
        the command ended without one; then the ship rule decides whether to try
        again with barnum's copy.  ``hold`` gets each closable thing (connection,
        then channel) as soon as it exists.  Raises HostError (worded) or the
        transport's own exception (for barnum.transport.ssh.classify).
        """
        o = self.options
        local = self.is_local(host)
        argv = self.argv(serve=True)
        deadline = time.monotonic() + o.timeout
        conn = None
        if local:
            self.debug(f"{host}: this machine (--local): running bailey without SSH")
        else:
            conn = self.open_ssh(host, deadline, hold)
        status: int | None
        for shipped in ((True,) if o.ship else (False, True)):
            cmd = self.shipped(argv, local) if shipped else argv
            self._said_cmd(host, argv, shipped)
            try:
                serve: Serve = _Here(cmd, host, self) if local else \
                    _Channel(conn, cmd, host, self, o.timeout)
            except FileNotFoundError:  # local only: as a shell's 127
                status, err = 127, "not found"
            else:
                if hold is not None:
                    hold(serve)
                got = first(serve)
                if got is not None:
                    serve.shipped = shipped
                    return serve, got
                status, err = serve.ended(o.timeout)
                serve.close(keep_connection=True)
            if shipped and not_installed(status, err):
                raise HostError("bailey not installed and no python3 to ship it to")
            if shipped or not not_installed(status, err):
                why = err.strip().splitlines()[-1:] if err.strip() else []
                raise HostError(f"bailey --serve did not start (exit {status})"
                                + (f": {why[0][:200]}" if why else ""))
            if not o.auto_ship:
                raise HostError("bailey not found; rerun with --ship")
            self.debug(self._shipping(host, argv, local))
        raise AssertionError("unreachable: the loop returns or raises")


class Serve:
    """A ``bailey --serve`` stream, whatever carries it: what the session calls.

    ``recv`` raises TimeoutError after ``settimeout``'s seconds and returns b""
    at the end; bailey's stderr is drained on the way (to ``debug``, line by
    line, so a chatty stderr never stalls stdout)."""

    conn: Any = None  # the SSH connection it runs on (None: a local process)
    shipped = False  # runs barnum's copy of bailey (the ship rule applied)

    def __init__(self, host: str, connector: Connector) -> None:
        self.host = host
        self._debug = connector.debug
        self._err = b""  # the unfinished stderr line
        self._tail = b""  # the last stderr bytes, for an error line

    def _stderr(self, data: bytes) -> None:
        self._tail = (self._tail + data)[-_STDERR_KEEP:]
        lines = (self._err + data).split(b"\n")
        self._err = lines.pop()[-_STDERR_KEEP:]
        for line in lines:
            if line.strip():
                self._debug(f"{self.host}: {line.decode('utf-8', 'replace')}")

    def stderr_tail(self) -> str:
        return self._tail.decode("utf-8", "replace")

    def settimeout(self, timeout: float | None) -> None:
        raise NotImplementedError

    def recv(self, n: int) -> bytes:
        raise NotImplementedError

    def sendall(self, data: bytes) -> None:
        raise NotImplementedError

    def ended(self, timeout: float) -> tuple[int | None, str]:
        """After the stream's end: (exit status or None, stderr's tail)."""
        raise NotImplementedError

    def close(self, keep_connection: bool = False) -> None:
        raise NotImplementedError


class _Channel(Serve):
    """``bailey --serve`` on an SSH session channel."""

    def __init__(self, conn: Any, argv: list[str], host: str, connector: Connector,
                 timeout: float) -> None:
        super().__init__(host, connector)
        self.conn = conn
        self.chan = conn.transport.open_session(timeout=timeout)
        self.chan.exec_command(remote_command(argv))

    def settimeout(self, timeout: float | None) -> None:
        self.chan.settimeout(timeout)

    def _drain(self) -> None:
        while self.chan.recv_stderr_ready():
            self._stderr(self.chan.recv_stderr(65536))

    def recv(self, n: int) -> bytes:
        self._drain()
        data = self.chan.recv(n)
        self._drain()
        return data

    def sendall(self, data: bytes) -> None:
        self.chan.sendall(data)

    def ended(self, timeout: float) -> tuple[int | None, str]:
        self.chan.status_event.wait(timeout)  # the exit status may trail the EOF
        self._drain()
        status = self.chan.exit_status if self.chan.exit_status_ready() else None
        return status, self.stderr_tail()

    def close(self, keep_connection: bool = False) -> None:
        with contextlib.suppress(Exception):
            self.chan.close()
        if not keep_connection:
            with contextlib.suppress(Exception):
                self.conn.close()


class _Here(Serve):
    """``bailey --serve`` as a child process of barnum (``--local``): pipes, no SSH."""

    def __init__(self, argv: list[str], host: str, connector: Connector) -> None:
        super().__init__(host, connector)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.out, self.err = self.proc.stdout.fileno(), self.proc.stderr.fileno()
        self.timeout: float | None = None
        self.err_open = True

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout

    def recv(self, n: int) -> bytes:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            fds = [self.out, self.err] if self.err_open else [self.out]
            ready, _, _ = select.select(fds, [], [], left)
            if self.err in ready:
                data = os.read(self.err, 65536)
                if data:
                    self._stderr(data)
                else:
                    self.err_open = False
            if self.out in ready:
                return os.read(self.out, n)
            if not ready:
                raise TimeoutError("no data")

    def sendall(self, data: bytes) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        stdin.write(data)
        stdin.flush()

    def ended(self, timeout: float) -> tuple[int | None, str]:
        if self.err_open:
            with contextlib.suppress(OSError):
                self._stderr(os.read(self.err, 65536))
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None, self.stderr_tail()
        return (status if status >= 0 else None), self.stderr_tail()

    def close(self, keep_connection: bool = False) -> None:
        """stdin closed: bailey sees EOF and exits; one that does not is killed."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(1.0)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(1.0)
        for f in (self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(OSError):
                if f is not None:
                    f.close()
