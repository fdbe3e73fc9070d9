"""Where the warm session listens, and what it is keyed by.

The console entry point imports this before anything else, on every call, so it
imports only what Python's start has loaded already or costs next to nothing:
paths are strings (no ``pathlib``), ``Where`` is a plain class (``dataclasses``
pulls in ``inspect``), and SHA-256 comes from its C module (``hashlib`` loads
OpenSSL).  Together that was ~15 ms of each warm call; tests/unit/test_warm.py
checks the console's imports.

The socket lives in ``$XDG_RUNTIME_DIR/barnum/`` or, when that is unset, in
``/tmp/barnum-<uid>/``; either folder must be the user's own and 0700.  Its
name is a short hash of what defines the fleet (the users file and the
``--ssh-config``/``--bailey`` flags, each by path, mtime and content), so a
change to any of them gives a fresh session; the server checks the rest (the
ssh_config and bailey command the users file names) on every request.
"""

from __future__ import annotations

import _socket
import os
import stat

from barnum.text.duration import parse_duration
from barnum.warm.protocol import VERSION


def _sha256_type():
    """SHA-256 from its C module alone (``_sha2`` from 3.12, ``_sha256`` before):
    ``hashlib`` would load OpenSSL first, a cost every warm call paid."""
    for name in ("_sha2", "_sha256"):
        try:
            return __import__(name).sha256
        except ImportError:
            pass
    import hashlib

    return hashlib.sha256


sha256 = _sha256_type()

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_PERSIST = 600.0  # seconds: ten minutes idle, then the session exits
ENV_PERSIST = "BARNUM_PERSIST"
CONFIG_FILE = "circus_users.yaml"


class WarmError(Exception):
    """A warm socket or folder that must not be used; one line for the operator."""


def runtime_dir(environ: Mapping[str, str] | None = None, uid: int | None = None) -> str:
    """The folder for the sockets (not created here)."""
    env = os.environ if environ is None else environ
    uid = os.getuid() if uid is None else uid
    xdg = env.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "barnum")
    return f"/tmp/barnum-{uid}"


def check_private(path: str | os.PathLike[str], kind: str, uid: int | None = None) -> None:
    """``path`` must be the user's own, of ``kind`` ("dir" or "socket"), and reachable by
    nobody else; raises WarmError naming what is wrong."""
    uid = os.getuid() if uid is None else uid
    st = os.lstat(path)
    want = stat.S_ISDIR if kind == "dir" else stat.S_ISSOCK
    if not want(st.st_mode):
        raise WarmError(f"{path} is not a {'folder' if kind == 'dir' else 'socket'}; "
                        "refusing it (remove it)")
    if st.st_uid != uid:
        raise WarmError(f"{path} belongs to uid {st.st_uid}, not {uid}; refusing it")
    if st.st_mode & 0o077:
        raise WarmError(f"{path} has mode {stat.S_IMODE(st.st_mode):04o}, open to others; "
                        f"refusing it (it must be {'0700' if kind == 'dir' else '0600'})")


def ensure_dir(path: str) -> str:
    """Create the socket folder 0700 if missing, then check it is private."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    check_private(path, "dir")
    return path


def find_users_file(explicit: str | None, environ: Mapping[str, str] | None = None,
                    cwd: str | None = None) -> str | None:
    """The users file a run would read (barnum.model.config.find_config's order), or None."""
    env = os.environ if environ is None else environ
    if explicit:
        return os.path.expanduser(explicit)
    if env.get("BARNUM_CONFIG"):
        return os.path.expanduser(env["BARNUM_CONFIG"])
    for c in (os.path.join(cwd or os.getcwd(), CONFIG_FILE),
              os.path.join(os.path.expanduser("~"), ".config", "barnum", CONFIG_FILE)):
        if os.path.isfile(c):
            return c
    return None


def file_part(path: str | os.PathLike | None) -> bytes:
    """A file's identity for the key: its real path, mtime, size and content."""
    if not path:
        return b"-"
    p = os.path.realpath(os.path.expanduser(os.fspath(path)))
    try:
        st = os.stat(p)
        with open(p, "rb") as f:
            data = f.read(1 << 20)
    except OSError:
        return f"{p}:missing".encode()
    return f"{p}:{st.st_mtime_ns}:{st.st_size}:".encode() + sha256(data).digest()


def key_of(users_file: str | os.PathLike[str] | None, ssh_config: str | None,
           bailey: str | None) -> str:
    """A short hash of what defines the fleet (short: a socket path must fit 108 bytes)."""
    h = sha256(b"barnum-warm-%d" % VERSION)  # a client only meets a session it can talk to
    for part in (file_part(users_file), file_part(ssh_config), (bailey or "-").encode()):
        h.update(len(part).to_bytes(4, "big") + part)
    return h.hexdigest()[:20]


class Where:
    """One session's files: the socket, the lock that one server holds, its log."""

    __slots__ = ("lock", "log", "socket")

    def __init__(self, socket: str, lock: str, log: str) -> None:
        self.socket, self.lock, self.log = socket, lock, log

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Where) and (self.socket, self.lock, self.log) == (
            other.socket, other.lock, other.log)

    def __hash__(self) -> int:
        return hash((self.socket, self.lock, self.log))

    def __repr__(self) -> str:
        return f"Where(socket={self.socket!r}, lock={self.lock!r}, log={self.log!r})"


def where(key: str, base: str | None = None) -> Where:
    d = base or runtime_dir()
    return Where(*(os.path.join(d, f"s-{key}.{ext}") for ext in ("sock", "lock", "log")))


def persist_in_file(users_file: str | os.PathLike[str] | None) -> float | None:
    """The users file's top-level ``persist:`` value, read without YAML (the client must
    start fast); None when absent or unreadable (the server reads it properly)."""
    if users_file is None:
        return None
    try:
        with open(users_file, "rb") as f:
            data = f.read(1 << 20)
    except OSError:
        return None
    value = persist_line(data)
    if value is None:
        return None
    raw = value.decode("utf-8", "replace").strip().strip("'\"")
    if raw.lower() in ("false", "off", "no"):
        return 0.0
    try:
        return parse_duration(raw)
    except ValueError:
        return None


def persist_line(data: bytes) -> bytes | None:
    """The value of the first top-level ``persist:`` line (its comment cut), or None."""
    for line in data.splitlines():
        if line.startswith(b"persist:"):
            return line[len(b"persist:"):].split(b"#", 1)[0].strip(b" \t")
    return None


def alive(path: str | os.PathLike[str]) -> bool:
    """Whether a session answers on ``path`` (a socket file alone may be a dead one's)."""
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect(os.fspath(path))
        return True
    except OSError:
        return False
    finally:
        s.close()
