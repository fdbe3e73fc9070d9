"""Find which users have a circus config on which host.

Homes are shared between hosts (NFS-like), so one operator machine can see
every user's ``~/circus/<host>/circus.ini``; the folder name is the host.  The
folder name then becomes an SSH destination and part of a shell command, so
anything that is not a plain host name is skipped with a warning: a folder
called ``-oProxyCommand=...`` must never reach ssh.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\Z")
DEFAULT_TEMPLATE = "{home}/circus/{host}/circus.ini"


def is_valid_host(name: object) -> bool:
    """RFC 1123 host name (labels joined by dots): no leading '-', no metacharacters."""
    return isinstance(name, str) and len(name) <= 253 and bool(HOST_RE.match(name))


@dataclass
class Discovery:
    """``hosts``: host -> users with a circus.ini there (both sorted); warnings, one line each."""

    hosts: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    configs: dict[tuple[str, str], str] = field(default_factory=dict)  # (user, host) -> path


def pwd_home(user: str) -> str | None:
    """The user's home directory from the password database, or None if unknown."""
    import pwd

    try:
        return pwd.getpwnam(user).pw_dir
    except KeyError:
        return None


def discover(
    users: list[str],
    config_template: str | None = None,
    home_of: Callable[[str], str | None] = pwd_home,
) -> Discovery:
    """Glob each user's circus tree; with a template, ``{host}`` is the wildcard."""
    found: dict[str, set[str]] = {}
    d = Discovery()
    for user in users:
        if config_template:
            template = config_template
            home = None
        else:
            home = home_of(user)
            if not home:
                d.warnings.append(f"user {user}: unknown user (no home directory); skipped")
                continue
            if not os.path.isdir(home):
                d.warnings.append(f"user {user}: home {home} does not exist; skipped")
                continue
            template = DEFAULT_TEMPLATE
        pattern, regex = _pattern(template, user, home)
        if config_template:
            root = os.path.dirname(pattern.split("*", 1)[0]) or "/"
            if not os.path.isdir(root):
                d.warnings.append(f"user {user}: {root} does not exist; skipped")
                continue
        for path in sorted(glob.glob(pattern)):
            m = regex.match(path)
            if not m:
                continue
            host = m.group(1)
            if not is_valid_host(host):
                d.warnings.append(
                    f"user {user}: skipping {path!r}: {host!r} is not a valid host name"
                )
                continue
            if not os.path.isfile(path):
                continue
            found.setdefault(host, set()).add(user)
            d.configs[(user, host)] = path
    d.hosts = {h: sorted(found[h]) for h in sorted(found)}
    return d


def _pattern(template: str, user: str, home: str | None) -> tuple[str, re.Pattern[str]]:
    """A glob with ``*`` for {host} and a regex that captures the host back out."""
    marker = "\0HOST\0"
    filled = template.replace("{home}", home or "").replace("{user}", user)
    filled = os.path.expanduser(filled.replace("{host}", marker))
    parts = filled.split(marker)
    pattern = "*".join(glob.escape(p) for p in parts)
    # A second {host} must name the same folder as the first.
    regex = re.escape(parts[0]) + r"(?P<host>[^/]+)"
    regex += "".join(r"(?P=host)" + re.escape(p) if i else re.escape(p)
                     for i, p in enumerate(parts[1:]))
    return pattern, re.compile(regex + r"\Z")
