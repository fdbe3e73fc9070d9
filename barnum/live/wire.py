"""What ``bailey --serve`` may send, checked field by field before the session keeps it.

A compromised host's bailey answers anything it likes.  So every op's result
and every event of protocol ``bailey-serve/1`` (bailey/serve.py, bailey/watch.py,
bailey/stats.py, bailey/journal.py) is checked here against the shape bailey
really sends, as barnum.model.validate checks the ``bailey/1`` document: a wrong type
anywhere makes the whole message a :class:`WireError` (one line, clean), which
the session drops and counts for that host alone.  What passes has clean strings,
finite numbers in range and host timestamps inside a sane window (else None),
so no renderer can trip on it.  Pure functions: no I/O, no recursion into
what the host nests.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bailey.protocol import OPS as PROTOCOL_OPS
from bailey.report import Report
from barnum.model.validate import DocumentError, report_from_document
from barnum.text.sanitize import clean

__all__ = ["Checked", "WireError", "check_event", "check_result", "host_time"]

OPS = tuple(PROTOCOL_OPS)  # the ops barnum may send: bailey.protocol's table
EVENTS = ("circus", "instance", "unit", "resync", "stats", "log", "end")
TIME_FLOOR = 946684800.0  # 2000-01-01: a journal or circus time before is a broken clock
TIME_AHEAD = 366 * 86400.0  # a host clock a year ahead is not believed either
INT_MAX = 2**63 - 1  # bytes, pids, counters: what a 64-bit host can mean


class WireError(ValueError):
    """A message of the wrong shape; ``str()`` is one clean line naming the first fault."""


@dataclass
class Checked:
    """A ``bailey/1`` document that passed barnum.model.validate: the report and the raw JSON."""

    report: Report
    document: dict[str, Any]


def host_time(value: object, now: float) -> float | None:
    """A host's timestamp if it is a finite number inside [2000, now + 1 year], else None.

    Refused rather than clamped: a wrong time shown as a plausible one would mislead.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        t = float(value)
    except OverflowError:
        return None
    if not math.isfinite(t) or not TIME_FLOOR <= t <= now + TIME_AHEAD:
        return None
    return t


def check_result(op: str, result: object, now: float, host: str | None = None) -> Any:
    """The result of ``op`` as bailey answers it, checked and cleaned (WireError if not).

    ``host`` is the one whose link delivered it: a report's instances must be that
    host's circus units (barnum.model.validate), whatever name the document gives itself.
    """
    check = _RESULTS.get(op)
    if check is None:
        raise WireError(f"an answer to an unknown op {_show(op)}")
    if op in _REPORTS:
        return _REPORTS[op](result, now, host)
    return check(result, now)


def check_event(msg: dict[str, Any], now: float, host: str) -> dict[str, Any]:
    """An event's fields (without seq, epoch, sub or the host's t), checked and cleaned.

    ``msg["event"]`` must be one of EVENTS; ``host`` is the one whose link
    delivered it; WireError names the first fault.
    """
    kind = msg.get("event")
    check = _EVENTS.get(kind) if isinstance(kind, str) else None
    if check is None:
        raise WireError(f"an event of unknown kind {_show(kind)}")
    return check(msg, now, host)


# -- results ----------------------------------------------------------------------------------


def _document(value: object, what: str, host: str | None = None) -> Checked:
    try:
        report = report_from_document(value, host)
        assert isinstance(value, dict)  # report_from_document took it: a JSON object
        return Checked(report, value)
    except DocumentError as e:
        raise WireError(f"{what}: {e}") from None


def _status(result: object, now: float, host: str | None = None) -> Checked:
    return _document(result, "status", host)


def _subscribe(result: object, now: float, host: str | None = None) -> Checked:
    obj = _object(result, "subscribe answer")
    return _document(obj.get("snapshot"), "snapshot", host)


def _ping(result: object, now: float) -> dict[str, Any]:
    obj = _object(result, "ping answer")
    return {"t": host_time(obj.get("t"), now)}


def _cancel(result: object, now: float) -> dict[str, Any]:
    obj = _object(result, "cancel answer")
    return {"cancelled": _bool(obj.get("cancelled"), "cancelled")}


