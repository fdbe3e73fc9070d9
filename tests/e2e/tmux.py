"""A real terminal for the end-to-end tests: one tmux server per use, one window.

Keys go in with ``send-keys``; the screen comes back with ``capture-pane``.
A program redraws its screen in pieces, so a capture may catch it half drawn:
never read a screen once and assert on it, wait (``wait``) for a screen on
which the whole condition holds, and fail with the last screen seen.
"""

from __future__ import annotations

import itertools
import os
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

WAIT = 30.0  # default deadline for a screen: generous, a loaded 2-core machine is slow
_SERVERS = itertools.count()  # never reuse a socket whose server may still be shutting down


class Tmux:
    """One tmux server on its own socket, holding one window ``w``."""

    def __init__(self, label: str = "test") -> None:
        self.sock = f"barnum-{label}-{os.getpid()}-{next(_SERVERS)}"

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.sock, *args], capture_output=True,
                              text=True, timeout=60)

    def start(self, command: str, width: int = 150, height: int = 50) -> None:
        p = self.run("new-session", "-d", "-s", "w", "-x", str(width), "-y", str(height),
                     command)
        assert p.returncode == 0, f"tmux new-session: {p.stderr}"

    def start_then_record_exit(self, argv: list[str], done: Path, env: str = "",
                               width: int = 150, height: int = 50) -> None:
        """Run ``argv``; its exit status goes to ``done``; the window stays open after."""
        self.start(f"{env} {shlex.join(argv)}; echo $? > {shlex.quote(str(done))}; sleep 300",
                   width, height)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "w", *keys)

    def type(self, text: str) -> None:
        """``text`` as literal characters (no key names)."""
        self.run("send-keys", "-t", "w", "-l", text)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "w").stdout

    def wait(self, pred: Callable[[str], object], within: float = WAIT, what: str = "") -> str:
        """The first screen on which ``pred`` holds; fails with the last one.

        A predicate that cannot parse a half-drawn screen (IndexError, ValueError,
        StopIteration, KeyError) counts as "not yet".
        """
        deadline = time.monotonic() + within
        while True:
            screen = self.screen()
            try:
                if pred(screen):
                    return screen
            except (IndexError, ValueError, StopIteration, KeyError):
                pass
            if time.monotonic() >= deadline:
                raise AssertionError(f"screen never showed {what or 'the condition'} "
                                     f"within {within:.0f} s; last screen:\n{screen}")
            time.sleep(0.1)

    def exit_status(self, done: Path, within: float = WAIT) -> int:
        """The status the program wrote to ``done`` on exit; fails with the last screen."""
        deadline = time.monotonic() + within
        while not done.exists() or not done.read_text().strip():
            if time.monotonic() >= deadline:
                raise AssertionError(f"the program did not exit within {within:.0f} s; "
                                     f"last screen:\n{self.screen()}")
            time.sleep(0.1)
        return int(done.read_text())

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True)


def lines_of(screen: str) -> list[str]:
    """The screen's non-blank lines."""
    return [ln for ln in screen.splitlines() if ln.strip()]


def last_index(lines: list[str], pred: Callable[[str], bool]) -> int:
    """Index of the last line for which ``pred`` holds, -1 if none."""
    return max((i for i, ln in enumerate(lines) if pred(ln)), default=-1)


@pytest.fixture
def tmux():
    """A fresh tmux server for one test, killed after it."""
    servers: list[Tmux] = []

    def new(label: str = "test") -> Tmux:
        servers.append(Tmux(label))
        return servers[-1]

    yield new
    for t in servers:
        t.kill()
