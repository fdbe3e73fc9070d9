"""Pure: answers from many instances, identical ones gathered (like ``clush -b``).

Each instance's answer is text: one line (``ok``, ``3``, an error) or
several (``circusctl options``).  Instances with the same answer become one
block named by all of them, folded as a target expression that selects
exactly them when typed back (``user1@host[1-3]``: barnum.model.nodeset.fold).
One-line answers print as ``names (n): answer``; longer ones as a header
line and the answer indented.
"""

from __future__ import annotations

from dataclasses import dataclass

from barnum.model.hostsort import natural_key
from barnum.model.nodeset import fold


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
