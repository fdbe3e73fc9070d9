"""circusd's event feed: a ZMTP SUB connection to its PUB socket (standard library only).

circusd publishes two-frame messages on ``pubsub_endpoint``: a topic
``watcher.<name>.<action>`` and a JSON body.  Watcher names may hold dots, so
the topic is parsed from both ends: the known prefix on the left, the action
(the last segment) on the right.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bailey import zmtp

PREFIX = "watcher."
ACTIONS = frozenset({"spawn", "reap", "kill", "start", "stop", "reload", "updated",
                     "hook_success", "hook_failure", "add", "remove"})


@dataclass
class Event:
    """One circusd event: the watcher, what happened, and circus's own body."""

    watcher: str
    action: str
    data: dict[str, Any]


def parse_topic(topic: str) -> tuple[str, str] | None:
    """``watcher.<name>.<action>`` -> (name, action); None for other topics."""
    if not topic.startswith(PREFIX):
        return None
    rest = topic[len(PREFIX):]
    name, dot, action = rest.rpartition(".")
    if not dot or not name:
        return None
    return name, action


def parse_message(parts: list[bytes]) -> Event | None:
    """An Event from a multipart message, or None when it is not one (never raises)."""
    if len(parts) < 2:
        return None
    parsed = parse_topic(parts[0].decode("utf-8", "replace"))
    if parsed is None:
        return None
    try:
        data = json.loads(parts[1])
    except (ValueError, RecursionError):
        data = {"raw": parts[1].decode("utf-8", "replace")}
    if not isinstance(data, dict):
        data = {"value": data}
    return Event(parsed[0], parsed[1], data)


class Subscriber:
    """Events from one circusd; :meth:`close` from another thread ends :meth:`events`."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._sock: socket.socket | None = None
        self._closed = False
        self.error: str | None = None  # why events() ended, when the peer broke the protocol

    def connect(self, timeout: float) -> None:
        """Connect and subscribe to every ``watcher.`` topic; raises zmtp.ZmtpError."""
        deadline = time.monotonic() + timeout
        sock = zmtp._connect(self.endpoint, deadline)
        conn = zmtp._Conn(sock, deadline)
        try:
            conn.handshake(b"SUB")
            # ZMTP 3.0 subscription: a message whose first byte is 1, then the prefix.
            conn.send(zmtp.encode_frame(b"\x01" + PREFIX.encode()))
        except BaseException:
            sock.close()
            raise
        conn.deadline = None
        self._conn, self._sock = conn, sock
        if self._closed:
            self.close()

    def events(self) -> Iterator[Event]:
        """Events until the connection ends (circusd stopped, or :meth:`close`)."""
        try:
            while True:
                event = parse_message(self._conn.recv_message())
                if event is not None:
                    yield event
        except zmtp.ZmtpError as e:  # too large, stalled mid-frame, not ZMTP
            self.error = str(e)
            return
        except OSError:
            return

    def close(self) -> None:
        self._closed = True
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
