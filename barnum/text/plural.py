"""Counts in words, so no front end prints "1 hosts" or "1 instances".

One place for the rule; the irregular plurals barnum prints are listed.
"""

from __future__ import annotations

IRREGULAR = {"process": "processes", "is": "are", "was": "were"}


def plural(n: int, noun: str) -> str:
    """``noun`` as it reads after the number ``n``: host for 1, hosts for 0 or 2."""
    if n == 1:
        return noun
    return IRREGULAR.get(noun, noun + "s")


def count(n: int, noun: str) -> str:
    """``"1 host"``, ``"0 hosts"``, ``"3 processes"``."""
    return f"{n} {plural(n, noun)}"
