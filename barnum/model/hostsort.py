"""Host names in the order people count them: host2 before host10."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """A sort key that compares runs of digits as numbers (``host2`` < ``host10``)."""
    return tuple(int(p) if p.isdigit() else p for p in _DIGITS.split(name))


def natural_sorted(names) -> list[str]:
    """``names`` sorted naturally."""
    return sorted(names, key=natural_key)
