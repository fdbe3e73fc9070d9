"""One audit line per action: who, what, which instances, and the result.

Appended as JSON to a 0600 file, and sent to the local journal when there is
one (the native protocol on /run/systemd/journal/socket: no dependency, and
no shell).  A failure to log is reported on stderr but never hides the
action's result.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from barnum.text.sanitize import clean

JOURNAL_SOCKET = "/run/systemd/journal/socket"


class Audit:
    def __init__(self, path: Path, journal_socket: str | None = JOURNAL_SOCKET,
                 warn: Any = None) -> None:
        self.path = Path(path)
        self.journal_socket = journal_socket
        self.warn = warn or (lambda _m: None)
        self.lock = threading.Lock()
        self.listeners: list[Any] = []  # also told each entry (barnum.history.recorder's action)

    def record(self, who: str, action: str, items: list[dict[str, Any]], result: str,
               **extra: Any) -> dict[str, Any]:
        entry = {"t": round(time.time(), 3), "who": who, "action": action,
                 "items": items, "result": result, **extra}
        line = json.dumps(entry, sort_keys=True, default=str)
        with self.lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW,
                             0o600)
                with os.fdopen(fd, "a") as f:
                    f.write(line + "\n")
            except OSError as e:
                self.warn(f"audit file {self.path}: {e.strerror}")
        self._journal(who, action, items, result, line)
        for tell in self.listeners:
            tell(who, action, items, result, **extra)
        return entry

    def _journal(self, who: str, action: str, items: list[dict[str, Any]], result: str,
                 line: str) -> None:
        if not self.journal_socket or not os.path.exists(self.journal_socket):
            return
        summary = clean(f"barnum web: {who} {action} on {len(items)} item(s): {result}")
        fields = {"MESSAGE": summary, "SYSLOG_IDENTIFIER": "barnum-web", "PRIORITY": "5",
                  "BARNUM_AUDIT": line}
        payload = b"".join(_field(k, v) for k, v in fields.items())
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX,
                                                         socket.SOCK_DGRAM) as s:
            s.sendto(payload, self.journal_socket)


def _field(key: str, value: str) -> bytes:
    """journald's native format; a value with a newline takes the length-prefixed form."""
    data = value.encode()
    if b"\n" not in data:
        return key.encode() + b"=" + data + b"\n"
    return key.encode() + b"\n" + len(data).to_bytes(8, "little") + data + b"\n"
