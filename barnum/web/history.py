"""What the page learns from events over time: per-watcher timeline, flapping, sparklines.

Fed by the app's hub from session events (circus ``spawn``/``reap``) and from
the periodic stats; read by the view model.  Bounded everywhere: a flood of
events costs a fixed amount of memory.  Thread-safe (the hub writes, request
handlers read).
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
SAMPLES_MAX = 60  # sparkline points (at one stats poll every few seconds: minutes)

Key = tuple[str, str, str]  # host, user, watcher


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


class History:
    """Bounded memory of reap/spawn moments, flapping and cpu/mem samples."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.timeline: dict[Key, collections.deque[Moment]] = {}
        self.flapped: dict[Key, float] = {}
        self.samples: dict[Key, collections.deque[tuple[float, float, float]]] = {}

    def note_circus(self, host: str, data: dict[str, Any], t: float) -> None:
        """A session ``circus`` event (its fields already cleaned)."""
        action, watcher, user = data.get("action"), data.get("watcher"), data.get("user")
        if action not in ("spawn", "reap") or not isinstance(watcher, str):
            return
        inner = d if isinstance(d := data.get("data"), dict) else {}
        when = _when(inner.get("time"), t)
        pid = _int(inner.get("process_pid", inner.get("pid")))
        m = Moment(when, action, pid, _int(inner.get("exit_code")) if action == "reap" else None)
        key = (host, clean(user or "?"), watcher)
        with self.lock:
            q = self.timeline.setdefault(key, collections.deque(maxlen=TIMELINE_MAX))
            q.append(m)
            if action == "reap" and self._exits_within(q, when, FLAP_WINDOW) >= FLAP_EXITS:
                self.flapped[key] = when

    @staticmethod
    def _exits_within(q, now: float, window: float) -> int:
        return sum(1 for m in q if m.action == "reap" and now - m.t < window)

    def note_stats(self, host: str, result: Any, t: float) -> None:
        """One host's ``stats`` result: a cpu/mem sample per watcher."""
        if not isinstance(result, dict):
            return
        with self.lock:
            for inst in result.get("instances", []) or []:
                for w in inst.get("watchers", []) or []:
                    procs = w.get("processes") or []
                    cpu = sum(p.get("cpu") or 0.0 for p in procs)
                    mem = sum(p.get("mem") or 0.0 for p in procs)
                    key = (host, clean(inst.get("user") or "?"), clean(w.get("name")))
                    q = self.samples.setdefault(key, collections.deque(maxlen=SAMPLES_MAX))
                    q.append((t, float(cpu), float(mem)))

    def flapping(self, key: Key, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self.lock:
            return self._exits_within(self.timeline.get(key, ()), now, FLAP_WINDOW) >= FLAP_EXITS

    def flapped_recently(self, key: Key, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self.lock:
            return now - self.flapped.get(key, -1e18) < FLAPPED_MEMORY

    def moments(self, key: Key) -> list[Moment]:
        with self.lock:
            return list(self.timeline.get(key, ()))

    def series(self, key: Key) -> list[tuple[float, float, float]]:
        with self.lock:
            return list(self.samples.get(key, ()))
