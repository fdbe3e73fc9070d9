"""TCP connections opened while barnum is still starting.

Importing paramiko costs the client ~150 ms before the first SSH byte, and
each host's sshd spends a good part of its own work (its re-exec, config,
host keys, privilege separation) as soon as a TCP connection arrives.  So
the overview opens every target's TCP connection first (non-blocking, no
threads), before the heavy imports, and sshd starts while barnum imports.

The address comes from a plain reading of the ssh_config's ``Host`` blocks
(HostName, Port); whenever that could differ from paramiko's own lookup
(a ``Match`` block, a ProxyJump/ProxyCommand, a ``%`` token) nothing is
opened early.  :meth:`Preconnect.take` hands a socket over only when
paramiko's lookup names the same address and port, else closes it: the
early socket can never send barnum anywhere it would not go anyway.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import ipaddress
import re
import select
import socket

_LINE = re.compile(r"^\s*(\w+)(?:\s*=\s*|\s+)(.*?)\s*$")


def simple_lookup(text: str, host: str) -> tuple[str, int] | None:
    """(address, port) from Host blocks, OpenSSH's first-value-wins; None if unsure."""
    active = True
    found: dict[str, str] = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m or line.lstrip().startswith("#"):
            continue
        key, value = m.group(1).lower(), m.group(2).split("#")[0].strip().strip('"')
        if key == "match":
            return None
        if key == "host":
            pats = value.split()
            neg = any(fnmatch.fnmatchcase(host, p[1:]) for p in pats if p.startswith("!"))
            active = not neg and any(fnmatch.fnmatchcase(host, p) for p in pats
                                     if not p.startswith("!"))
            continue
        if active and key in ("hostname", "port", "proxyjump", "proxycommand"):
            found.setdefault(key, value)
    if found.get("proxyjump", "none").lower() != "none" or \
            found.get("proxycommand", "none").lower() != "none":
        return None
    name = found.get("hostname", host)
    port = found.get("port", "22")
    if "%" in name or not port.isdigit():
        return None
    return name, int(port)


class Preconnect:
    """Non-blocking TCP connects to IP addresses, taken over by the SSH layer."""

    def __init__(self) -> None:
        self.socks: dict[str, tuple[str, int, socket.socket]] = {}

    def start(self, host: str, address: str, port: int) -> None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return  # a name: resolving it here would block; paramiko does it
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex((address, port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            return
        self.socks[host] = (address, port, s)

    def take(self, host: str, address: str, port: int, timeout: float) -> socket.socket | None:
        """The connected socket for ``host`` if it goes where paramiko would go.

        Not connected within ``timeout``: TimeoutError, as paramiko's own
        connect would raise.  Refused or unreachable: None, and paramiko's
        connect meets (and words) the same error.
        """
        entry = self.socks.pop(host, None)
        if entry is None:
            return None
        addr, p, s = entry
        if (addr, p) != (address, port):
            s.close()
            return None
        try:
            _, writable, _ = select.select([], [s], [], max(0.0, timeout))
            if not writable:
                s.close()
                raise TimeoutError(f"connecting to {address}:{port} timed out")
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                s.close()
                return None
            s.setblocking(True)
            return s
        except OSError:
            s.close()
            return None

    def close(self) -> None:
        for _, _, s in self.socks.values():
            with contextlib.suppress(OSError):
                s.close()
        self.socks.clear()


MAX_EARLY = 256  # file descriptors: a fleet beyond this connects the usual way


def preconnect(hosts: list[str], ssh_config_text: str, limit: int = MAX_EARLY) -> Preconnect:
    """Start a TCP connection to the first ``limit`` hosts whose address is certain."""
    pre = Preconnect()
    for h in hosts[:limit]:
        target = simple_lookup(ssh_config_text, h)
        if target is not None:
            pre.start(h, *target)
    return pre
