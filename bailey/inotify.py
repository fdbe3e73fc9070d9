"""Linux inotify through ctypes: to hear systemd change state without polling it.

systemd writes ``/run/systemd/units/invocation:<unit>`` when a unit starts
and removes it when it stops, and enabling or disabling a unit changes
symlinks under ``/etc/systemd/system``.  Watching those folders costs one
file descriptor and no CPU while nothing happens.  Where inotify is missing,
:func:`open_watch` returns None and the caller falls back to a slow poll.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select

IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
MASK = IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE \
    | IN_DELETE_SELF | IN_MOVE_SELF  # the watched folder itself going: a change too
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC


class Watch:
    """An inotify descriptor watching some folders; :meth:`wait` says whether any changed."""

    def __init__(self, fd: int, lib) -> None:
        self.fd = fd
        self._lib = lib

    def add(self, path: str) -> bool:
        return self._lib.inotify_add_watch(self.fd, os.fsencode(path), MASK) >= 0

    def wait(self, timeout: float) -> bool:
        """True when something changed within ``timeout`` seconds (events are drained)."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass
        return True

    def close(self) -> None:
        os.close(self.fd)


def open_watch(paths: list[str], every: bool = False) -> Watch | None:
    """A Watch on the existing ``paths``, or None where inotify is not available (or,
    with ``every``, where one of them cannot be watched)."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        lib = ctypes.CDLL(name, use_errno=True)
        fd = lib.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
    except (OSError, AttributeError):
        return None
    if fd < 0:
        return None
    w = Watch(fd, lib)
    added = [w.add(p) for p in paths if os.path.isdir(p)]  # each one: never any()'s first
    if not any(added) or (every and not all(added)):
        w.close()
        return None
    return w