def stats_result(result: object, now: float = 0.0) -> dict[str, Any]:
    """bailey.stats.collect's shape: instances, each with watchers, each with processes."""
    obj = _object(result, "stats")
    out = []
    for n, raw in enumerate(_list(obj.get("instances"), "stats.instances")):
        where = f"stats.instances[{n}]"
        inst = _object(raw, where)
        watchers = []
        for k, wraw in enumerate(_list(inst.get("watchers", []), f"{where}.watchers")):
            wh = f"{where}.watchers[{k}]"
            w = _object(wraw, wh)
            procs = [_process(p, f"{wh}.processes[{j}]")
                     for j, p in enumerate(_list(w.get("processes", []), f"{wh}.processes"))]
            watchers.append({"name": _str(w.get("name"), f"{wh}.name"),
                             "status": _str(w.get("status", "unknown"), f"{wh}.status"),
                             "numprocesses": _count(w.get("numprocesses"), f"{wh}.numprocesses"),
                             "processes": procs})
        out.append({"unit": _opt_str(inst.get("unit"), f"{where}.unit"),
                    "user": _opt_str(inst.get("user"), f"{where}.user"),
                    "error": _opt_str(inst.get("error"), f"{where}.error"),
                    "memory_current": _count(inst.get("memory_current"),
                                             f"{where}.memory_current"),
                    "watchers": watchers})
    return {"instances": out}


def _process(raw: object, where: str) -> dict[str, Any]:
    p = _object(raw, where)
    return {"pid": _count(p.get("pid"), f"{where}.pid"),
            "cpu": _number(p.get("cpu"), f"{where}.cpu"),
            "mem": _number(p.get("mem"), f"{where}.mem"),
            "rss": _count(p.get("rss"), f"{where}.rss"),
            "age": _number(p.get("age"), f"{where}.age")}


def log_line(raw: object, now: float, where: str = "line") -> dict[str, Any]:
    """bailey.journal.parse_line's shape; a time outside the sane window becomes None."""
    rec = _object(raw, where)
    t = rec.get("t")
    if t is not None and (isinstance(t, bool) or not isinstance(t, int | float)):
        raise WireError(f"{where}.t is {_a(t)}, not a number")
    return {"t": host_time(t, now), "priority": _count(rec.get("priority"), f"{where}.priority"),
            "pid": _count(rec.get("pid"), f"{where}.pid"),
            "message": _str(rec.get("message", ""), f"{where}.message")}


def _logs(result: object, now: float) -> dict[str, Any]:
    obj = _object(result, "logs")
    return {"unit": _str(obj.get("unit"), "logs.unit"),
            "lines": [log_line(x, now, f"logs.lines[{n}]")
                      for n, x in enumerate(_list(obj.get("lines"), "logs.lines"))]}


def _output(result: object, now: float) -> dict[str, Any]:
    obj = _object(result, "output")
    lines = _list(obj.get("lines"), "output.lines")
    if not all(isinstance(x, str) for x in lines):
        raise WireError("output.lines is not a list of strings")
    stream = _str(obj.get("stream"), "output.stream")
    if stream not in ("stdout", "stderr"):
        raise WireError("output.stream is neither stdout nor stderr")
    return {"unit": _str(obj.get("unit"), "output.unit"),
            "watcher": _str(obj.get("watcher"), "output.watcher"), "stream": stream,
            "path": _str(obj.get("path"), "output.path"),
            "lines": [clean(x) for x in lines],
            "truncated": _bool(obj.get("truncated", False), "output.truncated")}


_RESULTS: dict[str, Callable[[object, float], Any]] = {
    "ping": _ping, "status": _status, "circusctl": _status, "stats": stats_result,
    "logs": _logs, "output": _output, "subscribe": _subscribe, "cancel": _cancel}
# Ops whose answer is a bailey/1 report, checked against the host that sent it.
_REPORTS: dict[str, Callable[[object, float, str | None], Checked]] = {
    "status": _status, "circusctl": _status, "subscribe": _subscribe}


# -- events -----------------------------------------------------------------------------------


def _ev_circus(msg: dict[str, Any], now: float, host: str) -> dict[str, Any]:
    data = msg.get("data", {})
    if data is None:
        data = {}
    data = _object(data, "circus.data")
    flat: dict[str, Any] = {}
    for k, v in data.items():  # circus's event data is flat: pids, exit codes, times
        if isinstance(v, str):
            flat[clean(k)] = clean(v)
        elif _scalar(v):
            flat[clean(k)] = v
    if "time" in flat:
        flat["time"] = host_time(flat["time"], now)
    return {"event": "circus", "unit": _str(msg.get("unit"), "circus.unit"),
            "user": _opt_str(msg.get("user"), "circus.user"),
            "watcher": _str(msg.get("watcher"), "circus.watcher"),
            "action": _str(msg.get("action"), "circus.action"), "data": flat}


