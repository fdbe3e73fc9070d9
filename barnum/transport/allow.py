"""Where barnum may connect: the operator decides, circus users only propose.

Discovery turns folder names under users' ``~/circus/`` into host names, and
those folders belong to the circus users.  So a discovered host is contacted
only when the operator allowed it, by one of (the first that exists):

1. the users file's ``hosts:`` list of patterns (fnmatch, e.g. ``host*``,
   ``db[1-3]``);
2. else, a ``Host`` line of the operator's ssh_config (``--ssh-config`` or
   ``~/.ssh/config``) with a pattern naming it; a bare ``Host *`` does not
   count, since it names everything.

Without either, nothing is allowed and barnum says how to allow hosts.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

_HOST_LINE = re.compile(r"^\s*host(?:\s*=\s*|\s+)(.*)$", re.I)
MAX_SSH_CONFIG = 1024 * 1024


@dataclass
class Allowed:
    """``hosts``: what may be contacted; ``skipped``: discovered but not allowed."""

    hosts: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    rule: str = ""  # which rule decided, for messages


def ssh_config_host_patterns(text: str) -> list[list[str]]:
    """Pure: the pattern lists of every ``Host`` line (quotes stripped)."""
    out = []
    for line in text.splitlines():
        m = _HOST_LINE.match(line)
        if m:
            out.append([p.strip('"') for p in m.group(1).split("#")[0].split()])
    return out


def named_by_ssh_config(host: str, host_lines: list[list[str]]) -> bool:
    """True when a Host line names ``host`` with a pattern other than a bare ``*``."""
    return _namer(host_lines)(host)


def _namer(host_lines: list[list[str]]) -> Callable[[str], bool]:
    """:func:`named_by_ssh_config` for these lines, their patterns compiled once: an
    ssh_config with a Host line per host is asked about every host on every call."""
    plain: list[str] = []  # the positive patterns of lines without a negation: one regex
    negating: list[tuple[re.Pattern[str], re.Pattern[str]]] = []
    for pats in host_lines:
        positive = [fnmatch.translate(p) for p in pats if not p.startswith("!") and p != "*"]
        negated = [fnmatch.translate(p[1:]) for p in pats if p.startswith("!")]
        if not positive:
            continue
        if negated:
            negating.append((re.compile("|".join(negated)), re.compile("|".join(positive))))
        else:
            plain += positive
    any_plain = re.compile("|".join(plain)).match if plain else None

    def named(host: str) -> bool:
        if any_plain is not None and any_plain(host):
            return True
        return any(not neg.match(host) and pos.match(host) for neg, pos in negating)

    return named


@functools.lru_cache(maxsize=8)
def _namer_of(text: str) -> Callable[[str], bool]:
    """The namer of an ssh_config's text, kept per text: the same text gives the same."""
    return _namer(ssh_config_host_patterns(text))


def allow(found: dict[str, list[str]], patterns: list[str] | None,
          ssh_config_text: str | None) -> Allowed:
    """Pure: split discovered hosts into allowed and skipped (see the module's rule)."""
    if patterns is not None:
        ok = lambda h: any(fnmatch.fnmatchcase(h, p) for p in patterns)  # noqa: E731
        rule = "the users file's hosts: list"
    else:
        ok = _namer_of(ssh_config_text or "")
        rule = "a Host line of your ssh_config"
    result = Allowed(rule=rule)
    for h, users in found.items():
        if ok(h):
            result.hosts[h] = users
        else:
            result.skipped.append(h)
    return result


def read_ssh_config(path: str | None) -> str | None:
    """The operator's ssh_config text with its Includes (bounded, regular files), or None."""
    from barnum.transport.sshconfig import SshConfigError, user_text

    try:
        return user_text(path)
    except SshConfigError:  # reported by barnum.transport.sshconfig.check_ssh_config
        return None
