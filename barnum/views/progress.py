"""The transient progress line: which hosts a one-shot run still waits for.

Only on a terminal (stderr a tty), only once the run has taken more than
``DELAY`` seconds, and erased before anything else is written: a quick run
never shows it, and nothing of it reaches a pipe or a file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TextIO

DELAY = 1.0  # seconds before the line appears
SHOWN = 3  # slowest pending hosts named
CLEAR = "\r\x1b[2K"


def progress_text(done: int, total: int, pending: list[tuple[str, float]],
                  width: int) -> str:
    """Pure: ``12/96 hosts done; waiting for host7 4.1s, host3 3.9s, +82``, fit to ``width``.

    ``pending``: (host, seconds since its work started), any order.
    """
    from barnum.text.plural import count
    from barnum.text.sanitize import clean

    slow = sorted(pending, key=lambda p: -p[1])
    names = [f"{clean(h)} {s:.1f}s" for h, s in slow[:SHOWN]]
    text = f"{done}/{count(total, 'host')} done"
    if names:
        more = len(slow) - len(names)
        text += "; waiting for " + ", ".join(names) + (f", +{more}" if more > 0 else "")
    width = max(10, width - 1)  # never the last column: no wrap, no scroll
    return text if len(text) <= width else text[: width - 1] + "…"


class ProgressLine:
    """Draws the line on ``stream``; ``lock`` is the one its other writers hold."""

    def __init__(self, stream: TextIO, total: int, lock, clock: Callable[[], float] =
                 time.monotonic) -> None:
        self.stream = stream
        self.total = total
        self.lock = lock
        self.clock = clock
        self.start = clock()
        self.shown = False

    @staticmethod
    def wanted(stream: TextIO) -> bool:
        """Only for a person looking at a terminal."""
        try:
            return stream.isatty()
        except (AttributeError, ValueError):
            return False

    def update(self, done: int, pending: list[tuple[str, float]]) -> None:
        if not pending or self.clock() - self.start < DELAY:
            return
        try:
            width = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            width = 80
        with self.lock:
            self.stream.write(CLEAR + progress_text(done, self.total, pending, width))
            self.stream.flush()
            self.shown = True

    def erase(self) -> None:
        """Before another line is written (caller holds ``lock``), and at the end."""
        if self.shown:
            self.stream.write(CLEAR)
            self.stream.flush()
            self.shown = False
