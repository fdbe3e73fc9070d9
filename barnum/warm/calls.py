"""What one warm call has to itself while others run in the same session process.

The command-line code writes to ``sys.stdout``/``sys.stderr`` and reads its
rendering environment (``COLUMNS``, ``NO_COLOR``, ``BARNUM_CONFIG``...) from
``os.environ``.  Swapping those for each call would let one call print into
another's answer, so they are replaced once, in the session process, by
stand-ins that look up the call running on the current thread (:func:`current`):
its output (a :class:`~barnum.warm.runner.Capture`) and the client's values for
``ENV_KEYS``.  A thread that is no call's (the session's own) sees the process's
real streams and environment, as before.

The working folder cannot be per thread: :class:`Folders` lets calls from one
folder run together and answers cold a call from another folder while any runs.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from barnum.live import cancel
from barnum.warm.protocol import ENV_KEYS

_LOCAL = threading.local()
_INSTALL = threading.Lock()


@dataclass
class Call:
    """One warm call's own: its output streams, its environment, anything its seams keep."""

    stdout: Any = None
    stderr: Any = None
    env: dict[str, str] = field(default_factory=dict)  # the client's values of ENV_KEYS
    data: dict[str, Any] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)  # the client left


def current() -> Call | None:
    """The call the current thread runs, if any."""
    return getattr(_LOCAL, "call", None)


@contextlib.contextmanager
def running(call: Call) -> Iterator[Call]:
    """Run the current thread as ``call`` (the stand-ins must be :func:`install`-ed)."""
    saved = current()
    _LOCAL.call = call
    try:
        with cancel.bound(call.cancel):  # its waits on hosts end when its client leaves
            yield call
    finally:
        _LOCAL.call = saved


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """Nothing written reaches the current call's output (or, outside a call, stdout and
    stderr) for a while; other calls' output is untouched."""
    c = current()
    if c is None:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(
                io.StringIO()):
            yield
        return
    saved = c.stdout, c.stderr
    c.stdout, c.stderr = io.StringIO(), io.StringIO()
    try:
        yield
    finally:
        c.stdout, c.stderr = saved


class _Stream(io.TextIOBase):
    """``sys.stdout`` or ``sys.stderr``: the current call's, else the process's own."""

    def __init__(self, name: str, real: TextIO) -> None:
        self._name, self.real = name, real

    def _target(self) -> Any:
        c = current()
        s = getattr(c, self._name, None) if c is not None else None
        return self.real if s is None else s

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(self._target().encoding)

    def write(self, s: str) -> int:
        return int(self._target().write(s))

    def flush(self) -> None:
        self._target().flush()

    def isatty(self) -> bool:
        return bool(self._target().isatty())

    def fileno(self) -> int:
        return int(self._target().fileno())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target(), name)


class _Environ(MutableMapping[str, str]):
    """``os.environ`` with the current call's values for ``ENV_KEYS`` (set or unset);
    everything else, and every other thread, is the process's environment."""

    def __init__(self, real: MutableMapping[str, str]) -> None:
        self.real = real

    def _own(self, key: str) -> dict[str, str] | None:
        c = current()
        return c.env if c is not None and key in ENV_KEYS else None

    def __getitem__(self, key: str) -> str:
        own = self._own(key)
        return self.real[key] if own is None else own[key]

    def __setitem__(self, key: str, value: str) -> None:
        own = self._own(key)
        if own is None:
            self.real[key] = value
        else:
            own[key] = value

    def __delitem__(self, key: str) -> None:
        own = self._own(key)
        if own is None:
            del self.real[key]
        else:
            del own[key]

    def _keys(self) -> list[str]:
        c = current()
        if c is None:
            return list(self.real)
        return [k for k in self.real if k not in ENV_KEYS] + list(c.env)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def copy(self) -> dict[str, str]:
        return dict(self.items())


def install() -> None:
    """Put the stand-ins in place, once per process (the session's)."""
    with _INSTALL:
        if not isinstance(sys.stdout, _Stream):
            sys.stdout = _Stream("stdout", sys.stdout)
        if not isinstance(sys.stderr, _Stream):
            sys.stderr = _Stream("stderr", sys.stderr)
        if not isinstance(os.environ, _Environ):
            os.environ = _Environ(os.environ)  # type: ignore[assignment]  # noqa: B003 (a view)


class Folders:
    """The process's working folder, shared by the calls that run: a call from the same
    folder joins them, one from another folder waits for none and is refused."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0

    @contextlib.contextmanager
    def inside(self, cwd: object) -> Iterator[bool]:
        """Yields False when the call cannot have its folder now (it should run cold)."""
        with self.lock:
            here = os.getcwd()
            if isinstance(cwd, str) and cwd != here:
                if self.running:
                    ok = False
                else:
                    try:
                        os.chdir(cwd)
                        ok = True
                    except OSError:
                        ok = False
            else:
                ok = True
            if ok:
                self.running += 1
        try:
            yield ok
        finally:
            if ok:
                with self.lock:
                    self.running -= 1
