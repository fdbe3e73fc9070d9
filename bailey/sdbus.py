"""systemd's answer over D-Bus, without a process: bailey's hot path.

Two ``systemctl`` processes (list-unit-files, show) cost a host more CPU than
all the rest of bailey's work but Python's start.  This asks the same
questions of the same systemd on the system bus, from this process:
``ListUnitFilesByPatterns`` and, for each unit, ``Properties.Get`` of the
properties ``systemctl show`` would print, all pipelined in one write.  The
answers come back in ``systemctl show``'s text form, so bailey.units turns
them into Units exactly as it does systemctl's output.

Only the little of the D-Bus wire format these calls need: SASL EXTERNAL,
method calls with string arguments, and a reader for any reply.  Anything
unexpected raises DBusError, and bailey.units then asks systemctl instead.
"""

from __future__ import annotations

import functools
import os
import shlex
import socket
import struct

SYSTEM_BUS = "/run/dbus/system_bus_socket"
SYSTEMD = "org.freedesktop.systemd1"
UNIT_IFACE = "org.freedesktop.systemd1.Unit"
SERVICE_IFACE = "org.freedesktop.systemd1.Service"
# property -> interface; FragmentPath and the states are every unit's, the rest a service's
INTERFACES = {"Id": UNIT_IFACE, "UnitFileState": UNIT_IFACE, "ActiveState": UNIT_IFACE,
              "SubState": UNIT_IFACE, "FragmentPath": UNIT_IFACE}
MAX_MESSAGE = 1 << 24


class DBusError(Exception):
    """The bus, or systemd on it, did not answer as expected."""


def _pad(n: int, align: int) -> int:
    return (align - n % align) % align


