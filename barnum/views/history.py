"""``barnum history``'s pure parts: time arguments, and rows and flapping as text or JSON.

Every string read from the store was a host's (or a circus user's) and passes
the one sanitizer before it is printed.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

from barnum.history.store import Flapping, Row
from barnum.text.sanitize import clean

_AGO = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])\Z")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_when(text: str, now: float) -> float:
    """``2h``/``30m``/``7d`` ago, ``@EPOCH``, ``now``, or an ISO date and time (local);
    ValueError with the accepted forms."""
    s = text.strip()
    if s == "now":
        return now
    m = _AGO.match(s)
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    if s.startswith("@"):
        try:
            return float(s[1:])
        except ValueError:
            pass
    try:
        return datetime.fromisoformat(s).timestamp()
    except ValueError:
        raise ValueError(f"{text!r}: give an age (90s, 30m, 2h, 7d, 1w), @EPOCH, now, or "
                         "a date and time (2026-12-04 03:00)") from None


def _stamp(t: float | None) -> str:
    if t is None:
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def what(r: Row) -> str:
    """The row's event in words (not yet cleaned)."""
    d = r.detail
    if r.kind == "gap":
        if r.action == "dropped":
            return f"{d.get('count')} events not recorded ({d.get('why')})"
        tail = f" ({d['why']})" if d.get("why") else ""
        if r.action == "backfilled":
            return (f"not watched until {_stamp(r.until)}: circus units' journal filled in "
                    f"({d.get('lines', 0)} lines); anything else unknown")
        return f"not watched until {_stamp(r.until)}: unknown{tail}"
    if r.kind == "circus":
        bits = [r.action or "?"]
        pid = d.get("process_pid", d.get("pid"))
        if pid is not None:
            bits.append(f"pid {pid}")
        code = d.get("exit_code")
        if isinstance(code, int) and not isinstance(code, bool):
            bits.append(f"killed by signal {-code}" if code < 0 else f"exit {code}")
        return " ".join(str(b) for b in bits)
    if r.kind == "unit":
        return f"unit {r.action}"
    if r.kind == "host":
        return f"host {r.action}" + (f": {d['reason']}" if d.get("reason") else "")
    if r.kind == "action":
        who = d.get("who", "?")
        by = f" (as {d['by']})" if d.get("by") else ""
        err = f": {d['error']}" if d.get("error") else ""
        return f"{r.action} by {who}{by}: {d.get('result', '?')}{err}"
    if r.kind == "journal":
        return f"journal: {d.get('message', '')}"
    return r.action or ""


def table(rows: list[Row]) -> str:
    """One line per row, oldest first; backfilled rows marked ``~``, gaps ``!``."""
    out = [f"{'TIME':<19}   {'HOST':<12} {'USER':<10} {'WATCHER':<16} {'KIND':<7} WHAT"]
    for r in rows:
        mark = "~" if r.source == "backfill" else "!" if r.kind == "gap" else " "
        name = r.watcher or (r.unit or "") if r.kind != "host" else ""
        out.append(f"{_stamp(r.t)} {mark} {clean(r.host or '*'):<12} {clean(r.user or ''):<10} "
                   f"{clean(name):<16} {r.kind:<7} {clean(what(r))}")
    return "\n".join(out) + "\n"


def row_json(r: Row) -> dict[str, Any]:
    """A row for --json: strings cleaned, the detail's too."""
    d = r.to_dict()
    for k in ("host", "kind", "action", "user", "unit", "watcher", "source"):
        if d[k] is not None:
            d[k] = clean(d[k])
    d["detail"] = {clean(k): clean(v) if isinstance(v, str) else v
                   for k, v in r.detail.items() if not isinstance(v, dict | list)}
    d["what"] = clean(what(r))
    return d


def flapping_table(rows: list[Flapping], hours: float) -> str:
    out = [f"{'EXITS/H':>8} {'EXITS':>6}  {'HOST':<12} {'USER':<10} {'WATCHER':<16} LAST EXIT",
           ]
    for f in rows:
        out.append(f"{f.per_hour:>8.1f} {f.exits:>6}  {clean(f.host):<12} "
                   f"{clean(f.user or '?'):<10} {clean(f.watcher):<16} {_stamp(f.last)}")
    if not rows:
        out.append(f"(no exits in the last {hours:g} h)")
    return "\n".join(out) + "\n"


def flap_json(f: Flapping) -> dict[str, Any]:
    return {"host": clean(f.host), "user": clean(f.user) if f.user else None,
            "watcher": clean(f.watcher), "exits": f.exits, "per_hour": round(f.per_hour, 3),
            "last": f.last}
