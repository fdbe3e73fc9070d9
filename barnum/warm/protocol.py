"""What the client and the warm session say to each other over the Unix socket.
Standard library only, and cheap to import: the console pays for it on every call.

Each message is a 4-byte big-endian length and that many bytes of one dict in
``marshal``'s format 4 (read alike by every Python since 3.4), holding only
what JSON could: dicts with str keys, lists, str, bytes, numbers, bools, None
(checked both ways).  Not JSON: its module compiles regular expressions at
import, ~8 ms of each warm call's CPU, and output then needed base64.  marshal
is not safe against data built to harm it, so a message is read only from a
peer of the same uid (SO_PEERCRED, checked by both ends before the first
read), who could harm this user's processes anyway.

The client sends one request (``op``: run, complete, status, stop; attach and call
for ``watch`` and the shell, barnum.warm.shared); the session sends one
answer: ``{"code", "chunks"}`` (the output as ``[fd, bytes]`` pairs), or
``{"cold": why}`` when the call must run cold, or ``{"error": why}``.  A run
served warm may first send its output as it is written, one ``{"chunk": [fd,
bytes]}`` message each; the answer's ``chunks`` is then the rest.
"""

from __future__ import annotations

import _socket
import marshal
import os
import struct

TYPE_CHECKING = False  # typing costs each warm call ~3 ms (barnum.warm.paths)
if TYPE_CHECKING:
    from typing import Any

VERSION = 3  # in the session's key too (barnum.warm.paths): no client meets another's
MARSHAL_FORMAT = 4
MAX_MESSAGE = 64 * 1024 * 1024
MAX_DEPTH = 64  # nesting deeper than any message has
# The environment a rendering depends on, passed with each request.
ENV_KEYS = ("TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES",
            "TTY_COMPATIBLE", "TTY_INTERACTIVE", "BARNUM_CONFIG", "HOME", "LANG", "LC_ALL",
            "COMP_LINE", "COMP_POINT", "COMP_TYPE", "_ARGCOMPLETE", "_ARGCOMPLETE_SHELL",
            "_ARGCOMPLETE_IFS", "_ARGCOMPLETE_DFS", "_ARGCOMPLETE_SUPPRESS_SPACE",
            "_ARGCOMPLETE_COMP_WORDBREAKS", "COMP_WORDBREAKS", "_ARGCOMPLETE_STDOUT_FILENAME")


class ProtocolError(Exception):
    """A message that is not one: too long, cut short, not JSON."""


def plain(obj: Any, depth: int = 0) -> Any:
    """``obj`` as JSON would carry it (tuples as lists, str/int/float subclasses such as
    enums as their values); TypeError for anything JSON could not carry."""
    t = type(obj)
    if t is str or t is bytes or t is int or t is float or t is bool or obj is None:
        return obj
    if depth > MAX_DEPTH:
        raise TypeError("message nested too deep")
    if t is dict:
        out = {}
        for k, v in obj.items():
            out[k if type(k) is str else _key(k)] = plain(v, depth + 1)
        return out
    if t is list or t is tuple:
        return [plain(v, depth + 1) for v in obj]
    if isinstance(obj, str):
        return "".join((obj,))  # the value, as json.dumps writes a str subclass
    if isinstance(obj, bool | int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    raise TypeError(f"a {t.__name__} cannot be sent")


def _key(k: object) -> str:
    """A dict key as JSON writes it: str, int, float, bool and None become text."""
    if isinstance(k, str):
        return "".join((k,))
    if k is None or isinstance(k, bool):
        return {None: "null", True: "true", False: "false"}[k]
    if isinstance(k, int):
        return str(int(k))
    if isinstance(k, float):
        return float.__repr__(float(k))
    raise TypeError(f"a {type(k).__name__} key cannot be sent")


def send(sock: _socket.socket, msg: dict[str, Any]) -> None:
    data = marshal.dumps(plain(msg), MARSHAL_FORMAT)
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"message too long ({len(data)} bytes)")
    sock.sendall(struct.pack(">I", len(data)) + data)


def _exactly(sock: _socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise ProtocolError("connection closed mid-message")
        buf += chunk
    return bytes(buf)


def recv(sock: _socket.socket) -> dict[str, Any]:
    (n,) = struct.unpack(">I", _exactly(sock, 4))
    if n > MAX_MESSAGE:
        raise ProtocolError(f"message too long ({n} bytes)")
    try:
        msg = plain(marshal.loads(_exactly(sock, n)))
    except (EOFError, ValueError, TypeError) as e:
        raise ProtocolError(f"not a message ({e})") from None
    if type(msg) is not dict:
        raise ProtocolError("message is not a dict")
    return msg


def pack(data: bytes) -> bytes:
    """Output bytes as a message carries them (as they are: marshal carries bytes)."""
    return bytes(data)


def unpack(data: object) -> bytes:
    if type(data) is not bytes:
        raise ProtocolError("output is not bytes")
    return data


def peer_uid(conn: _socket.socket) -> int:
    """The connected peer's uid (SO_PEERCRED)."""
    size = struct.calcsize("3i")
    _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(_socket.SOL_SOCKET,
                                                          _socket.SO_PEERCRED, size))
    return uid


def peer_allowed(conn: _socket.socket, uid: int | None = None) -> bool:
    """Only the same user is served (and only the same user's session is believed)."""
    return peer_uid(conn) == (os.getuid() if uid is None else uid)


def request(argv: list[str], op: str = "run", environ: dict[str, str] | None = None,
            stdout_tty: bool = False, size: tuple[int, int] | None = None) -> dict[str, Any]:
    env = os.environ if environ is None else environ
    return {"v": VERSION, "op": op, "argv": list(argv), "cwd": os.getcwd(),
            "env": {k: env[k] for k in ENV_KEYS if k in env},
            "stdout_tty": stdout_tty, "size": list(size) if size else None}
