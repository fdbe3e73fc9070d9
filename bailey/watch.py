"""The ``subscribe`` op: circusd and systemd changes pushed as events.

Feeds first (events held), then the snapshot, then the held events newer than it:
nothing missed, nothing applied twice.  systemd: inotify wakes one read of the
units, again soon while one moves, else every SAFETY_POLL s; a full snapshot every
RESYNC_EVERY s; each active circusd asked every PROBE_EVERY s (a hang is silent).
docs/bailey-serve.md tells the whole story.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from typing import Any, Protocol

from bailey.host import Options
from bailey.inotify import open_watch
from bailey.protocol import SAFETY_POLL  # systemd re-read with no inotify wake-up (default)
from bailey.pubsub import Subscriber
from bailey.report import Report
from bailey.units import SystemctlError, list_units


class Server(Protocol):
    """What a subscription needs of the serving loop (bailey.serve.Server is one)."""

    options: Options

    def emit(self, obj: dict[str, Any]) -> None: ...

    def respond(self, rid: Any, result: Any = None, error: str | None = None) -> None: ...

    def report(self, users: list[str] | None, args: list[str] | None = None,
               dry_run: bool = False) -> Report: ...

RESYNC_EVERY = 60.0  # full snapshot to heal lost events
SETTLE_FIRST = 0.25  # re-read this soon after a change...
SETTLE_MAX = 4.0  # ...doubling up to this while a unit stays in transition
TRANSITIONS = ("activating", "deactivating", "reloading")
SYSTEMD_DIRS = ["/run/systemd/units", "/etc/systemd/system", "/run/systemd/system"]
_UNIT_KEYS = ("active_state", "sub_state", "unit_file_state", "n_restarts", "main_pid")
HELD_MAX = 10000  # events held while the snapshot is taken
FEED_RETRY_MIN = 0.5  # seconds before a feed that ended is reconnected
FEED_RETRY_MAX = 30.0  # ...doubling up to this while its peer keeps breaking the protocol
PROBE_EVERY = 5.0  # seconds between two liveness calls to each active circusd


class Watcher:
    """One subscription: its feeds, its systemd watch, its optional stats timer."""

    def __init__(self, server: Server, rid: Any, stats_interval: float,
                 safety_poll: float = SAFETY_POLL) -> None:
        self.server = server
        self.rid = rid
        self.stats_interval = stats_interval
        self.safety_poll = safety_poll
        self.stopped = threading.Event()
        self.feeds: dict[str, Subscriber] = {}
        self.held: queue.Queue[dict[str, Any]] | None = queue.Queue(HELD_MAX)
        self.snapshot_t = 0.0
        self.lock = threading.Lock()
        # an instance is read and pushed under this lock: three threads (systemd, feeds,
        # probe) push instances, and an older read must never arrive after a newer one
        self.reading = threading.Lock()

    def stop(self) -> None:
        """Cancelled: the feeds close, and the subscription's last line is its ``end``
        event (written under the lock, so no event of it can follow)."""
        with self.lock:
            if self.stopped.is_set():
                return
            self.stopped.set()
            for sub in self.feeds.values():
                sub.close()
            self.feeds.clear()
            self.server.emit({"event": "end", "sub": self.rid, "reason": "cancelled"})

    def emit(self, event: dict[str, Any]) -> None:
        event = {**event, "sub": self.rid}
        with self.lock:
            if self.stopped.is_set():
                return  # after the end event: dropped
            held = self.held
            if held is None:
                self.server.emit(event)
                return
        with contextlib.suppress(queue.Full):  # the snapshot that follows covers it
            held.put_nowait(event)

    # -- start ----------------------------------------------------------------------------

    def start(self) -> None:
        plan = self.server.report(None, dry_run=True)
        for inst in plan.instances:
            if inst.pubsub_endpoint and inst.active_state in ("active", "reloading"):
                self._feed(inst.unit, inst.user, inst.pubsub_endpoint)
        time.sleep(0.05)  # let the SUB connections reach circusd before the snapshot
        self.snapshot_t = time.time()
        snap = self.server.report(None).to_dict()
        self.server.respond(self.rid, {"snapshot": snap})
        with self.lock:
            held, self.held = self.held, None
        while held is not None and not held.empty():
            ev = held.get_nowait()
            if _stamp(ev) >= self.snapshot_t:
                self.server.emit(ev)
        self._units = {u.name: u for u in _list(self.server)}
        threading.Thread(target=self._systemd_loop, daemon=True, name="systemd").start()
        ok = {i["unit"]: i["state"] != "error" for i in snap["instances"]}
        threading.Thread(target=self._probe_loop, args=(ok,), daemon=True).start()
        if self.stats_interval:
            threading.Thread(target=self._stats_loop, daemon=True, name="stats").start()

    # -- circusd --------------------------------------------------------------------------

    def _feed(self, unit: str, user: str | None, endpoint: str) -> None:
        with self.lock:
            if unit in self.feeds or self.stopped.is_set():
                return
            sub = Subscriber(endpoint)
            self.feeds[unit] = sub
        threading.Thread(target=self._feed_loop, args=(unit, user, sub), daemon=True,
                         name=f"feed-{unit}").start()

    def _feed_loop(self, unit: str, user: str | None, sub: Subscriber) -> None:
        first = True
        backoff = FEED_RETRY_MIN
        while not self.stopped.is_set():
            with self.lock:
                if self.feeds.get(unit) is not sub:
                    return
            try:
                sub.connect(timeout=2)
            except Exception:
                if self.stopped.wait(1.0):
                    return
                continue
            if not first:  # circusd came back: what it runs now
                self._instance(user)
            first = False
            for ev in sub.events():
                self.emit({"event": "circus", "unit": unit, "user": user,
                           "watcher": ev.watcher, "action": ev.action, "data": ev.data})
            # A peer that broke the protocol (a frame too large, a stall mid-frame)
            # is dropped and tried again later, less and less often.
            backoff = min(backoff * 2, FEED_RETRY_MAX) if sub.error else FEED_RETRY_MIN
            if self.stopped.wait(backoff):
                return
            sub = Subscriber(sub.endpoint)
            with self.lock:
                if self.feeds.get(unit) is None:
                    return
                self.feeds[unit] = sub

    def _drop_feed(self, unit: str) -> None:
        with self.lock:
            sub = self.feeds.pop(unit, None)
        if sub is not None:
            sub.close()

    def _instance(self, user: str | None) -> None:
        if not user:
            return
        with self.reading:
            rep = self.server.report([user])
            for inst in rep.to_dict()["instances"]:
                self.emit({"event": "instance", "instance": inst})

    def _probe_loop(self, ok: dict[str, bool]) -> None:
        """A hung circusd is silent: each active one is asked in turn; a change in
        whether it answers in time pushes its instance."""
        from bailey.zmtp import ZmtpTimeout, call

        key: list = []
        ends: list = []
        while not self.stopped.wait(PROBE_EVERY):
            run = sorted((n, u.main_pid) for n, u in self._units.items() if u.running)
            if run != key:  # the endpoints, read again only when the units change
                key = run
                ends = [i for i in self.server.report(None, dry_run=True).instances
                        if i.endpoint and i.unit in dict(run)]
            for i in ends:
                try:
                    call(i.endpoint, {"command": "numwatchers"}, self.server.options.timeout)
                    now = True
                except ZmtpTimeout:
                    now = False
                except Exception:  # refused: systemd tells that story
                    continue
                if ok.get(i.unit, True) != now and not self.stopped.is_set():
                    ok[i.unit] = now
                    self._instance(i.user)

    # -- systemd --------------------------------------------------------------------------

    def _systemd_loop(self) -> None:
        watch = open_watch(_unit_dirs())
        watched = set(_unit_dirs())
        last_resync = time.monotonic()
        settle = 0.0  # > 0: something is moving, read again this soon
        try:
            while not self.stopped.is_set():
                wait = settle or self.safety_poll
                woke = False
                if watch is not None:
                    woke = watch.wait(wait)
                    if woke:
                        time.sleep(0.05)  # let systemd finish the transition it announced
                        for d in set(_unit_dirs()) - watched:  # a new *.wants folder
                            watched.add(d)
                            watch.add(d)
                elif self.stopped.wait(min(wait, 2.0)):
                    return
                if self.stopped.is_set():
                    return
                changed, moving = self._diff_units()
                settle = next_settle(settle, changed or woke, moving)
                if time.monotonic() - last_resync >= RESYNC_EVERY:
                    last_resync = time.monotonic()
                    self.emit({"event": "resync",
                               "snapshot": self.server.report(None).to_dict()})
        finally:
            if watch is not None:
                watch.close()

    def _diff_units(self) -> tuple[bool, bool]:
        """Events for what changed; (anything changed, any unit in transition)."""
        now = {u.name: u for u in _list(self.server)}
        changed = set(now) != set(self._units)
        moving = any(u.active_state in TRANSITIONS for u in now.values())
        for name in sorted(set(now) | set(self._units)):
            old, new = self._units.get(name), now.get(name)
            if new is None:
                assert old is not None  # the name came from one of the two maps
                self.emit({"event": "unit", "unit": name, "user": old.user, "removed": True})
                self._drop_feed(name)
                continue
            if old is not None and all(getattr(old, k) == getattr(new, k) for k in _UNIT_KEYS):
                continue
            changed = True
            self.emit({"event": "unit", "unit": name, "user": new.user,
                       "active_state": new.active_state, "sub_state": new.sub_state,
                       "unit_file_state": new.unit_file_state, "n_restarts": new.n_restarts,
                       "main_pid": new.main_pid, "memory_current": new.memory_current})
            was_running = old is not None and old.running
            if new.running != was_running or (old and old.main_pid != new.main_pid):
                if new.running:
                    self._subscribe_unit(new)
                else:
                    self._drop_feed(name)
                self._instance(new.user)
        self._units = now
        return changed, moving

    def _subscribe_unit(self, unit) -> None:
        rep = self.server.report([unit.user] if unit.user else None, dry_run=True)
        for inst in rep.instances:
            if inst.unit == unit.name and inst.pubsub_endpoint:
                self._drop_feed(unit.name)
                self._feed(unit.name, unit.user, inst.pubsub_endpoint)

    # -- stats ----------------------------------------------------------------------------

    def _stats_loop(self) -> None:
        from bailey.stats import collect

        while not self.stopped.wait(self.stats_interval):
            result = collect(self.server.report(None, dry_run=True), self.server.options.timeout)
            self.emit({"event": "stats", "result": result})


def next_settle(settle: float, changed: bool, moving: bool) -> float:
    """How soon the systemd loop reads again (0: only at the safety poll)."""
    if changed:
        return SETTLE_FIRST
    if moving:
        return min(SETTLE_MAX, 2 * settle if settle else SETTLE_FIRST)
    return 0.0


def _unit_dirs() -> list[str]:
    import glob

    return SYSTEMD_DIRS + sorted(glob.glob("/etc/systemd/system/*.wants"))


def _list(server: Server) -> list:
    try:
        return list_units(server.options.units, server.options.systemctl)
    except SystemctlError:
        return []


def _stamp(event: dict[str, Any]) -> float:
    """When circus says the event happened (its ``time``), else now."""
    t = (event.get("data") or {}).get("time") if isinstance(event.get("data"), dict) else None
    return float(t) if isinstance(t, int | float) else time.time()
