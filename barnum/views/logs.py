"""Journal lines of many hosts, merged in time order."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


HOST_COLORS = ["cyan", "magenta", "green", "yellow", "blue", "bright_cyan", "bright_magenta"]


def line_text(host: str, user: str, rec: dict) -> str:
    """``host user: message`` (the message already clean, one line)."""
    return f"{host} {user}: {rec.get('message', '')}"


def merged(batches: list[tuple[str, str, list[dict]]]) -> list[tuple[str, str, dict]]:
    """Pure: lines of many units in time order (stable for equal times; a line with
    no usable time sorts first)."""
    rows = [(h, u, rec) for h, u, recs in batches for rec in recs]
    return sorted(rows, key=lambda r: _time_key(r[2].get("t")))


def _time_key(t: object) -> float:
    if isinstance(t, bool) or not isinstance(t, int | float):
        return 0.0
    try:
        t = float(t)
    except OverflowError:
        return 0.0
    return t if math.isfinite(t) else 0.0
