"""From the endpoint circusd binds to, the endpoint a client can connect to.

circusd binds the string from circus.ini as written.  Some of those strings
are bind-only (``tcp://*:P``, ``tcp://0.0.0.0:P``) and ``ipc://relative`` is
relative to circusd's working directory, which bailey's is not.  Pure
functions; each result carries the reason, for ``--verbose``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"
# Addresses that mean "every interface" when bound; a client reaches them on
# loopback (circusd runs on this host).
_ANY_HOSTS = {"*": "'*'", "0.0.0.0": "0.0.0.0", "[::]": "[::]", "::": "::"}


@dataclass(frozen=True)
class Derived:
    """A connectable endpoint and why it differs from the configured one."""

    configured: str
    endpoint: str
    reason: str  # empty when unchanged


def split_tcp(address: str) -> tuple[str, str]:
    """``host:port`` into its parts; IPv6 keeps its brackets."""
    host, sep, port = address.rpartition(":")
    if not sep:
        return address, ""
    return host, port


def connectable(configured: str, working_directory: str = "") -> Derived:
    """The endpoint to connect to for circusd bound on ``configured``.

    ``working_directory`` is the unit's WorkingDirectory= (systemd starts
    circusd there; without it, in ``/``).
    """
    scheme, sep, rest = configured.partition("://")
    if not sep:
        return Derived(configured, configured, "")
    if scheme == "tcp":
        host, port = split_tcp(rest)
        if host in _ANY_HOSTS:
            return Derived(
                configured,
                f"tcp://{LOOPBACK}:{port}",
                f"{_ANY_HOSTS[host]} is a bind-only address (every interface); "
                f"circusd runs here, so connect on loopback {LOOPBACK}",
            )
        return Derived(configured, configured, "")
    if scheme == "ipc":
        if rest.startswith("@") or os.path.isabs(rest):
            return Derived(configured, configured, "")
        base = working_directory.lstrip("-!+") or "/"
        path = os.path.normpath(os.path.join(base, rest))
        where = f"WorkingDirectory={working_directory}" if working_directory else (
            "no WorkingDirectory=, so circusd runs in /"
        )
        return Derived(
            configured,
            f"ipc://{path}",
            f"relative ipc path resolves against circusd's working directory ({where})",
        )
    return Derived(configured, configured, "")
