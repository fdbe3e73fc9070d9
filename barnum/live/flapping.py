"""Which watchers flap: the one detector behind watch, the web page, the shell and /metrics.

Fed with the session's ``circus`` events (``spawn``/``reap``), whose watcher
the session already names as ``status`` does (barnum.live.state
.with_status_name), so a front end looks a watcher up by the name it shows.
A watcher flaps when it exited FLAP_EXITS times within FLAP_WINDOW seconds.
Bounded (TIMELINE_MAX moments per watcher) and thread-safe: one writer, many
readers.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import Any

from barnum.text.sanitize import clean

FLAP_WINDOW = 60.0  # seconds
FLAP_EXITS = 3  # exits of one watcher within the window: flapping
FLAPPED_MEMORY = 3600.0  # "flapped in the last hour"
SKEW_MAX = 300.0  # circus's own event time is believed only this close to the receive time
TIMELINE_MAX = 50

Key = tuple[str, str, str]  # host, user ("?" when unknown), watcher


@dataclass(frozen=True)
class Moment:
    """One spawn or exit of a process of a watcher (from circus's events)."""

    t: float
    action: str  # spawn | reap
    pid: int | None
    exit_code: int | None = None

    @property
    def signal(self) -> int | None:
        """circus reports a process killed by signal N as exit code -N."""
        return -self.exit_code if self.exit_code is not None and self.exit_code < 0 else None

    def describe(self) -> str:
        if self.action == "spawn":
            return f"spawned pid {self.pid}"
        if self.signal is not None:
            return f"pid {self.pid} killed by signal {self.signal}"
        return f"pid {self.pid} exited with code {self.exit_code}"


def key_of(host: str, data: dict[str, Any]) -> Key | None:
    """(host, user, watcher) of a ``circus`` event's data, or None without a watcher."""
    watcher = data.get("watcher")
    if not isinstance(watcher, str):
        return None
    user = data.get("user")
    return host, clean(user if isinstance(user, str) and user else "?"), clean(watcher)


def moment_of(data: dict[str, Any], received: float) -> Moment | None:
    """The spawn or exit a ``circus`` event's data tells, or None for another action."""
    action = data.get("action")
    if action not in ("spawn", "reap"):
        return None
    inner = d if isinstance(d := data.get("data"), dict) else {}
    pid = _int(inner.get("process_pid", inner.get("pid")))
    code = _int(inner.get("exit_code")) if action == "reap" else None
    return Moment(_when(inner.get("time"), received), action, pid, code)


class Flapping:
    """Bounded memory of each watcher's spawns and exits, and when it last flapped."""

    def __init__(self, window: float = FLAP_WINDOW, exits: int = FLAP_EXITS) -> None:
        self.window, self.exits = window, exits
        self.lock = threading.Lock()
        self.timeline: dict[Key, collections.deque[Moment]] = {}
        self.flapped: dict[Key, float] = {}

    def note(self, host: str, data: dict[str, Any], t: float) -> bool:
        """One ``circus`` event's data (received at ``t``); True when this exit is the
        one that made the watcher flap (said once per bout, not at every exit)."""
        key, m = key_of(host, data), moment_of(data, t)
        if key is None or m is None:
            return False
        with self.lock:
            q = self.timeline.setdefault(key, collections.deque(maxlen=TIMELINE_MAX))
            before = self._exits_within(q, m.t)
            q.append(m)
            if m.action != "reap" or before + 1 < self.exits:
                return False
            self.flapped[key] = m.t
            return before + 1 == self.exits

    def note_event(self, ev: Any) -> bool:
        """A session event (any kind: only ``circus`` ones count)."""
        return ev.kind == "circus" and self.note(ev.host, ev.data, ev.t)

    def flapping(self, key: Key, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self.lock:
            return self._exits_within(self.timeline.get(key, ()), now) >= self.exits

    def flapped_recently(self, key: Key, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self.lock:
            return now - self.flapped.get(key, -1e18) < FLAPPED_MEMORY

    def moments(self, key: Key) -> list[Moment]:
        with self.lock:
            return list(self.timeline.get(key, ()))

    def _exits_within(self, q: Any, now: float) -> int:
        return sum(1 for m in q if m.action == "reap" and now - m.t < self.window)


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _when(stamp: Any, received: float) -> float:
    """circus's time of the event (more exact), unless missing or far from when the
    session got it: a host's clock never moves a moment out of order or out of range."""
    try:
        if isinstance(stamp, int | float) and not isinstance(stamp, bool) \
                and abs(float(stamp) - received) <= SKEW_MAX:
            return float(stamp)
    except OverflowError:
        pass
    return received


__all__ = ["FLAP_EXITS", "FLAP_WINDOW", "Flapping", "Key", "Moment", "key_of", "moment_of"]
