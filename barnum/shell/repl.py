"""The terminal side of ``barnum shell``: prompt_toolkit, history, live events.

Why prompt_toolkit rather than ``cmd`` + ``readline``: readline cannot
print while a line is being edited without garbling it (there is no safe
way to redraw its line from another thread), and its completion knows only
words split on its own delimiters.  prompt_toolkit owns the line: while the
prompt is up, ``patch_stdout`` replaces sys.stdout with a proxy that hands
each written line to the running application, which erases the prompt,
prints the line above it and redraws the prompt with the text typed so far
and the cursor where they were (``run_in_terminal``).  Events that arrive
while a command runs are held and printed after its answer.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from barnum import EXIT_OK
from barnum.shell.complete import Names, complete

if TYPE_CHECKING:
    from barnum.live.session import FleetSession, Subscription
    from barnum.shell.runner import Shell


def history_path() -> Path:
    """``$XDG_STATE_HOME/barnum/shell_history`` (default ``~/.local/state``)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"),
                                                            ".local", "state")
    return Path(base) / "barnum" / "shell_history"


def names_from(shell: Shell) -> Names:
    """The live names for completion: asked of the session at each completion."""
    s: FleetSession = shell.session
    watchers: set[str] = set()
    for ws in s.watchers().values():
        watchers |= ws
    return Names(hosts=list(s.hosts), users=shell.hosts_map(), watchers=watchers,
                 groups=list(shell.groups))


def _history(shell: Shell):
    """The history file (created 0600 in a 0700 folder), or, where it cannot be
    written, history for this run only, with a warning."""
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    except OSError as e:
        shell.err(f"warning: history not kept across runs: {path}: {e.strerror}")
        return InMemoryHistory()
    return FileHistory(str(path))


class EventFeed(threading.Thread):
    """Session events as lines: printed above the prompt, or held during a command."""

    def __init__(self, shell: Shell, sub: Subscription, color: bool) -> None:
        super().__init__(daemon=True, name="shell-events")
        self.shell = shell
        self.sub = sub
        self.color = color
        self.lock = threading.Lock()
        self.prompting = False
        self.held: list[str] = []

    def run(self) -> None:
        for ev in self.sub:
            line = self.shell.view.line(ev)
            if line is None:
                continue
            with self.lock:
                if self.prompting:
                    self._write(line)
                else:
                    self.held.append(line)

    def _write(self, line: str) -> None:
        text = f"\x1b[33m{line}\x1b[0m" if self.color else line
        sys.stdout.write(text + "\n")  # the prompt's proxy while prompting
        sys.stdout.flush()

    @contextlib.contextmanager
    def prompting_now(self):
        with self.lock:
            for line in self.held:
                self._write(line)
            self.held.clear()
            self.prompting = True
        try:
            yield
        finally:
            with self.lock:
                self.prompting = False


def interactive(shell: Shell) -> int:
    """Prompt, run, repeat; Ctrl-C clears the line or cancels a command, Ctrl-D leaves."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import Completer, Completion
    from prompt_toolkit.patch_stdout import patch_stdout

    class ShellCompleter(Completer):
        def get_completions(self, document, complete_event):
            for c in complete(document.text_before_cursor, names_from(shell)):
                yield Completion(c.text, start_position=-c.replace, display=c.display)

    prompt: PromptSession[str] = PromptSession(
        history=_history(shell), completer=ShellCompleter(), complete_while_typing=False)
    color = not os.environ.get("NO_COLOR")
    sub = shell.session.subscribe()
    feed = EventFeed(shell, sub, color)
    feed.start()
    try:
        while not shell.leaving:
            try:
                with patch_stdout(raw=True), feed.prompting_now():
                    line = prompt.prompt(shell.prompt())
            except KeyboardInterrupt:
                continue
            except EOFError:
                break
            try:
                shell.run_text(line)
            except KeyboardInterrupt:
                shell.console.print("cancelled")
            except Exception as e:  # a bug in one command must not end the session
                shell.err(f"internal error: {type(e).__name__}: {e}")
    finally:
        sub.close()
    return shell.exit_code if shell.exit_code is not None else EXIT_OK
