"""The server's one reader of the session: events in, per-host change counters out.

A thread turns session events into :class:`History` entries and bumps the
version of the host they concern; another keeps a ``stats`` result per host
(every STATS_EVERY seconds, and soon after a host's watchers changed).  Each
page's event stream compares versions and sends what changed, coalesced per
host (see ``app.py``).  Nothing here blocks a request handler.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from barnum.model.linkstate import LinkState
from barnum.spec.expect import check_session
from barnum.web import model
from barnum.web.history import History

STATS_EVERY = 5.0
STATS_SOON = 0.5  # after a circus event, the host's stats again this soon
KINDS = {"host", "unit", "circus", "instance", "resync", "gap", "restart", "rejected", "dropped",
         "end"}
REFOLLOW_MAX = 3  # a journal that ends by itself is followed again this many times...
REFOLLOW_WINDOW = 60.0  # ...within this many seconds; then its pages are told it ended


class Hub:
    def __init__(self, session: Any, stats_every: float = STATS_EVERY) -> None:
        self.session = session
        self.history = History()
        self.stats: dict[str, Any] = {}
        self.stats_every = stats_every
        self.lock = threading.Lock()
        self.versions: dict[str, int] = dict.fromkeys(session.hosts, 1)
        self.closing = threading.Event()
        self._due: dict[str, float] = {}
        self._sub: Any = None  # the session's Subscription, from start()
        self._threads: list[threading.Thread] = []
        # (host, unit) -> [pages following it, bailey's (connection, request id) or None]
        self._follows: dict[tuple[str, str], list[Any]] = {}
        self._follow_lock = threading.Lock()  # one (re)start or cancel at a time
        self._waiters: set[tuple[Any, Any]] = set()  # (event loop, asyncio.Event)
        self._refollowed: dict[tuple[str, str], list[float]] = {}  # when, per (host, unit)
        self._ended: dict[tuple[str, str], str] = {}  # given up: why (its pages are told)

    def start(self) -> Hub:
        self._sub = self.session.subscribe(kinds=set(KINDS))
        for target in (self._events, self._stats_loop):
            t = threading.Thread(target=target, daemon=True, name=f"hub-{target.__name__}")
            t.start()
            self._threads.append(t)
        return self

    def close(self) -> None:
        self.closing.set()
        if self._sub is not None:
            self._sub.close()
        for t in self._threads:
            t.join(timeout=3)

    # -- what the pages read --------------------------------------------------------------

    def snapshot_versions(self) -> dict[str, int]:
        with self.lock:
            return dict(self.versions)

    def view(self, flt: model.Filter, now: float | None = None) -> model.FleetView:
        with self.lock:
            stats = dict(self.stats)
        return model.build(self.session.host_states(), stats, self.history, flt,
                           time.time() if now is None else now, self.check())

    def check(self) -> Any:
        """``barnum check``'s comparison over the session (None: the users file expects
        nothing), so the page, /metrics and the CLI agree by construction."""
        config = getattr(self.session, "config", None)
        if not getattr(config, "expect", None):
            return None
        return check_session(self.session)

    def whole(self) -> model.Filter:
        return model.Filter({h: [] for h in self.session.hosts})

    def bump(self, host: str) -> None:
        with self.lock:
            self.versions[host] = self.versions.get(host, 0) + 1
            waiters = list(self._waiters)
        for loop, event in waiters:  # wake the event streams now, not at their next tick
            with contextlib.suppress(RuntimeError):  # that loop is closed
                loop.call_soon_threadsafe(event.set)

    def waiter(self, loop: Any, event: Any) -> None:
        with self.lock:
            self._waiters.add((loop, event))

    def unwait(self, loop: Any, event: Any) -> None:
        with self.lock:
            self._waiters.discard((loop, event))

    # -- the threads ----------------------------------------------------------------------

    def _events(self) -> None:
        for ev in self._sub:
            if self.closing.is_set():
                return
            self.note(ev)

    def note(self, ev: Any) -> None:
        """One session event into the history, the stats schedule and the versions."""
        if ev.kind == "circus":
            self.history.note_circus(ev.host, ev.data, ev.t)  # named by the session
            with self.lock:
                self._due.setdefault(ev.host, time.time() + STATS_SOON)
        elif ev.kind in ("resync", "instance", "unit"):
            with self.lock:
                self._due.setdefault(ev.host, time.time() + STATS_SOON)
        elif ev.kind == "host" and ev.data.get("state") == LinkState.UP:
            threading.Thread(target=self._refollow, args=(ev.host,), daemon=True,
                             name="hub-refollow").start()
        elif ev.kind == "end":  # a followed journal's stream ended (the subscription's own: "")
            if ev.data.get("stream") == "logs" and ev.host in self.versions:
                threading.Thread(target=self._journal_ended, daemon=True, name="hub-ended",
                                 args=(ev.host, ev.data.get("unit"), ev.data.get("sub"),
                                       ev.data.get("reason"))).start()
            return
        elif ev.kind == "dropped":  # this reader fell behind: any host may have changed
            for h in self.session.hosts:
                self.bump(h)
            return
        if ev.host in self.versions:
            self.bump(ev.host)

    def poll_stats(self, hosts: list[str] | None = None) -> None:
        result = self.session.stats(hosts)
        now = time.time()
        for host, value in result.items():
            with self.lock:
                old = self.stats.get(host)
                self.stats[host] = value
            self.history.note_stats(host, value, now)
            if _figures(host, value) != _figures(host, old):  # not every process's age
                self.bump(host)

    def _stats_loop(self) -> None:
        last_full = 0.0
        while not self.closing.wait(0.1):
            now = time.time()
            with contextlib.suppress(Exception):
                if now - last_full >= self.stats_every:
                    last_full = now
                    with self.lock:
                        self._due.clear()
                    self.poll_stats()
                    continue
                with self.lock:
                    due = [h for h, t in self._due.items() if t <= now]
                    for h in due:
                        del self._due[h]
                if due:
                    self.poll_stats(due)

    # -- logs -----------------------------------------------------------------------------

    def follow(self, host: str, unit: str) -> None:
        """One ``journalctl -f`` per (host, unit) for all the pages that show it."""
        with self._follow_lock:
            entry = self._follows.setdefault((host, unit), [0, None])
            entry[0] += 1
            if self._ended.pop((host, unit), None) is not None:
                self._refollowed.pop((host, unit), None)  # a new page: a fresh start
            try:
                self._ensure(host, unit, entry)
            except Exception:
                entry[0] -= 1
                if entry[0] <= 0:
                    del self._follows[(host, unit)]
                raise

    def unfollow(self, host: str, unit: str) -> None:
        """A page stopped showing it; the last one out cancels bailey's follow."""
        with self._follow_lock:
            entry = self._follows.get((host, unit))
            if entry is None:
                return
            entry[0] -= 1
            if entry[0] > 0:
                return
            del self._follows[(host, unit)]
            self._ended.pop((host, unit), None)
            self._refollowed.pop((host, unit), None)
            if entry[1] is not None:
                with contextlib.suppress(Exception):  # a lost connection cancelled it already
                    self.session.cancel_on(host, entry[1])

    def following(self) -> dict[tuple[str, str], int]:
        with self._follow_lock:
            return {k: v[0] for k, v in self._follows.items()}

    def ended(self, host: str, unit: str) -> str | None:
        """Why the journal's follow ended for good (its pages end their streams), or None."""
        with self._follow_lock:
            return self._ended.get((host, unit))

    def _journal_ended(self, host: str, unit: Any, sub: Any, reason: Any) -> None:
        """bailey's follow of a journal ended by itself (journalctl exited): followed
        again at once, REFOLLOW_MAX times within REFOLLOW_WINDOW, then given up and its
        pages told.  One lost with its connection is left to ``_refollow`` (the host's
        next "up"), and one cancelled was the last page's."""
        if reason != "ended":  # bailey.protocol END_ENDED
            return
        with self._follow_lock:
            entry = self._follows.get((host, unit))
            if entry is None or entry[0] <= 0 or entry[1] is None or entry[1][1] != sub \
                    or entry[1][0] is not self.session.connection_of(host):
                return  # an older follow than the one kept
            entry[1] = None
            now = time.monotonic()
            times = [t for t in self._refollowed.get((host, unit), [])
                     if now - t < REFOLLOW_WINDOW]
            if len(times) >= REFOLLOW_MAX:
                self._ended[(host, unit)] = (f"the journal ended {len(times) + 1} times "
                                             f"within {REFOLLOW_WINDOW:g} s")
                return
            self._refollowed[(host, unit)] = [*times, now]
            try:
                self._ensure(host, unit, entry)
            except Exception as e:
                self._ended[(host, unit)] = f"it could not be followed again: {e}"

    def _ensure(self, host: str, unit: str, entry: list[Any]) -> None:
        """Start bailey's follow unless one lives on the host's current connection."""
        if entry[1] is not None and entry[1][0] is self.session.connection_of(host):
            return
        entry[1] = None
        entry[1] = self.session.follow_unit(host, unit, 0)

    def _refollow(self, host: str) -> None:
        """After a reconnect, bailey is a new process: follow again what pages still show."""
        with self._follow_lock:
            for (h, unit), entry in list(self._follows.items()):
                if h == host and entry[0] > 0:
                    with contextlib.suppress(Exception):  # the next "up" tries again
                        self._ensure(h, unit, entry)


def _figures(host: str, value: Any) -> dict:
    return model.stats_index({host: value}) if isinstance(value, dict) else {"error": value}
