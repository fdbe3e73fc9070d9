"""The environment systemd gives a circus unit, which is what circusd substitutes
``$(circus.env.X)`` from: not bailey's own (that is the operator's).

systemd builds a service's environment from its manager's defaults, then
``User=``'s HOME, USER, LOGNAME and SHELL, then ``Environment=``, then
``EnvironmentFile=`` (whose settings win over ``Environment=``).  The parsing
here is pure; reading an EnvironmentFile goes through bailey.safefile.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def parse_environment_property(value: str) -> dict[str, str]:
    """``systemctl show -p Environment``: space-separated ``K=V``, quoted when needed."""
    try:
        words = shlex.split(value)
    except ValueError:
        words = value.split()
    return dict(w.split("=", 1) for w in words if "=" in w)


def parse_environment_files_property(value: str) -> list[tuple[str, bool]]:
    """``EnvironmentFiles=/path (ignore_errors=no)`` lines: (path, optional)."""
    out = []
    for line in value.splitlines():
        path, _, rest = line.strip().partition(" ")
        if path:
            out.append((path, "ignore_errors=yes" in rest))
    return out


def parse_environment_file(text: str) -> dict[str, str]:
    """An EnvironmentFile: ``K=V`` lines, ``#``/``;`` comments, optional quotes."""
    env: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if key.startswith("export "):
            key = key[len("export "):].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        env[key] = value
    return env


def unit_environment(user: str | None, props: dict[str, str],
                     read: Callable[[str], str], passwd: Callable[[str], tuple]) -> tuple[
                         dict[str, str], list[str]]:
    """circusd's environment for a unit, and notes on what could not be read.

    ``read(path)`` returns a file's text (raising OSError); ``passwd(user)``
    returns ``(home, shell)`` (raising KeyError).
    """
    env = {"PATH": DEFAULT_PATH}
    notes: list[str] = []
    if user:
        try:
            home, shell = passwd(user)
            env.update(HOME=home, USER=user, LOGNAME=user, SHELL=shell)
        except KeyError:
            notes.append(f"user {user} is not in the password database: no HOME for circusd")
    env.update(parse_environment_property(props.get("Environment", "")))
    for path, optional in parse_environment_files_property(props.get("EnvironmentFiles", "")):
        try:
            env.update(parse_environment_file(read(path)))
        except OSError as e:
            if not optional:
                notes.append(f"EnvironmentFile {path} not read: {e.strerror or e}")
    return env, notes
