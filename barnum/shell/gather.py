"""Pure: answers from many instances, identical ones gathered (like ``clush -b``).

Each instance's answer is text: one line (``ok``, ``3``, an error) or
several (``circusctl options``).  Instances with the same answer become one
block named by all of them, names folded where they share a numbered
pattern (``user1@host[1-3]``).  One-line answers print as
``names (n): answer``; longer ones as a header line and the answer indented.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from barnum.hostsort import natural_key

_NUM = re.compile(r"^(.*?)(\d+)(\D*)$")


@dataclass(frozen=True)
class Answer:
    """One instance's answer: ``who`` is ``user@host`` (or ``host`` for the host),
    for display only; ``at`` is the same as data, (host, user or None), which is
    what ``target @failed`` uses: never the text."""

    who: str
    text: str
    failed: bool = False
    at: tuple[str, str | None] | None = None


@dataclass
class Block:
    """Instances that answered the same."""

    names: list[str]
    text: str
    failed: bool

    def lines(self) -> list[str]:
        label = f"{fold(self.names)} ({len(self.names)})"
        body = self.text.splitlines() or [""]
        if len(body) == 1:
            return [f"{label}: {body[0]}"]
        return [f"{label}:", *("  " + ln for ln in body)]


def gather(answers: list[Answer]) -> list[Block]:
    """Blocks of identical answers: failures first, then by their first name."""
    groups: dict[tuple[str, bool], list[str]] = {}
    for a in answers:
        groups.setdefault((a.text, a.failed), []).append(a.who)
    blocks = [Block(sorted(set(names), key=_who_key), text, failed)
              for (text, failed), names in groups.items()]
    blocks.sort(key=lambda b: (not b.failed, _who_key(b.names[0])))
    return blocks


def _who_key(who: str) -> tuple:
    user, _, host = who.rpartition("@")
    return (natural_key(host), natural_key(user))


def fold(names: list[str]) -> str:
    """``user1@host1,user1@host2,user1@host3`` -> ``user1@host[1-3]`` (pure).

    Names that differ only in one trailing number of the host part fold
    into ranges; the rest are listed as they are, comma-separated.
    """
    patterns: dict[tuple[str, str, str], list[str]] = {}
    order: list[tuple[str, str, str]] = []
    plain: list[str] = []
    for who in names:
        user, at, host = who.rpartition("@")
        m = _NUM.match(host)
        if not m:
            plain.append(who)
            continue
        key = (user + at + m.group(1), m.group(3), str(len(m.group(2)))
               if m.group(2).startswith("0") else "")
        if key not in patterns:
            order.append(key)
        patterns.setdefault(key, []).append(m.group(2))
    parts = []
    for key in order:
        nums = patterns[key]
        prefix, suffix, _ = key
        if len(nums) == 1:
            parts.append(f"{prefix}{nums[0]}{suffix}")
        else:
            parts.append(f"{prefix}[{_ranges(nums)}]{suffix}")
    return ",".join(parts + plain)


def _ranges(nums: list[str]) -> str:
    """``1,2,3,5`` -> ``1-3,5`` (zero-padded numbers keep their width)."""
    values = sorted({int(n): n for n in nums}.items())
    out: list[str] = []
    start = prev = values[0]
    for v in [*values[1:], None]:
        if v is not None and v[0] == prev[0] + 1:
            prev = v
            continue
        out.append(start[1] if start == prev else f"{start[1]}-{prev[1]}")
        if v is not None:
            start = prev = v
    return ",".join(out)
