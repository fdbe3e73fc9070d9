"""Durations as people write them (``10m``, ``90s``, ``1h``, ``0``).  Standard library only:
the warm client reads them before anything heavy is imported."""

from __future__ import annotations

import re

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*\Z")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
MAX = 7 * 86400.0  # a week: anything longer is a typo


def parse_duration(text: object) -> float:
    """Seconds; ValueError with a readable message for anything else (negative, ``1x``,
    ``true``, more than a week)."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration (e.g. 10m, 90s, 1h, 0): {text!r}")
    if isinstance(text, int | float):
        v = float(text)
    else:
        m = _DURATION.match(str(text))
        if not m:
            raise ValueError(f"not a duration (e.g. 10m, 90s, 1h, 0): {text!r}")
        v = float(m.group(1)) * _UNIT[m.group(2)]
    if not 0 <= v <= MAX:  # also false for nan
        raise ValueError(f"a duration from 0 to 7d, not {text!r}")
    return v
