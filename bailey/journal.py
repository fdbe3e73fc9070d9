"""A circus unit's journal lines, from ``journalctl -o json``."""

from __future__ import annotations

import json
import re
from typing import Any

UNIT_RE = re.compile(r"circus_[A-Za-z0-9_.@-]+\.service\Z")


def check_unit(unit: object) -> str:
    """The unit name if it is a circus unit bailey may show, else ValueError."""
    if not isinstance(unit, str) or not UNIT_RE.match(unit):
        raise ValueError("unit must be a circus_*.service name")
    return unit


def journal_argv(unit: str, n: int, follow: bool, since: float | None = None) -> list[str]:
    argv = ["journalctl", "--no-pager", "-o", "json", "-u", unit, "-n", str(n)]
    if since is not None:  # whole seconds: journalctl's @ takes no fraction everywhere
        argv += ["--since", f"@{int(since)}"]
    return [*argv, "-f"] if follow else argv


def _message(value: Any) -> str:
    if isinstance(value, list):  # journald gives binary messages as byte arrays
        try:
            return bytes(v for v in value if isinstance(v, int) and 0 <= v < 256).decode(
                "utf-8", "replace")
        except ValueError:
            return ""
    return value if isinstance(value, str) else str(value)


def parse_line(text: str) -> dict[str, Any] | None:
    """One ``journalctl -o json`` line as ``{t, priority, pid, message}`` (None if not one)."""
    try:
        rec = json.loads(text)
    except ValueError:
        return None
    if not isinstance(rec, dict):
        return None

    def num(key: str) -> int | None:
        try:
            return int(rec[key])
        except (KeyError, TypeError, ValueError):
            return None

    usec = num("__REALTIME_TIMESTAMP")
    return {"t": usec / 1e6 if usec is not None else None, "priority": num("PRIORITY"),
            "pid": num("_PID"), "message": _message(rec.get("MESSAGE", ""))}
