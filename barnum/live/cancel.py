"""Giving up a wait on hosts once its caller has left.

A front end whose caller can go away in the middle of a request (a warm call
whose client got Ctrl-C) binds an Event to its thread.  FleetSession's waits
on hosts then end with KeyboardInterrupt as soon as it is set, where a cold
call's Ctrl-C would end them.  The requests themselves run out on their own
threads and their answers go unread, as a cold call abandons them.  Without a
bound Event a wait is a plain wait: the web page, the shell and watch are
unchanged.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar

POLL = 0.05  # seconds between looks at a bound Event while waiting

_CANCEL: ContextVar[threading.Event | None] = ContextVar("barnum_cancel", default=None)


@contextlib.contextmanager
def bound(event: threading.Event) -> Iterator[None]:
    """Waits on hosts made on this thread give up once ``event`` is set."""
    token = _CANCEL.set(event)
    try:
        yield
    finally:
        _CANCEL.reset(token)


def check() -> None:
    """KeyboardInterrupt when this thread's caller has left."""
    event = _CANCEL.get()
    if event is not None and event.is_set():
        raise KeyboardInterrupt


def wait(done: threading.Event, timeout: float) -> bool:
    """``done.wait(timeout)``, ended by KeyboardInterrupt once this thread's caller has
    left (then polled every POLL seconds; no poll without a bound Event)."""
    if _CANCEL.get() is None:
        return done.wait(timeout)
    deadline = time.monotonic() + timeout
    while True:
        check()
        left = deadline - time.monotonic()
        if left <= 0:
            return done.is_set()
        if done.wait(min(POLL, left)):
            return True
