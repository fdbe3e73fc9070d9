"""Run one command on an open SSH connection and collect its output, bounded.

Why not Fabric's ``Connection.run``: invoke re-joins everything read so far on
every chunk (for its watchers), which makes reading quadratic (8 MB took
25 s), and it keeps everything a host sends.  Here output is read straight
from the paramiko channel into a list of chunks (linear), both streams
together are capped (past the cap the channel is closed and the host gets
"output too large"), and the whole run, decoding included, obeys one deadline.

paramiko ignores the ``exit-signal`` request that OpenSSH sends when the
remote process dies of a signal; :func:`_handle_request` records it, so "killed by
SIGKILL" is not mistaken for a lost connection.
"""

from __future__ import annotations

import select
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: a dry run or a local host never needs it
    import paramiko

DEFAULT_MAX_OUTPUT = 4 * 1024 * 1024  # bytes per host, stdout and stderr together
_CHUNK = 256 * 1024


@dataclass
class Captured:
    """What one remote command did.  ``status`` is None without an exit status."""

    stdout: str = ""
    stderr: str = ""
    status: int | None = None
    signal: str | None = None  # e.g. "KILL", from OpenSSH's exit-signal
    too_large: bool = False
    timed_out: bool = False


def _handle_request(chan: paramiko.Channel, m: paramiko.Message) -> None:
    """paramiko's channel-request handler, plus ``exit-signal`` kept on the channel."""
    import paramiko

    pos = m.packet.tell()
    if m.get_text() == "exit-signal":
        m.get_boolean()  # want_reply: never true for exit-signal (RFC 4254 6.10)
        # an attribute barnum adds to the channel; run_capped reads it back
        setattr(chan, "barnum_signal", m.get_text())  # noqa: B010
        return
    m.packet.seek(pos)
    # paramiko's private handler, which types-paramiko does not declare
    paramiko.Channel._handle_request(chan, m)  # type: ignore[attr-defined]


def _watch_signals(transport: paramiko.Transport) -> None:
    """Route this transport's channel requests through :func:`_handle_request`.

    The dispatch table is a class attribute of Transport; an instance copy
    changes this connection only.
    """
    if "_channel_handler_table" not in vars(transport):
        import paramiko

        # paramiko's private dispatch table, which types-paramiko does not declare
        table = dict(type(transport)._channel_handler_table)  # type: ignore[attr-defined]
        table[paramiko.common.MSG_CHANNEL_REQUEST] = _handle_request
        transport._channel_handler_table = table  # type: ignore[attr-defined]


def run_capped(transport: paramiko.Transport, command: str, deadline: float,
               max_output: int = DEFAULT_MAX_OUTPUT) -> Captured:
    """Run ``command`` (already quoted); stop at ``deadline`` (monotonic) or ``max_output``."""
    _watch_signals(transport)
    chan = transport.open_session(timeout=max(0.1, deadline - time.monotonic()))
    out: list[bytes] = []
    err: list[bytes] = []
    total = 0
    result = Captured()
    try:
        chan.exec_command(command)
        chan.shutdown_write()  # stdin: nothing (like ssh -n)
        while True:
            got = False
            while chan.recv_ready():
                data = chan.recv(_CHUNK)
                out.append(data)
                total += len(data)
                got = True
            while chan.recv_stderr_ready():
                data = chan.recv_stderr(_CHUNK)
                err.append(data)
                total += len(data)
                got = True
            if total > max_output:
                result.too_large = True
                break
            if not got and chan.exit_status_ready() and not chan.recv_ready() \
                    and not chan.recv_stderr_ready():
                break
            if not got and chan.closed:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                result.timed_out = True
                break
            if not got:
                if chan.eof_received:  # no more output: only the exit status is due
                    chan.status_event.wait(min(left, 0.2))
                else:
                    select.select([chan], [], [], min(left, 0.2))
        if chan.exit_status_ready() and not result.too_large:
            status = chan.recv_exit_status()
            result.status = None if status == -1 else status
        result.signal = getattr(chan, "barnum_signal", None)
    finally:
        chan.close()
    result.stdout = b"".join(out).decode("utf-8", "replace")
    result.stderr = b"".join(err).decode("utf-8", "replace")
    return result


def run_local_capped(argv: list[str], deadline: float,
                     max_output: int = DEFAULT_MAX_OUTPUT) -> Captured:
    """The same bounds for a local process (bailey run without SSH); killed when over."""
    import os
    import signal
    import subprocess

    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    stdout, stderr = proc.stdout, proc.stderr
    assert stdout is not None and stderr is not None  # both are PIPEs
    out: list[bytes] = []
    err: list[bytes] = []
    bufs = {stdout.fileno(): out, stderr.fileno(): err}
    open_fds = set(bufs)
    total = 0
    result = Captured()
    try:
        while open_fds:
            left = deadline - time.monotonic()
            if left <= 0:
                result.timed_out = True
                break
            ready, _, _ = select.select(list(open_fds), [], [], min(left, 0.5))
            for fd in ready:
                data = os.read(fd, _CHUNK)
                if not data:
                    open_fds.discard(fd)
                bufs[fd].append(data)
                total += len(data)
            if total > max_output:
                result.too_large = True
                break
        if result.timed_out or result.too_large:
            os.killpg(proc.pid, signal.SIGKILL)
        status = proc.wait()
        if not (result.timed_out or result.too_large):
            if status < 0:
                result.signal = signal.Signals(-status).name.removeprefix("SIG")
            else:
                result.status = status
    finally:
        stdout.close()
        stderr.close()
    result.stdout = b"".join(out).decode("utf-8", "replace")
    result.stderr = b"".join(err).decode("utf-8", "replace")
    return result
