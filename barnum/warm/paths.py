"""Where the warm session listens, and what it is keyed by.  Standard library only:
the console entry point imports this before anything heavy.

The socket lives in ``$XDG_RUNTIME_DIR/barnum/`` or, when that is unset, in
``/tmp/barnum-<uid>/``; either folder must be the user's own and 0700.  Its
name is a short hash of what defines the fleet (the users file and the
``--ssh-config``/``--bailey`` flags, each by path, mtime and content), so a
change to any of them gives a fresh session; the server checks the rest (the
ssh_config and bailey command the users file names) on every request.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from barnum.text.duration import parse_duration

DEFAULT_PERSIST = 600.0  # seconds: ten minutes idle, then the session exits
ENV_PERSIST = "BARNUM_PERSIST"
CONFIG_FILE = "circus_users.yaml"


class WarmError(Exception):
    """A warm socket or folder that must not be used; one line for the operator."""


def runtime_dir(environ: Mapping[str, str] | None = None, uid: int | None = None) -> Path:
    """The folder for the sockets (not created here)."""
    env = os.environ if environ is None else environ
    uid = os.getuid() if uid is None else uid
    xdg = env.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "barnum"
    return Path(f"/tmp/barnum-{uid}")


def check_private(path: Path, kind: str, uid: int | None = None) -> None:
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


def ensure_dir(path: Path) -> Path:
    """Create the socket folder 0700 if missing, then check it is private."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    check_private(path, "dir")
    return path


def find_users_file(explicit: str | None, environ: Mapping[str, str] | None = None,
                    cwd: str | None = None) -> Path | None:
    """The users file a run would read (barnum.model.config.find_config's order), or None."""
    env = os.environ if environ is None else environ
    if explicit:
        return Path(os.path.expanduser(explicit))
    if env.get("BARNUM_CONFIG"):
        return Path(os.path.expanduser(env["BARNUM_CONFIG"]))
    for c in (Path(cwd or os.getcwd()) / CONFIG_FILE,
              Path(os.path.expanduser("~")) / ".config" / "barnum" / CONFIG_FILE):
        if c.is_file():
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
    return f"{p}:{st.st_mtime_ns}:{st.st_size}:".encode() + hashlib.sha256(data).digest()


def key_of(users_file: Path | None, ssh_config: str | None, bailey: str | None) -> str:
    """A short hash of what defines the fleet (short: a socket path must fit 108 bytes)."""
    h = hashlib.sha256()
    for part in (file_part(users_file), file_part(ssh_config), (bailey or "-").encode()):
        h.update(len(part).to_bytes(4, "big") + part)
    return h.hexdigest()[:20]


@dataclass(frozen=True)
class Where:
    """One session's files: the socket, the lock that one server holds, its log."""

    socket: Path
    lock: Path
    log: Path


def where(key: str, base: Path | None = None) -> Where:
    d = base or runtime_dir()
    return Where(d / f"s-{key}.sock", d / f"s-{key}.lock", d / f"s-{key}.log")


_PERSIST_LINE = re.compile(rb"^persist:[ \t]*([^#\r\n]*?)[ \t]*(?:#.*)?$", re.M)


def persist_in_file(users_file: Path | None) -> float | None:
    """The users file's top-level ``persist:`` value, read without YAML (the client must
    start fast); None when absent or unreadable (the server reads it properly)."""
    if users_file is None:
        return None
    try:
        with open(users_file, "rb") as f:
            m = _PERSIST_LINE.search(f.read(1 << 20))
    except OSError:
        return None
    if not m:
        return None
    raw = m.group(1).decode("utf-8", "replace").strip().strip("'\"")
    if raw.lower() in ("false", "off", "no"):
        return 0.0
    try:
        return parse_duration(raw)
    except ValueError:
        return None


def alive(path: Path) -> bool:
    """Whether a session answers on ``path`` (a socket file alone may be a dead one's)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()
