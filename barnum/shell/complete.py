"""Pure: what the word under the cursor may become.

The names come from :class:`Names`, which the shell fills from the live
session at every key press (``names_from``), so a watcher added on a host
since the shell started completes too.  Completion replaces the word as
typed (quotes included) with the candidate, quoted when it needs it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from barnum.model.hostsort import natural_sorted
from barnum.shell.parse import ACTIONS, COMMANDS, SCALERS, UNIT_VERBS, lex

CIRCUSCTL = ("add", "decr", "dstats", "get", "globaloptions", "incr", "kill", "list",
             "listsockets", "numprocesses", "numwatchers", "options", "quit", "reload",
             "reloadconfig", "restart", "rm", "set", "signal", "start", "stats", "status",
             "stop")
_SAFE = re.compile(r"^[\w@%+=:,./*?\[\]-]*$")


@dataclass
class Names:
    """What the session knows now: hosts, users per host, watchers, groups."""

    hosts: list[str] = field(default_factory=list)
    users: dict[str, list[str]] = field(default_factory=dict)
    watchers: set[str] = field(default_factory=set)
    groups: list[str] = field(default_factory=list)

    def targets(self) -> list[str]:
        """Every target word: hosts, ``user@host``, ``user@*``, ``@group``."""
        users = sorted({u for us in self.users.values() for u in us})
        pairs = [f"{u}@{h}" for h in natural_sorted(self.users) for u in self.users[h]]
        return [*natural_sorted(self.hosts), *pairs, *(f"{u}@*" for u in users),
                *("@" + g for g in sorted(self.groups))]


@dataclass(frozen=True)
class Candidate:
    """Replace the last ``replace`` characters before the cursor with ``text``."""

    text: str
    replace: int
    display: str


def complete(before_cursor: str, names: Names) -> list[Candidate]:
    """Candidates for the word that ends at the cursor."""
    lexed = lex(before_cursor, allow_open=True)
    if lexed.partial is None:  # inside a comment
        return []
    words = lexed.commands[-1] if lexed.commands else []
    typing = lexed.raw_partial != ""
    prev = words[:-1] if typing else words
    prefix = lexed.partial if typing else ""
    options = _options(prev, prefix, names)
    seen: set[str] = set()
    out = []
    for opt in options:
        if opt.startswith(prefix) and opt not in seen:
            seen.add(opt)
            out.append(Candidate(_quote(opt), len(lexed.raw_partial), opt))
    return out


def _options(prev: list[str], prefix: str, names: Names) -> list[str]:
    if not prev:
        return list(COMMANDS)
    cmd, idx = prev[0], len(prev)
    if cmd in ACTIONS or cmd in SCALERS:
        return natural_sorted(names.watchers) if idx == 1 else names.targets()
    if cmd in ("status", "list", "stats"):
        return names.targets()
    if cmd == "logs":
        return [] if prev[-1] in ("-n", "--lines") else ["-n", *names.targets()]
    if cmd == "target":
        if prefix[:1] in ("+", "-"):
            return [prefix[0] + t for t in names.targets()]
        return ["?", "@failed", *names.targets()]
    if cmd == "help":
        return list(COMMANDS) if idx == 1 else []
    if cmd == "unit":
        return list(UNIT_VERBS) if idx == 1 else ["--yes", *names.targets()]
    if cmd == "circusctl":
        if idx == 1:
            return list(CIRCUSCTL)
        return natural_sorted(names.watchers) if idx == 2 else []
    return []


def _quote(word: str) -> str:
    return word if _SAFE.match(word) else shlex.quote(word)
