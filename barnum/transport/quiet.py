"""A paramiko transport that sleeps while nothing comes (for long-lived links).

paramiko's reader thread reads its socket with a 0.1 s timeout, only to see
whether it should stop: ten wake-ups a second per host, the bulk of an idle
session's cost. A long-lived link sets a long timeout instead and, to close,
shuts the socket down, which wakes that thread at once (and sends the FIN,
which a close from another thread would hold back until its read returns).
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any


def quiet(transport: Any, poll: float, keepalive: int) -> None:
    """Let ``transport``'s reader block up to ``poll`` seconds; SSH keepalive every
    ``keepalive`` seconds (0: off)."""
    sock = getattr(transport, "sock", None)
    if sock is not None and hasattr(sock, "settimeout"):  # a socket, ProxyCommand or channel
        sock.settimeout(poll)
    transport.set_keepalive(keepalive)


def shut(transport: Any) -> None:
    """Wake the transport's reader now and end the TCP connection (before ``close``)."""
    sock = getattr(transport, "sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
