"""What the client and the warm session say to each other over the Unix socket.
Standard library only.

Each message is a 4-byte big-endian length and that many bytes of JSON.  The
client sends one request (``op``: run, complete, status, stop; attach and call
for ``watch`` and the shell, barnum.warm.shared); the session sends one
answer: ``{"code", "chunks"}`` (the output as ``[fd, base64]`` pairs), or
``{"cold": why}`` when the call must run cold, or ``{"error": why}``.  A run
served warm may first send its output as it is written, one ``{"chunk": [fd,
base64]}`` message each; the answer's ``chunks`` is then the rest.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct

TYPE_CHECKING = False  # typing costs each warm call ~3 ms (barnum.warm.paths)
if TYPE_CHECKING:
    from typing import Any

VERSION = 2
MAX_MESSAGE = 64 * 1024 * 1024
# The environment a rendering depends on, passed with each request.
ENV_KEYS = ("TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES",
            "TTY_COMPATIBLE", "TTY_INTERACTIVE", "BARNUM_CONFIG", "HOME", "LANG", "LC_ALL",
            "COMP_LINE", "COMP_POINT", "COMP_TYPE", "_ARGCOMPLETE", "_ARGCOMPLETE_SHELL",
            "_ARGCOMPLETE_IFS", "_ARGCOMPLETE_DFS", "_ARGCOMPLETE_SUPPRESS_SPACE",
            "_ARGCOMPLETE_COMP_WORDBREAKS", "COMP_WORDBREAKS", "_ARGCOMPLETE_STDOUT_FILENAME")


class ProtocolError(Exception):
    """A message that is not one: too long, cut short, not JSON."""


def send(sock: socket.socket, msg: dict[str, Any]) -> None:
    data = json.dumps(msg, separators=(",", ":")).encode()
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"message too long ({len(data)} bytes)")
    sock.sendall(struct.pack(">I", len(data)) + data)


def _exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise ProtocolError("connection closed mid-message")
        buf += chunk
    return bytes(buf)


def recv(sock: socket.socket) -> dict[str, Any]:
    (n,) = struct.unpack(">I", _exactly(sock, 4))
    if n > MAX_MESSAGE:
        raise ProtocolError(f"message too long ({n} bytes)")
    try:
        msg = json.loads(_exactly(sock, n))
    except ValueError:
        raise ProtocolError("message is not JSON") from None
    if not isinstance(msg, dict):
        raise ProtocolError("message is not a JSON object")
    return msg


def pack(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unpack(text: object) -> bytes:
    if not isinstance(text, str):
        raise ProtocolError("output is not base64 text")
    return base64.b64decode(text.encode("ascii"), validate=True)


def peer_uid(conn: socket.socket) -> int:
    """The connected peer's uid (SO_PEERCRED)."""
    size = struct.calcsize("3i")
    _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET,
                                                          socket.SO_PEERCRED, size))
    return uid


def peer_allowed(conn: socket.socket, uid: int | None = None) -> bool:
    """Only the same user is served (and only the same user's session is believed)."""
    return peer_uid(conn) == (os.getuid() if uid is None else uid)


def request(argv: list[str], op: str = "run", environ: dict[str, str] | None = None,
            stdout_tty: bool = False, size: tuple[int, int] | None = None) -> dict[str, Any]:
    env = os.environ if environ is None else environ
    return {"v": VERSION, "op": op, "argv": list(argv), "cwd": os.getcwd(),
            "env": {k: env[k] for k in ENV_KEYS if k in env},
            "stdout_tty": stdout_tty, "size": list(size) if size else None}
