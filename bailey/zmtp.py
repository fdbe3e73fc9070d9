"""A minimal ZMQ DEALER client (ZMTP 3.0, NULL mechanism) for circusd.

Why: one ``circusctl status`` costs ~190 ms of CPU, nearly all of it
importing zmq, tornado and paramiko.  circusd's control socket is a ROUTER
speaking ZMTP; a DEALER needs only the greeting, a READY command and
length-prefixed frames, so the standard library is enough and a status
costs about a millisecond.

Behaviour copied from ``circus.client.CircusClient``: one JSON frame with a
fresh hex ``id``; frames with another id are skipped; a refused connection is
retried (libzmq reconnects every 100 ms) until the timeout, so a circusd that
is starting is still reached and a dead one is a timeout, as with circusctl.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import struct
import time
from typing import Any

RECONNECT_INTERVAL = 0.1  # libzmq's default ZMQ_RECONNECT_IVL
# circusd's messages are a few KiB; a peer announcing more is refused at the frame
# header, before a byte of it is read (a circus user chooses where bailey connects).
MAX_FRAME = 1024 * 1024
MAX_MESSAGE = 1024 * 1024  # all frames of one multipart message
# Once a frame has begun, its rest must arrive within this many seconds, even on a
# subscription that otherwise waits for events without a deadline.
FRAME_TIMEOUT = 10.0
# Connection errors libzmq keeps retrying silently: circusd may not be up yet.
_RETRYABLE = {errno.ECONNREFUSED, errno.ENOENT, errno.ECONNRESET, errno.EAGAIN}

_FLAG_MORE = 0x01
_FLAG_LONG = 0x02
_FLAG_COMMAND = 0x04


class ZmtpError(Exception):
    """The endpoint is unusable, the peer broke the protocol, or the reply is not JSON."""


class ZmtpTimeout(ZmtpError):
    """No reply within the timeout (nothing listening, or circusd not answering)."""


class ZmtpTooLarge(ZmtpError):
    """The peer announced a frame or message over MAX_FRAME / MAX_MESSAGE bytes."""


def greeting() -> bytes:
    """Our 64-byte ZMTP 3.0 greeting: signature, version 3.0, NULL, as-server 0."""
    return b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + (
        b"\x00" * 32
    )


def encode_frame(body: bytes, *, more: bool = False, command: bool = False) -> bytes:
    flags = (_FLAG_MORE if more else 0) | (_FLAG_COMMAND if command else 0)
    if len(body) > 255:
        return bytes([flags | _FLAG_LONG]) + struct.pack(">Q", len(body)) + body
    return bytes([flags, len(body)]) + body


def ready_command(socket_type: bytes = b"DEALER") -> bytes:
    """The NULL mechanism's READY command with our Socket-Type."""
    prop = bytes([len(b"Socket-Type")]) + b"Socket-Type" + struct.pack(">I", len(socket_type))
    return encode_frame(b"\x05READY" + prop + socket_type, command=True)


def parse_command(body: bytes) -> tuple[str, bytes]:
    """A command frame's name and data."""
    if not body:
        raise ZmtpError("empty ZMTP command")
    n = body[0]
    return body[1 : 1 + n].decode("ascii", "replace"), body[1 + n :]


def parse_endpoint(endpoint: str) -> tuple[int, Any]:
    """``(address family, address)`` for ``tcp://host:port`` or ``ipc://path``."""
    scheme, sep, rest = endpoint.partition("://")
    if scheme == "tcp" and sep:
        host, _, port = rest.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not host or not port.isdigit():
            raise ZmtpError(f"invalid tcp endpoint {endpoint!r} (want tcp://host:port)")
        if host == "*":
            raise ZmtpError(f"{endpoint!r} is a bind-only address")
        return socket.AF_INET, (host, int(port))
    if scheme == "ipc" and sep:
        if not rest:
            raise ZmtpError(f"invalid ipc endpoint {endpoint!r}")
        # libzmq: "ipc://@name" is the abstract namespace.
        return socket.AF_UNIX, ("\0" + rest[1:] if rest.startswith("@") else rest)
    raise ZmtpError(f"unsupported endpoint {endpoint!r} (only tcp:// and ipc://)")