def _ev_instance(msg: dict[str, Any], now: float, host: str) -> dict[str, Any]:
    from barnum.live.state import valid_instance

    raw = msg.get("instance")
    inst = _object(raw, "instance.instance")
    unit = _str(inst.get("unit"), "instance.unit")
    try:
        checked = valid_instance(raw, host)
    except DocumentError as e:
        raise WireError(f"instance {unit}: {e}") from None
    return {"event": "instance", "instance": dataclasses.asdict(checked)}


def _ev_unit(msg: dict[str, Any], now: float, host: str) -> dict[str, Any]:
    out: dict[str, Any] = {"event": "unit", "unit": _str(msg.get("unit"), "unit.unit"),
                           "user": _opt_str(msg.get("user"), "unit.user")}
    if msg.get("removed"):
        out["removed"] = _bool(msg.get("removed"), "unit.removed")
        return out
    for key in ("active_state", "sub_state", "unit_file_state"):
        if key in msg:
            out[key] = _str(msg[key], f"unit.{key}")
    for key in ("n_restarts", "main_pid", "memory_current"):
        if key in msg:
            out[key] = _count(msg[key], f"unit.{key}")
    return out


def _ev_resync(msg: dict[str, Any], now: float, host: str) -> dict[str, Any]:
    checked = _document(msg.get("snapshot"), "resync snapshot", host)
    return {"event": "resync", "snapshot": checked.document, "report": checked.report}


def _ev_stats(msg: dict[str, Any], now: float, host: str) -> dict[str, Any]:
    return {"event": "stats", "result": stats_result(msg.get("result"), now)}


def _ev_log(msg: dict[str, Any], now: float, host: str) -> dict[str, Any]:
    return {"event": "log", "unit": _str(msg.get("unit"), "log.unit"),
            "line": log_line(msg.get("line"), now, "log.line")}


def _ev_end(msg: dict[str, Any], now: float, host: str) -> dict[str, Any]:
    """A stream's last line: ``sub`` names the request (kept: the session matches it)."""
    rid = msg.get("sub")
    if isinstance(rid, bool) or not isinstance(rid, int | str):
        raise WireError(f"end.sub is {_a(rid)}, not a request id")
    out = {"event": "end", "sub": rid if isinstance(rid, int) else clean(rid),
           "reason": _str(msg.get("reason"), "end.reason")}
    if msg.get("unit") is not None:
        out["unit"] = _str(msg.get("unit"), "end.unit")
    return out


_EVENTS = {"circus": _ev_circus, "instance": _ev_instance, "unit": _ev_unit,
           "resync": _ev_resync, "stats": _ev_stats, "log": _ev_log, "end": _ev_end}


def _scalar(v: object) -> bool:
    """null, a boolean, a whole number in range or a finite float: kept as is."""
    if v is None or isinstance(v, bool):
        return True
    if isinstance(v, int):
        return abs(v) <= INT_MAX
    return isinstance(v, float) and math.isfinite(v)


# -- field checks -----------------------------------------------------------------------------


def _object(v: object, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise WireError(f"{where} is {_a(v)}, not an object")
    return v


def _list(v: object, where: str) -> list[Any]:
    if not isinstance(v, list):
        raise WireError(f"{where} is {_a(v)}, not a list")
    return v


def _str(v: object, where: str) -> str:
    if not isinstance(v, str):
        raise WireError(f"{where} is {_a(v)}, not a string")
    return clean(v)


def _opt_str(v: object, where: str) -> str | None:
    return None if v is None else _str(v, where)


def _bool(v: object, where: str) -> bool:
    if not isinstance(v, bool):
        raise WireError(f"{where} is {_a(v)}, not true or false")
    return v


def _count(v: object, where: str) -> int | None:
    """A whole number from 0 to INT_MAX (bytes, pids, counts), or null."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= INT_MAX:
        raise WireError(f"{where} is {_show(v)}, not a count")
    return v


def _number(v: object, where: str) -> float | None:
    """A finite number (cpu %, mem %, age in seconds), or null."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise WireError(f"{where} is {_a(v)}, not a number")
    try:
        f = float(v)
    except OverflowError:
        raise WireError(f"{where} is out of range") from None
    if not math.isfinite(f) or abs(f) > 1e15:
        raise WireError(f"{where} is {_show(v)}, not a finite number")
    return f


def _a(v: object) -> str:
    """The JSON kind of ``v`` with its article: "an object", "a list", "null"."""
    kind = _kind(v)
    return kind if kind == "null" else ("an " if kind[0] in "aeiou" else "a ") + kind


def _kind(v: object) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(v), type(v).__name__)


def _show(v: object) -> str:
    if isinstance(v, dict | list):
        return _a(v)
    text = repr(v) if not isinstance(v, int) or abs(v) < 10**30 else "a huge number"
    return clean(text if len(text) <= 40 else text[:37] + "...")