class _Writer:
    """Marshals the few types a call needs (little endian)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def align(self, a: int) -> None:
        self.buf += b"\0" * _pad(len(self.buf), a)

    def byte(self, v: int) -> None:
        self.buf.append(v)

    def u32(self, v: int) -> None:
        self.align(4)
        self.buf += struct.pack("<I", v)

    def string(self, v: str) -> None:
        data = v.encode()
        self.u32(len(data))
        self.buf += data + b"\0"

    def signature(self, v: str) -> None:
        self.buf.append(len(v))
        self.buf += v.encode() + b"\0"

    def string_array(self, items: list[str]) -> None:
        self.u32(0)
        at = len(self.buf)
        for s in items:
            self.string(s)
        struct.pack_into("<I", self.buf, at - 4, len(self.buf) - at)


class _Reader:
    """Unmarshals any D-Bus value (both byte orders)."""

    def __init__(self, data: bytes, little: bool) -> None:
        self.data = data
        self.pos = 0
        self.e = "<" if little else ">"

    def align(self, a: int) -> None:
        self.pos += _pad(self.pos, a)

    def fixed(self, fmt: str, size: int):
        self.align(size)
        (v,) = struct.unpack_from(self.e + fmt, self.data, self.pos)
        self.pos += size
        return v

    def value(self, sig: str, i: int = 0):
        """The value of the complete type at ``sig[i]``; returns (value, next index)."""
        c = sig[i]
        fixed = {"y": ("B", 1), "b": ("I", 4), "n": ("h", 2), "q": ("H", 2), "i": ("i", 4),
                 "u": ("I", 4), "h": ("I", 4), "x": ("q", 8), "t": ("Q", 8), "d": ("d", 8)}
        if c in fixed:
            v = self.fixed(*fixed[c])
            return (bool(v) if c == "b" else v), i + 1
        if c in "so":
            n = self.fixed("I", 4)
            v = self.data[self.pos:self.pos + n].decode("utf-8", "replace")
            self.pos += n + 1
            return v, i + 1
        if c == "g":
            n = self.data[self.pos]
            v = self.data[self.pos + 1:self.pos + 1 + n].decode()
            self.pos += n + 2
            return v, i + 1
        if c == "v":
            inner, _ = self.value("g")
            v, _ = self.value(inner)
            return v, i + 1
        if c == "a":
            n = self.fixed("I", 4)
            end_sig = _end(sig, i + 1)
            self.align(8 if sig[i + 1] in "({xtd" else _alignment(sig[i + 1]))
            stop, items = self.pos + n, []
            while self.pos < stop:
                v, _ = self.value(sig, i + 1)
                items.append(v)
            if sig[i + 1] == "{":
                return dict(items), end_sig
            return items, end_sig
        if c in "({":
            self.align(8)
            j, out = i + 1, []
            while sig[j] not in ")}":
                v, j = self.value(sig, j)
                out.append(v)
            return tuple(out), j + 1
        raise DBusError(f"unknown D-Bus type {c!r}")


def _alignment(c: str) -> int:
    return {"y": 1, "g": 1, "v": 1, "n": 2, "q": 2}.get(c, 4)


def _end(sig: str, i: int) -> int:
    """Index just past the complete type starting at ``sig[i]``."""
    if sig[i] == "a":
        return _end(sig, i + 1)
    if sig[i] in "({":
        depth = 0
        for j in range(i, len(sig)):
            depth += sig[j] in "({"
            depth -= sig[j] in ")}"
            if depth == 0:
                return j + 1
        raise DBusError(f"bad signature {sig!r}")
    return i + 1


def _call(serial: int, path: str, iface: str, member: str, dest: str,
          args: list[tuple[str, str | list[str]]]) -> bytes:
    """A METHOD_CALL message with string (``s``) and string-array (``as``) arguments."""
    body = _Writer()
    sig = ""
    for kind, v in args:
        sig += kind
        if kind == "s":
            body.string(str(v))
        else:
            body.string_array(list(v))
    head = _Writer()
    head.buf += b"l\x01\x00\x01"
    head.u32(len(body.buf))
    head.u32(serial)
    head.u32(0)
    at = len(head.buf)
    for code, kind, v in ((1, "o", path), (2, "s", iface), (3, "s", member), (6, "s", dest),
                          (8, "g", sig)):
        if code == 8 and not sig:
            continue
        head.align(8)
        head.byte(code)
        head.signature(kind)
        if kind == "g":
            head.signature(str(v))
        else:
            head.string(str(v))
    struct.pack_into("<I", head.buf, at - 4, len(head.buf) - at)
    head.align(8)
    return bytes(head.buf + body.buf)


@functools.lru_cache(maxsize=1024)  # asked for every live unit on every status
def unit_path(name: str) -> str:
    """systemd's object path for a unit name (sd_bus_path_encode)."""
    out = []
    for k, ch in enumerate(name.encode()):
        c = chr(ch)
        if c.isascii() and (c.isalpha() or (c.isdigit() and k > 0)):
            out.append(c)
        else:
            out.append(f"_{ch:02x}")
    return "/org/freedesktop/systemd1/unit/" + ("".join(out) or "_")


