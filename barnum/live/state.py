"""Pure functions of the live session: framing, sequence checks, events applied to a report.

Kept apart from the threads and sockets of barnum.live.session so that each rule
(a lost line, a restarted bailey, a watcher stopped) is a small tested
function.  Everything a host sends is validated (barnum.model.validate) before it
changes state, so front ends only ever see clean strings.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from bailey.report import INACTIVE, Instance, Report
from barnum.model.validate import DocumentError, instance_from_document, report_from_document
from barnum.text.sanitize import clean


class LineTooLong(Exception):
    """A host sent a line over the cap: its connection is dropped."""


@dataclass
class LineBuffer:
    """Bytes in, complete lines out; linear, and bounded by ``max_line``."""

    max_line: int
    _parts: list[bytes] = field(default_factory=list)
    _size: int = 0

    def feed(self, data: bytes) -> list[bytes]:
        lines = []
        while data:
            nl = data.find(b"\n")
            if nl < 0:
                self._parts.append(data)
                self._size += len(data)
                if self._size > self.max_line:
                    raise LineTooLong(f"a line over {self.max_line} bytes")
                break
            self._parts.append(data[:nl])
            lines.append(b"".join(self._parts))
            self._parts, self._size = [], 0
            data = data[nl + 1:]
        return lines


@dataclass
class SeqCheck:
    """Per-connection order: ``gap`` when lines were lost, ``restart`` on a new epoch."""

    epoch: str | None = None
    seq: int = 0

    def check(self, epoch: object, seq: object) -> str | None:
        if not isinstance(epoch, str) or not isinstance(seq, int):
            return "bad"
        if epoch != self.epoch:
            restarted = self.epoch is not None
            self.epoch, self.seq = epoch, seq
            return "restart" if restarted else None
        expected = self.seq + 1
        self.seq = seq
        return "gap" if seq != expected else None


@dataclass
class RefreshGate:
    """One host's refreshes asked for by its events: at most one running, one more
    pending however many are asked for, and ``gap`` seconds between two starts.

    The caller holds a lock around every call; ``want`` True means "start the
    one worker", which loops on ``delay``, ``started``, refresh, ``finished``.
    """

    gap: float
    running: bool = False
    pending: bool = False
    last: float = float("-inf")

    def want(self) -> bool:
        if self.running:
            self.pending = True
            return False
        self.running = True
        return True

    def delay(self, now: float) -> float:
        return max(0.0, self.last + self.gap - now)

    def started(self, now: float) -> None:
        self.last, self.pending = now, False

    def finished(self, cancel: bool = False) -> bool:
        """True: the worker refreshes once more (asked for while it ran)."""
        if self.pending and not cancel:
            return True
        self.running = self.pending = False
        return False


def parse_line(raw: bytes) -> dict[str, Any]:
    """One protocol line as a dict; ValueError names what is wrong."""
    obj = json.loads(raw.decode("utf-8", "replace"))
    if not isinstance(obj, dict):
        raise ValueError("a line that is not a JSON object")
    return obj


def valid_report(doc: object, host: str | None = None) -> Report:
    """A snapshot from a host, validated and cleaned (DocumentError if not a bailey/1)."""
    return report_from_document(doc, host)


def valid_instance(doc: object, host: str) -> Instance:
    """One instance dict from an event, validated through a one-instance report."""
    return instance_from_document(doc, host)


WATCHER_STATE = {"start": "active", "stop": "stopped", "add": "active"}


def event_name(name: str) -> str:
    """How circusd names a watcher in its events' topics (its ``res_name``)."""
    return name.lower().replace(" ", "_")


def watcher_named(names: Any, in_event: str | None) -> str | None:
    """The watcher (as ``status`` names it) that an event's name stands for, if known.

    circusd publishes ``watcher.<res_name>.<action>``, lowercased with spaces
    made underscores, while ``status`` keeps the name as given.
    """
    if in_event in names:
        return in_event
    return next((n for n in names if event_name(n) == in_event), None)


def with_status_name(report: Report | None, event: dict[str, Any]) -> dict[str, Any]:
    """A ``circus`` event with its watcher named as ``status`` names it, when the
    report knows the watcher: the session does this once, before publishing, so
    every front end keys a watcher by one name (an unknown one keeps circus's)."""
    watcher = event.get("watcher")
    if report is None or event.get("event") != "circus" or not isinstance(watcher, str):
        return event
    inst = next((i for i in report.instances if i.unit == event.get("unit")), None)
    name = watcher_named(inst.watchers or {}, watcher) if inst else None
    return {**event, "watcher": name} if name and name != watcher else event


def apply_event(report: Report | None, event: dict[str, Any], host: str) -> Report | None:
    """The report after one event (a new object; the old one is never changed).

    Returns None when the event cannot be applied (no report yet, or a bad
    event): the caller then asks for a fresh snapshot.
    """
    if report is None:
        return None
    kind = event.get("event")
    try:
        if kind == "resync":
            return valid_report(event.get("snapshot"), host)
        new = copy.deepcopy(report)
        if kind == "instance":
            added = valid_instance(event.get("instance"), host)
            new.instances = [i for i in new.instances if i.unit != added.unit] + [added]
            new.instances.sort(key=lambda i: i.unit)
            return new
        unit = event.get("unit")
        if not isinstance(unit, str):
            return None
        unit = clean(unit)
        inst = next((i for i in new.instances if i.unit == unit), None)
        if kind == "unit":
            if event.get("removed"):
                new.instances = [i for i in new.instances if i.unit != unit]
                return new
            if inst is None:
                return None  # a new unit: the caller refreshes
            for key in ("active_state", "sub_state", "unit_file_state"):
                if isinstance(event.get(key), str):
                    setattr(inst, key, clean(event[key]))
            for key in ("n_restarts", "main_pid"):
                if isinstance(event.get(key), int):
                    setattr(inst, key, event[key])
            mem = event.get("memory_current", inst.memory_current)
            if mem is None or (isinstance(mem, int) and not isinstance(mem, bool) and mem >= 0):
                inst.memory_current = mem
            if inst.active_state not in ("active", "reloading", "failed"):
                inst.state, inst.watchers, inst.error = INACTIVE, None, None
            return new
        if kind == "circus":
            watcher, action = event.get("watcher"), event.get("action")
            if inst is None or not isinstance(watcher, str) or not isinstance(action, str):
                return None
            watchers = dict(inst.watchers or {})
            w = watcher_named(watchers, clean(watcher))
            if w is None:
                return None  # a watcher not known by its real name yet: refresh
            if action == "remove":
                watchers.pop(w, None)
            elif action in WATCHER_STATE:
                watchers[w] = clean(WATCHER_STATE[action])
            inst.watchers = watchers
            return new
    except DocumentError:
        return None
    return report  # other events (log, stats) do not change the report
