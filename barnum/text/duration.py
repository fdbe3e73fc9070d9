"""Durations as people write them (``10m``, ``90s``, ``1h``, ``0``).  Standard library only
and no ``re``: the warm client reads them on every call, before anything is imported."""

from __future__ import annotations

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
        parts = split_duration(str(text))
        if parts is None:
            raise ValueError(f"not a duration (e.g. 10m, 90s, 1h, 0): {text!r}")
        v = float(parts[0]) * _UNIT[parts[1]]
    if not 0 <= v <= MAX:  # also false for nan
        raise ValueError(f"a duration from 0 to 7d, not {text!r}")
    return v


def split_duration(text: str) -> tuple[str, str | None] | None:
    """``" 1.5 m"`` -> ``("1.5", "m")``: a number (digits, maybe one fraction) and an
    optional unit, spaces around either; None for anything else."""
    t = text.strip()
    unit = next((u for u in ("ms", "s", "m", "h", "d") if t.endswith(u)), None)
    number = (t[: -len(unit)] if unit else t).rstrip()
    whole, dot, fraction = number.partition(".")
    if not _digits(whole) or (dot and not _digits(fraction)):
        return None
    return number, unit


def _digits(s: str) -> bool:
    return s.isascii() and s.isdigit()
