"""A hostile ZMTP peer, as a circus user could run one (standard library only).

``python3 hostile_zmtp.py MODE PORT [LOG]`` listens on 127.0.0.1:PORT, answers
every connection's ZMTP greeting and READY like circusd, then:

- ``huge``: announces a 2 GiB frame and streams zeros at it until the peer leaves;
- ``stall``: announces a 100-byte frame, sends 10 bytes of it, and goes silent;
- ``deep``: answers any request with a 200,000-deep JSON list (RecursionError bait);
- ``shape``: answers with the request's id and ``statuses`` as a list.

Each accepted connection appends one line to LOG, so a test can count
reconnections.  Used by tests/unit/test_bailey_zmtp_limits.py (locally) and
tests/integration/test_bailey_memory.py (as a circus user on a fleet host).
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading

GIB2 = 2 * 1024 ** 3


def _greeting() -> bytes:
    return b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + (
        b"\x01" + b"\x00" * 31)


def _frame(body: bytes, more: bool = False, command: bool = False) -> bytes:
    flags = (1 if more else 0) | (4 if command else 0)
    if len(body) > 255:
        return bytes([flags | 2]) + struct.pack(">Q", len(body)) + body
    return bytes([flags, len(body)]) + body


def _ready() -> bytes:
    prop = bytes([11]) + b"Socket-Type" + struct.pack(">I", 6) + b"ROUTER"
    return _frame(b"\x05READY" + prop, command=True)


def _read_frame(conn: socket.socket) -> bytes:
    def exact(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise ConnectionError
            buf += chunk
        return buf

    flags = exact(1)[0]
    size = struct.unpack(">Q", exact(8))[0] if flags & 2 else exact(1)[0]
    return exact(size)


def serve(conn: socket.socket, mode: str) -> None:
    try:
        conn.sendall(_greeting())
        conn.recv(64)
        conn.sendall(_ready())
        _read_frame(conn)  # the peer's READY
        if mode == "huge":
            conn.sendall(bytes([2]) + struct.pack(">Q", GIB2))
            zeros = b"\0" * 65536
            while True:
                conn.sendall(zeros)
        if mode == "stall":
            conn.sendall(bytes([0, 100]) + b"x" * 10)
            threading.Event().wait()
        request = _read_frame(conn)  # a DEALER's request (a SUB's subscription)
        try:
            rid = json.loads(request).get("id")
        except ValueError:
            rid = None
        if mode == "deep":
            conn.sendall(_frame(b"[" * 200000 + b"]" * 200000))
        elif mode == "shape":
            conn.sendall(_frame(json.dumps({"id": rid, "status": "ok",
                                            "statuses": ["x"]}).encode()))
        threading.Event().wait()
    except OSError:
        pass
    finally:
        conn.close()


def main(argv: list[str]) -> None:
    mode, port = argv[0], int(argv[1])
    log = argv[2] if len(argv) > 2 else None
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    while True:
        conn, _ = srv.accept()
        if log:
            with open(log, "a") as f:
                f.write("connection\n")
        threading.Thread(target=serve, args=(conn, mode), daemon=True).start()


if __name__ == "__main__":
    main(sys.argv[1:])
