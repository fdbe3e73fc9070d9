"""What the page learns from events over time: per-watcher timeline, flapping, sparklines.

Flapping and the timeline are the session's one detector (barnum.live.flapping),
shared with watch, the shell and /metrics; the sparklines are the page's own.

Fed by the app's hub from session events (circus ``spawn``/``reap``) and from
the periodic stats; read by the view model.  Bounded everywhere: a flood of
events costs a fixed amount of memory.  Thread-safe (the hub writes, request
handlers read).
"""

from __future__ import annotations

import collections
import threading
from typing import Any

from barnum.live.flapping import Flapping, Key, Moment
from barnum.text.sanitize import clean

SAMPLES_MAX = 60  # sparkline points (at one stats poll every few seconds: minutes)


class History:
    """Bounded memory of reap/spawn moments, flapping and cpu/mem samples."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.flaps = Flapping()
        self.samples: dict[Key, collections.deque[tuple[float, float, float]]] = {}

    def note_circus(self, host: str, data: dict[str, Any], t: float) -> None:
        """A session ``circus`` event (its fields already cleaned, its watcher named)."""
        self.flaps.note(host, data, t)

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
        return self.flaps.flapping(key, now)

    def flapped_recently(self, key: Key, now: float | None = None) -> bool:
        return self.flaps.flapped_recently(key, now)

    def moments(self, key: Key) -> list[Moment]:
        return self.flaps.moments(key)

    def series(self, key: Key) -> list[tuple[float, float, float]]:
        with self.lock:
            return list(self.samples.get(key, ()))
