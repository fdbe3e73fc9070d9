"""``barnum web``'s record: its session's events and its actions into the history store,
and its timeline and flapping marks seeded from the store (so they survive a restart)."""

from __future__ import annotations

import time
from typing import Any

from barnum.history.recorder import Recorder
from barnum.history.store import HistoryStore
from barnum.live.flapping import FLAPPED_MEMORY


def attach(web: Any, store: HistoryStore) -> Recorder:
    """Seed the page's history from the store, then record; close the Recorder at exit."""
    seed(web.hub.history, store)
    rec = Recorder(web.session, store)
    web.audit.listeners.append(rec.action)
    return rec.start()


def seed(history: Any, store: HistoryStore, now: float | None = None) -> int:
    """The last hour's spawns and exits, as the hub would have noted them live."""
    now = time.time() if now is None else now
    rows = store.query(since=now - FLAPPED_MEMORY, kinds=["circus"])
    n = 0
    for r in rows:
        if r.action not in ("spawn", "reap"):
            continue
        history.note_circus(r.host, {"action": r.action, "watcher": r.watcher,
                                     "user": r.user, "data": {**r.detail, "time": r.t}}, r.t)
        n += 1
    return n
