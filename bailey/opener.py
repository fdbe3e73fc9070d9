"""Kept helpers that open files with a circus user's ids, for ``bailey --serve``.

Why: bailey as root lets the kernel judge each file a circus user names by opening
it in a child that takes the user's uid, gid and groups (bailey.safefile).  A fork
per file costs about 1.3 ms of CPU, and a warm overview opens every instance's
circus.ini on every call.  A session instead keeps one helper per set of ids,
started with those ids, that opens each path it is sent and passes the descriptor
back (SCM_RIGHTS): the same decision by the same kernel, in a round trip.

A helper is a fresh interpreter (``python -I -S``) running only
``safefile.OPEN_REPLY_SOURCE``, not a fork of bailey: a fork would keep a copy of
the server's memory for as long as it lives.  It holds nothing but the user's own
ids; what it passes back is checked as any opened file is (a regular file, at most
so many bytes).  It reads paths until end of file, so it ends when bailey ends,
however bailey ends: its socket's other end lives only in bailey.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time

from bailey import safefile
from bailey.safefile import ChildUnavailable, Reader

MAX_HELPERS = 32  # at most this many sets of ids kept; the least recently used goes
IDLE = 300.0  # seconds a helper is kept unused
MARK = "bailey-opener"  # in the helper's command line, for ps and pgrep

_PROGRAM = safefile.OPEN_REPLY_SOURCE + """
import socket, sys
sock = socket.socket(fileno=0)
flags = int(sys.argv[2])
while True:
    path = sock.recv(65536)
    if not path:
        break
    open_reply(sock, path, flags)
"""

Ids = tuple[int, int, tuple[int, ...]]


_python: list[str] = []  # the interpreter that last started: tried first next time


def _interpreters() -> list[str]:
    """The last one that started first, then bailey's own, then the system's: a user may
    not be able to run one (under root's home, say) that another user could.  The
    helper needs only the standard library."""
    found = [os.path.realpath(p) for p in (sys.executable, getattr(sys, "_base_executable", ""),
                                           "/usr/bin/python3") if p]
    return list(dict.fromkeys([*_python, *(p for p in found if os.path.isfile(p))]))


def _spawn(fd: int, uid: int, gid: int, groups: tuple[int, ...]) -> subprocess.Popen:
    error: OSError = FileNotFoundError("no python interpreter for the helper")
    for python in _interpreters():
        try:
            proc = subprocess.Popen(
                [python, "-I", "-S", "-c", _PROGRAM, MARK, str(safefile.READ_FLAGS)],
                stdin=fd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                user=uid, group=gid, extra_groups=list(groups), cwd="/", env={},
                close_fds=True)
        except OSError as e:  # this user may not run it: the next one
            error = e
            continue
        _python[:] = [python]
        return proc
    raise error


class _Helper:
    """One helper process with one set of ids, asked one path at a time."""

    def __init__(self, ids: Ids) -> None:
        uid, gid, groups = ids
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = _spawn(theirs.fileno(), uid, gid, groups)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.sock = ours
        self.lock = threading.Lock()
        self.used = time.monotonic()
        self.closed = False  # found dead or hung, or let go: replaced at the next open

    def open(self, path: str, reader: Reader) -> tuple[int, os.stat_result]:
        if not self.lock.acquire(timeout=safefile.CHILD_TIMEOUT):
            raise ChildUnavailable("the user's helper is busy")
        try:
            self.used = time.monotonic()
            try:
                self.sock.settimeout(safefile.CHILD_TIMEOUT)
                self.sock.send(os.fsencode(path))
                msg, fds, _flags, _addr = socket.recv_fds(self.sock, 64, 1)
            except OSError:  # no answer in time (a hung file system): the helper goes
                self.close()
                raise ChildUnavailable("the user's helper did not answer") from None
            if not msg and not fds:
                self.close()
                raise ChildUnavailable("the user's helper has ended")
            return safefile.answer(path, reader, msg, fds)
        finally:
            self.lock.release()

    def close(self) -> None:
        """Its socket closed, the helper reads end of file and leaves; a stuck one is killed."""
        self.closed = True
        self.sock.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(0.5)
            return
        with contextlib.suppress(OSError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(1.0)


class Helpers:
    """The kept helpers of one bailey --serve, by set of ids."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._helpers: dict[Ids, _Helper] = {}
        self._closed = False

    def open(self, path: str, reader: Reader) -> tuple[int, os.stat_result] | None:
        """``path`` opened with ``reader``'s ids; None when no helper can start (then a
        forked child does it).  Raises what safefile's child would, and ChildUnavailable
        when the helper hangs or dies."""
        gid = reader.child_gid
        if reader.uid is None or gid is None:
            return None
        ids: Ids = (reader.uid, gid, tuple(sorted(reader.gids)))
        helper = self._helper(ids)
        return None if helper is None else helper.open(path, reader)

    def _helper(self, ids: Ids) -> _Helper | None:
        gone: list[_Helper] = []
        try:
            with self._lock:
                if self._closed:
                    return None
                now = time.monotonic()
                for key, h in list(self._helpers.items()):  # no system call per helper
                    if h.closed or (key != ids and now - h.used > IDLE):
                        gone.append(self._helpers.pop(key))
                helper = self._helpers.get(ids)
                if helper is not None and helper.proc.poll() is not None:  # killed since
                    gone.append(self._helpers.pop(ids))
                    helper = None
                if helper is None:
                    if len(self._helpers) >= MAX_HELPERS:
                        oldest = min(self._helpers, key=lambda k: self._helpers[k].used)
                        gone.append(self._helpers.pop(oldest))
                    try:
                        helper = self._helpers[ids] = _Helper(ids)
                    except (OSError, subprocess.SubprocessError):
                        return None
                return helper
        finally:
            for h in gone:
                h.close()

    def __len__(self) -> int:
        return len(self._helpers)

    def pids(self) -> list[int]:
        with self._lock:
            return [h.proc.pid for h in self._helpers.values()]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            helpers, self._helpers = list(self._helpers.values()), {}
        for h in helpers:
            h.close()


@contextlib.contextmanager
def kept():
    """Files opened as a circus user go through kept helpers while inside."""
    helpers = Helpers()
    previous = safefile.use_helpers(helpers)
    try:
        yield helpers
    finally:
        safefile.use_helpers(previous)
        helpers.close()