class Bus:
    """One connection to the system bus; ``calls`` pipelines and collects replies."""

    def __init__(self, timeout: float, path: str = SYSTEM_BUS) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.serial = 1
        self.signals: list[tuple[str, str]] = []  # (path, member) of signals read by calls
        try:
            self.sock.connect(path)
            uid = str(os.geteuid()).encode().hex()
            self.sock.sendall(b"\0AUTH EXTERNAL " + uid.encode() + b"\r\n")
            line = self._line()
            if not line.startswith(b"OK "):
                raise DBusError(f"bus refused EXTERNAL auth: {line[:60]!r}")
            self.sock.sendall(b"BEGIN\r\n")
            self.calls([("/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello",
                         "org.freedesktop.DBus", [])])
        except BaseException:
            self.sock.close()
            raise

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Bus:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _recv(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise DBusError("the bus closed the connection")
        self.buf += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._recv()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def calls(self, requests: list[tuple[str, str, str, str, list]]) -> list[tuple[bool, object]]:
        """Send every call at once; (ok, first value of the reply or the error text) each."""
        first = self.serial
        msgs = []
        for path, iface, member, dest, args in requests:
            msgs.append(_call(self.serial, path, iface, member, dest, args))
            self.serial += 1
        self.sock.sendall(b"".join(msgs))
        replies: dict[int, tuple[bool, object]] = {}
        while len(replies) < len(requests):
            kind, reply_to, value = self._message()
            if kind in (2, 3) and first <= reply_to < self.serial:
                replies[reply_to] = (kind == 2, value)
            elif kind == 4:
                self.signals.append(value)  # type: ignore[arg-type]
        return [replies[s] for s in range(first, self.serial)]

    def _message(self) -> tuple[int, int, object]:
        while len(self.buf) < 16:
            self._recv()
        little = self.buf[:1] == b"l"
        e = "<" if little else ">"
        body_len, _, fields_len = struct.unpack_from(e + "III", self.buf, 4)
        head_len = 16 + fields_len + _pad(16 + fields_len, 8)
        total = head_len + body_len
        if total > MAX_MESSAGE:
            raise DBusError(f"D-Bus message of {total} bytes")
        while len(self.buf) < total:
            self._recv()
        data, self.buf = self.buf[:total], self.buf[total:]
        kind = data[1]
        r = _Reader(data[:head_len], little)
        r.pos = 12
        fields = dict(r.value("a(yv)")[0])
        reply_to = fields.get(5, 0)
        sig = fields.get(8, "")
        value: object = None
        if sig:
            body = _Reader(data, little)
            body.pos = head_len
            value = body.value(sig)[0]
        if kind == 3:
            value = f"{fields.get(4, 'error')}: {value or ''}"
        elif kind == 4:
            value = (fields.get(1, ""), fields.get(3, ""))
        return kind, reply_to, value


def list_unit_files(bus: Bus, pattern: str) -> list[tuple[str, str]]:
    """(unit name, state) like ``systemctl list-unit-files PATTERN``."""
    ((ok, value),) = bus.calls([("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                 "ListUnitFilesByPatterns", SYSTEMD, [("as", []),
                                                                      ("as", [pattern])])])
    if not ok or not isinstance(value, list):
        raise DBusError(str(value))
    return [(os.path.basename(path), state) for path, state in value]


def show(bus: Bus, names: list[str], properties: tuple[str, ...]) -> list[dict[str, str]]:
    """Per unit, ``properties`` as ``systemctl show -p`` prints them (absent when not there).

    One ``GetAll`` per unit and interface: a round trip through the bus
    daemon costs the host more than parsing a long answer.
    """
    requests = []
    for name in names:
        path = unit_path(name)
        for iface in (UNIT_IFACE, SERVICE_IFACE):
            requests.append((path, "org.freedesktop.DBus.Properties", "GetAll", SYSTEMD,
                             [("s", iface)]))
    answers = iter(bus.calls(requests))
    blocks = []
    for _ in names:
        values: dict = {}
        for iface in (UNIT_IFACE, SERVICE_IFACE):
            ok, value = next(answers)
            if ok and isinstance(value, dict):
                values.update({k: v for k, v in value.items()
                               if INTERFACES.get(k, SERVICE_IFACE) == iface})
        blocks.append({p: as_show_text(p, values[p]) for p in properties if p in values})
    return blocks


def as_show_text(prop: str, value: object) -> str:
    """A property's value in ``systemctl show``'s text form, as bailey.units parses it."""
    if prop == "EnvironmentFiles" and isinstance(value, list):
        return "\n".join(f"{p} (ignore_errors={'yes' if opt else 'no'})"
                         for p, opt in value)
    if isinstance(value, list):
        return " ".join(shlex.quote(str(v)) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