class _Conn:
    """One ZMTP connection with a deadline on every read and write.

    Reads go into one bytearray (linear, never ``bytes +=``), never more than
    a frame's announced size, and that size is capped before anything is read.
    """

    def __init__(self, sock: socket.socket, deadline: float | None) -> None:
        self.sock = sock
        self.deadline = deadline  # None: wait for a frame's start without limit (pub/sub)
        self.buf = bytearray()
        self._frame_deadline: float | None = None  # set while a frame is half-read

    def _remaining(self) -> float | None:
        deadlines = [d for d in (self.deadline, self._frame_deadline) if d is not None]
        if not deadlines:
            return None
        left = min(deadlines) - time.monotonic()
        if left <= 0:
            raise ZmtpTimeout("timed out" if self._frame_deadline is None
                              else "timed out in the middle of a frame")
        return left

    def send(self, data: bytes) -> None:
        self.sock.settimeout(self._remaining())
        try:
            self.sock.sendall(data)
        except socket.timeout:  # noqa: UP041 - not TimeoutError before 3.10 (shipped bailey)
            raise ZmtpTimeout("timed out sending") from None

    def recv_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self.sock.settimeout(self._remaining())
            try:
                chunk = self.sock.recv(min(65536, max(4096, n - len(self.buf))))
            except socket.timeout:  # noqa: UP041 - not TimeoutError before 3.10 (shipped bailey)
                raise ZmtpTimeout("timed out waiting for circusd" if self._frame_deadline is None
                                  else "timed out in the middle of a frame") from None
            if not chunk:
                raise ConnectionResetError(errno.ECONNRESET, "connection closed by peer")
            self.buf += chunk
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def recv_frame(self, budget: int = MAX_FRAME) -> tuple[int, bytes]:
        """One frame of at most ``budget`` bytes (ZmtpTooLarge before reading more)."""
        flags = self.recv_exact(1)[0]
        if self.deadline is None:
            self._frame_deadline = time.monotonic() + FRAME_TIMEOUT
        try:
            if flags & _FLAG_LONG:
                (size,) = struct.unpack(">Q", self.recv_exact(8))
            else:
                size = self.recv_exact(1)[0]
            limit = min(MAX_FRAME, budget)
            if size > limit:
                raise ZmtpTooLarge(f"the peer announced a {_size(size)} frame "
                                   f"(over bailey's {_size(limit)} limit); not read")
            return flags, self.recv_exact(size)
        finally:
            self._frame_deadline = None

    def handshake(self, socket_type: bytes = b"DEALER") -> None:
        self.send(greeting())
        peer = self.recv_exact(64)
        if peer[0] != 0xFF or peer[9] != 0x7F:
            raise ZmtpError("the peer does not speak ZMTP (bad greeting)")
        if peer[10] < 3:
            raise ZmtpError(f"the peer speaks ZMTP {peer[10]}.x; ZMTP 3 needed")
        mechanism = peer[12:32].rstrip(b"\x00")
        if mechanism != b"NULL":
            wanted = mechanism.decode(errors="replace")
            raise ZmtpError(f"the peer wants security mechanism {wanted}")
        self.send(ready_command(socket_type))
        flags, body = self.recv_frame()
        if not flags & _FLAG_COMMAND:
            raise ZmtpError("the peer sent a message before READY")
        name, data = parse_command(body)
        if name == "ERROR":
            raise ZmtpError(f"the peer refused us: {data[1:].decode(errors='replace')}")
        if name != "READY":
            raise ZmtpError(f"unexpected ZMTP command {name!r} during handshake")

    def recv_message(self) -> list[bytes]:
        """One multipart message of at most MAX_MESSAGE bytes; commands (PING) are skipped."""
        parts: list[bytes] = []
        left = MAX_MESSAGE
        while True:
            flags, body = self.recv_frame(left)
            if flags & _FLAG_COMMAND:
                continue
            parts.append(body)
            left -= len(body)
            if not flags & _FLAG_MORE:
                return parts


def _size(n: int) -> str:
    """Bytes for a one-line message: 2 GiB, 1 MiB, 300 bytes."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.4g} {unit}"
    return f"{n} bytes"


def _connect(endpoint: str, deadline: float) -> socket.socket:
    """A connected socket, retrying refused connections until the deadline."""
    family, address = parse_endpoint(endpoint)
    last: OSError | None = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            why = f" ({os.strerror(last.errno)})" if last and last.errno else ""
            raise ZmtpTimeout(f"timed out connecting{why}")
        try:
            if family == socket.AF_UNIX:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(left)
                try:
                    sock.connect(address)
                except BaseException:
                    sock.close()
                    raise
            else:
                host, port = address
                # bytes: getaddrinfo would import the idna codec (and unicodedata) for a str
                name = host.encode("ascii") if host.isascii() else host
                sock = socket.create_connection((name, port), timeout=left)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except socket.timeout:  # noqa: UP041 - not TimeoutError before 3.10 (shipped bailey)
            raise ZmtpTimeout("timed out connecting") from None
        except socket.gaierror as e:
            raise ZmtpError(f"cannot resolve {address[0]!r}: {e.strerror or e}") from None
        except OSError as e:
            if e.errno not in _RETRYABLE:
                raise ZmtpError(f"cannot connect to {endpoint}: {e.strerror or e}") from None
            last = e
            time.sleep(min(RECONNECT_INTERVAL, max(0.0, deadline - time.monotonic())))


def call(endpoint: str, message: dict[str, Any], timeout: float,
         resend: bool = True) -> dict[str, Any]:
    """Send ``message`` (an ``id`` is added) and return circusd's reply with that id.

    Raises ZmtpTimeout when nothing answers within ``timeout`` seconds and
    ZmtpError for anything else that prevents an answer.  With ``resend``
    False a message once sent is never sent again (a command with an
    effect): a connection lost after it waits out the timeout, as libzmq's.
    """
    deadline = time.monotonic() + timeout
    call_id = os.urandom(16).hex()
    payload = json.dumps({**message, "id": call_id}).encode()
    while True:
        sock = _connect(endpoint, deadline)
        conn = _Conn(sock, deadline)
        sent = False
        try:
            conn.handshake()
            conn.send(encode_frame(payload))
            sent = True
            while True:
                for part in conn.recv_message():
                    try:
                        reply = json.loads(part)
                    except ValueError as e:
                        raise ZmtpError(f"reply is not JSON: {e}") from None
                    except RecursionError:
                        raise ZmtpError("reply is JSON nested too deeply") from None
                    if isinstance(reply, dict) and reply.get("id") == call_id:
                        return reply
        except (ConnectionResetError, BrokenPipeError):
            # circusd went away mid-way (e.g. restarting): libzmq would
            # reconnect and resend; so do we, within the same deadline.
            if sent and not resend:
                time.sleep(max(0.0, deadline - time.monotonic()))
                raise ZmtpTimeout("timed out (connection lost after sending)") from None
            time.sleep(min(RECONNECT_INTERVAL, max(0.0, deadline - time.monotonic())))
            continue
        finally:
            sock.close()
