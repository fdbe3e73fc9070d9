"""Reading files that circus users control, without letting them hurt the operator.

bailey runs as the operator's account (or root), but a circus.ini, what it
includes and a watcher's output file are named by a circus user, who could
make them a FIFO (a hang), a link to /dev/zero (endless memory), or a path
(direct, through a symlink, or ``../..``) to a file only the operator may
read, whose content would be echoed back.  So a user-named file is opened
only if the circus user could open it themselves, is a regular file, and is
read up to a size limit.  circusd runs as that user, so this shows nothing
circusd could not see.

Who decides that the circus user may read the file:

- bailey runs as that user (or no user is given): the kernel, by a plain open;
- bailey runs as root: the kernel again, in a forked child that takes the
  user's uid, gid and groups, opens the file and passes the open descriptor
  back (SCM_RIGHTS); nothing is checked in one step and used in another;
- bailey runs as a third account (the operator): bailey walks the path one
  component at a time from ``/``, each step opened relative to the
  directory descriptor just checked (``O_PATH | O_NOFOLLOW``), symlinks
  followed by hand; every directory must grant the user search (x) and the
  file read (r), by owner, groups, mode and POSIX ACL, judged on the
  descriptor itself (``fstat``), so a path renamed, re-linked or
  bind-mounted between the check and the open changes nothing: what is
  checked is what is read.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from dataclasses import dataclass
from typing import Any

MAX_BYTES = 1024 * 1024  # a circus.ini bigger than this is not a config
MAX_SYMLINKS = 40  # as the kernel's ELOOP limit
CHILD_TIMEOUT = 10.0  # seconds for the open-as-the-user child
GROUP_FILE = "/etc/group"
GROUPS_TTL = 30.0  # seconds a user's group list is reused while GROUP_FILE stays the same
_R, _X = 4, 1

class UnsafeFile(OSError):
    """The file is not one bailey will read; ``str()`` is one line naming the path."""

    def __str__(self) -> str:
        return str(self.strerror)


@dataclass(frozen=True)
class Reader:
    """Whose rights a read is checked against: uid and group ids (None: no check)."""

    uid: int | None = None
    gids: frozenset[int] = frozenset()
    gid: int | None = None  # primary group (the child's gid); None: the smallest of gids
    name: str | None = None

    @classmethod
    def for_user(cls, user: str | None) -> Reader:
        """The rights of ``user`` from the password and group databases."""
        if not user:
            return cls()
        import pwd

        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            return cls()
        return cls(pw.pw_uid, _groups(user, pw.pw_gid), pw.pw_gid, user)

    @property
    def child_gid(self) -> int | None:
        """The gid a child opening files as this reader takes (None: no uid)."""
        if self.uid is None:
            return None
        return self.gid if self.gid is not None else min(self.gids, default=self.uid)

    @property
    def who(self) -> str:
        return self.name or f"uid {self.uid}"

    def allows(self, st: os.stat_result, want: int, acl: bytes | None = None) -> bool:
        """Would this account get ``want`` (r=4, x=1) on an inode with ``st`` (and ``acl``)?"""
        if self.uid is None or self.uid == 0:
            return True
        if acl:
            granted = _acl_perms(acl, st, self)
            if granted is not None:
                return granted & want == want
        if st.st_uid == self.uid:
            bits = st.st_mode >> 6
        elif st.st_gid in self.gids:
            bits = st.st_mode >> 3
        else:
            bits = st.st_mode
        return bits & want == want

    def can_read(self, st: os.stat_result) -> bool:
        """Would this account be allowed to read a file with ``st``'s owner and mode?"""
        return self.allows(st, _R)


_GROUPS: dict[tuple[str, int], tuple[float, Any, frozenset[int]]] = {}


def _groups(user: str, gid: int) -> frozenset[int]:
    """``user``'s group ids, reused for GROUPS_TTL while GROUP_FILE is unchanged.

    getgrouplist asks every NSS source (on systemd hosts also PID 1, by varlink):
    a quarter of a millisecond per circus user per status in bailey --serve.  A
    group change reaches a running circusd only when it restarts, so a list at most
    GROUPS_TTL old judges no file differently from the circusd whose config it is.
    """
    import time

    now = time.monotonic()
    try:
        st = os.stat(GROUP_FILE)
        mark: Any = (st.st_mtime_ns, st.st_ino, st.st_size)
    except OSError:
        mark = None
    hit = _GROUPS.get((user, gid))
    if hit is not None and hit[1] == mark and 0 <= now - hit[0] < GROUPS_TTL:
        return hit[2]
    gids = {gid}
    try:
        gids |= set(os.getgrouplist(user, gid))
    except OSError:
        import grp

        gids |= {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    if len(_GROUPS) > 1024:  # users come and go; never grow without bound
        _GROUPS.clear()
    _GROUPS[(user, gid)] = (now, mark, frozenset(gids))
    return frozenset(gids)


# POSIX ACL xattr (linux/posix_acl_xattr.h): version 2, then (tag u16, perm u16, id u32).
_ACL_USER_OBJ, _ACL_USER, _ACL_GROUP_OBJ, _ACL_GROUP, _ACL_MASK, _ACL_OTHER = (
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20)


def _acl_perms(acl: bytes, st: os.stat_result, who: Reader) -> int | None:
    """The permission bits the ACL grants ``who`` (POSIX.1e order); None if unparsable."""
    if len(acl) < 4 or (len(acl) - 4) % 8 or struct.unpack_from("<I", acl)[0] != 2:
        return None
    entries = [struct.unpack_from("<HHI", acl, off) for off in range(4, len(acl), 8)]
    mask = next((perm for tag, perm, _ in entries if tag == _ACL_MASK), 7)
    by_tag = {tag: perm for tag, perm, _ in entries if tag in (_ACL_USER_OBJ, _ACL_OTHER)}
    if st.st_uid == who.uid:
        return by_tag.get(_ACL_USER_OBJ, 0)
    for tag, perm, ident in entries:
        if tag == _ACL_USER and ident == who.uid:
            return perm & mask
    groups = [perm for tag, perm, ident in entries
              if (tag == _ACL_GROUP_OBJ and st.st_gid in who.gids)
              or (tag == _ACL_GROUP and ident in who.gids)]
    if groups:
        best = 0
        for perm in groups:
            best |= perm & mask  # any matching entry that grants the bit grants it
        return best
    return by_tag.get(_ACL_OTHER, 0)


def _acl(fd: int) -> bytes | None:
    """The inode's access ACL, read through /proc (an O_PATH fd has no fgetxattr)."""
    try:
        return os.getxattr(f"/proc/self/fd/{fd}", "system.posix_acl_access")
    except OSError:
        return None  # no ACL (ENODATA), none supported, or no /proc: the mode bits rule


def _refuse(path: str, why: str, code: int = errno.EACCES) -> UnsafeFile:
    return UnsafeFile(code, f"{path}: {why}")


def _unreachable(path: str, reader: Reader, where: str = "") -> UnsafeFile:
    at = f"; {where} is not searchable for it" if where else ""
    return _refuse(path, f"not readable by the circus user {reader.who}{at} "
                         "(circusd could not read it either; not read)")


READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC  # never blocks


def _plain_open(path: str) -> tuple[int, os.stat_result]:
    try:
        fd = os.open(path, READ_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise UnsafeFile(e.errno, f"{path}: {e.strerror}") from None
    return fd, os.fstat(fd)


def _walk(path: str, reader: Reader, *, directory: int = 0,
          ) -> tuple[int, os.stat_result]:
    """Resolve ``path`` as ``reader`` would, one checked descriptor at a time.

    Returns an fd opened for reading on the regular file (``directory``: the
    rights ``reader`` needs on a directory instead, and an O_PATH fd on it).
    Raises FileNotFoundError or UnsafeFile.
    """
    base = path if os.path.isabs(path) else os.path.join(os.getcwd(), path)
    todo = base.split("/")
    todo.reverse()  # a stack: pop() is the next component
    root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    cur, cur_name, links = root, "/", 0
    fds = [root]
    try:
        while True:
            while todo and todo[-1] in ("", "."):
                todo.pop()
            if not todo:
                break  # ends at a directory (path "/", or a trailing slash)
            name = todo.pop()
            cur_st = os.fstat(cur)
            if not reader.allows(cur_st, _X, _acl(cur)):
                raise _unreachable(path, reader, cur_name)
            try:
                fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=cur)
            except FileNotFoundError:
                raise
            except OSError as e:
                raise UnsafeFile(e.errno, f"{path}: {e.strerror}") from None
            fds.append(fd)
            st = os.fstat(fd)
            last = not any(c not in ("", ".") for c in todo)
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_SYMLINKS:
                    raise _refuse(path, "too many levels of symbolic links", errno.ELOOP)
                try:
                    target = os.readlink(name, dir_fd=cur)
                except OSError:  # no longer a link: it changed while being read
                    raise _refuse(path, "changed while being checked (not read)") from None
                todo.extend(reversed(target.split("/")))
                if target.startswith("/"):
                    cur, cur_name = root, "/"
                continue
            if not last or directory:
                if not stat.S_ISDIR(st.st_mode):
                    raise _refuse(path, "not a directory on the way (not read)", errno.ENOTDIR)
                cur, cur_name = fd, os.path.normpath(os.path.join(cur_name, name))
                continue
            if not stat.S_ISREG(st.st_mode):
                raise _refuse(path, "not a regular file (not read)", errno.EINVAL)
            if not reader.allows(st, _R, _acl(fd)):
                raise _unreachable(path, reader)
            try:
                rfd = os.open(name, READ_FLAGS | os.O_NOFOLLOW, dir_fd=cur)
            except OSError as e:
                raise UnsafeFile(e.errno, f"{path}: {e.strerror}") from None
            rst = os.fstat(rfd)
            if (rst.st_dev, rst.st_ino) != (st.st_dev, st.st_ino):
                os.close(rfd)
                raise _refuse(path, "changed while being checked (not read)")
            return rfd, rst
        if not directory:
            raise _refuse(path, "not a regular file (not read)", errno.EISDIR)
        st = os.fstat(cur)
        if not reader.allows(st, directory, _acl(cur)):
            raise _refuse(path, f"not searchable or listable by the circus user {reader.who}")
        fds.remove(cur)
        return cur, st
    finally:
        for fd in fds:
            os.close(fd)


# What a child holding the circus user's ids does with one path: open it (the kernel
# judges), pass the descriptor back (SCM_RIGHTS) or say why not.  Kept as source text
# because it runs in two places: in a forked child (one file) and in the kept helper
# of bailey.opener, a fresh interpreter that is given this text and nothing else.
OPEN_REPLY_SOURCE = """
def open_reply(sock, path, flags):
    import os, socket, stat
    try:
        p = os.open(path, os.O_PATH | os.O_CLOEXEC)
        try:
            st = os.fstat(p)
        finally:
            os.close(p)
        if not stat.S_ISREG(st.st_mode):
            sock.sendall(b"notreg")
            return
        fd = os.open(path, flags)
    except (OSError, ValueError) as e:  # ValueError: a NUL in the name
        sock.sendall(b"errno %d" % (getattr(e, "errno", None) or 22))
        return
    try:
        st2 = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (st2.st_dev, st2.st_ino):
            sock.sendall(b"changed")
        else:
            socket.send_fds(sock, [b"fd"], [fd])
    finally:
        os.close(fd)
"""
_code: dict = {}
exec(compile(OPEN_REPLY_SOURCE, "<bailey.safefile.OPEN_REPLY_SOURCE>", "exec"), _code)
_open_reply = _code["open_reply"]


def _child_open(sock, path: str, reader: Reader, uid: int, gid: int) -> None:
    """In the forked child: become the user, open, pass the fd (or why not) back."""
    os.setgroups(sorted(reader.gids))
    os.setgid(gid)
    os.setuid(uid)
    _open_reply(sock, path, READ_FLAGS)


def answer(path: str, reader: Reader, msg: bytes, fds: list[int],
           ) -> tuple[int, os.stat_result]:
    """The descriptor a user's child passed back, or the error its word names."""
    if fds:
        for extra in fds[1:]:
            os.close(extra)
        return fds[0], os.fstat(fds[0])
    if msg == b"notreg":
        raise _refuse(path, "not a regular file (not read)", errno.EINVAL)
    if msg == b"changed":
        raise _refuse(path, "changed while being checked (not read)")
    if msg.startswith(b"errno "):
        code = int(msg[6:] or 0)
        if code == errno.ENOENT:
            raise FileNotFoundError(code, f"{path}: no such file")
        if code == errno.EACCES:
            raise _unreachable(path, reader)
        raise UnsafeFile(code, f"{path}: {os.strerror(code)} (as the circus user {reader.who})")
    raise ChildUnavailable("the child could not take the user's ids")


def _open_as_user(path: str, reader: Reader) -> tuple[int, os.stat_result]:
    """Open ``path`` in a forked child that becomes ``reader`` (root only): the kernel
    decides, in one step, with the user's uid, gid and groups.

    A fork, not a new interpreter: about a millisecond.  The child runs only
    system calls (no lock another thread could hold) and leaves by _exit.
    """
    import contextlib
    import signal
    import socket

    uid, gid = reader.uid, reader.child_gid
    if uid is None or gid is None:  # no user to become: the walk decides
        raise ChildUnavailable("no circus user to open the file as")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            pid = os.fork()
        except OSError as e:
            raise ChildUnavailable(str(e)) from None
        if pid == 0:  # the child
            code = 0
            try:
                ours.close()
                _child_open(theirs, path, reader, uid, gid)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        theirs.close()
        msg, fds = b"", list[int]()
        try:
            ours.settimeout(CHILD_TIMEOUT)
            msg, fds, _flags, _addr = socket.recv_fds(ours, 64, 1)
        except OSError:  # no answer in time (a hung file system): the child goes
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        finally:
            os.waitpid(pid, 0)  # it has answered (or was killed): it ends now
    finally:
        ours.close()
        theirs.close()
    return answer(path, reader, msg, fds)


class ChildUnavailable(Exception):
    """The open-as-the-user child could not run; the walk decides instead."""


_helpers: Any = None  # bailey.opener.Helpers while a bailey --serve keeps them


def use_helpers(helpers: Any) -> Any:
    """Open as the user through ``helpers`` (bailey.opener), or None: a forked child
    per file.  Returns what was in use."""
    global _helpers
    previous, _helpers = _helpers, helpers
    return previous


def strategy(reader: Reader) -> str:
    """How readability is decided for ``reader``: "kernel", "as-user" or "walk"."""
    euid = os.geteuid()
    if reader.uid is None or reader.uid == euid:
        return "kernel"
    if euid == 0:
        return "as-user"
    return "walk"


def open_checked(path: str, reader: Reader, how: str | None = None,
                 ) -> tuple[int, os.stat_result]:
    """An fd on a regular file ``reader`` may read, and its stat.

    Raises FileNotFoundError or UnsafeFile (one line naming the path).  ``how``
    overrides :func:`strategy` (tests).
    """
    if "\0" in path:  # no file has such a name; os.open would raise ValueError
        shown = path.replace("\0", "\\0")
        raise UnsafeFile(errno.EINVAL, f"{shown}: a NUL byte in the name (not read)")
    how = how or strategy(reader)
    if how == "as-user":
        helpers = _helpers
        try:
            got = helpers.open(path, reader) if helpers is not None else None
            fd, st = got if got is not None else _open_as_user(path, reader)
        except ChildUnavailable:
            fd, st = _walk(path, reader)
    elif how == "walk":
        fd, st = _walk(path, reader)
    else:
        fd, st = _plain_open(path)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise _refuse(path, "not a regular file (not read)", errno.EINVAL)
    return fd, st


def can_see(directory: str, reader: Reader, list_it: bool) -> bool:
    """May ``reader`` reach ``directory`` (and list it, for a glob): may a glob run
    by that user look for names there?"""
    if strategy(reader) == "kernel":
        return True  # the glob already ran with the kernel deciding
    try:
        fd, _ = _walk(directory, reader, directory=_R | _X if list_it else _X)
    except OSError:
        return False
    os.close(fd)
    return True


def _open_checked(path: str, reader: Reader) -> tuple[int, os.stat_result]:
    return open_checked(path, reader)


def tail_lines(path: str, reader: Reader, n: int, limit: int = 256 * 1024,
               ) -> tuple[list[str], bool]:
    """The last ``n`` lines of a growing log, from at most its last ``limit`` bytes.

    Same checks as read_text (regular file, readable by ``reader``, never
    blocks); bytes that are not UTF-8 are replaced, not refused: a log is not
    a config.  The second value says whether older lines were left out.
    """
    fd, st = _open_checked(path, reader)
    try:
        start = max(0, st.st_size - limit)
        chunks, got = [], 0
        while got < limit:
            data = os.pread(fd, limit - got, start + got)
            if not data:
                break
            chunks.append(data)
            got += len(data)
    finally:
        os.close(fd)
    text = b"".join(chunks).decode("utf-8", "replace")
    lines = text.splitlines()
    if start > 0 and lines:
        lines = lines[1:]  # begun mid-line
    return lines[-n:] if n else [], start > 0 or len(lines) > n


def read_text(path: str, reader: Reader = Reader(), limit: int = MAX_BYTES) -> str:
    """A regular file's text, at most ``limit`` bytes, readable by ``reader``.

    Raises :class:`UnsafeFile` (or FileNotFoundError) with a one-line reason;
    never blocks on a FIFO, never reads a device, never reads what
    ``reader`` could not (see the module's docstring).
    """
    fd, st = _open_checked(path, reader)
    try:
        if st.st_size > limit:
            raise UnsafeFile(errno.EFBIG, f"{path}: larger than {limit} bytes (not read)")
        data = os.read(fd, limit + 1)
        chunks = [data]
        while data and sum(map(len, chunks)) <= limit:
            data = os.read(fd, limit + 1)
            chunks.append(data)
        raw = b"".join(chunks)
        if len(raw) > limit:
            raise UnsafeFile(errno.EFBIG, f"{path}: larger than {limit} bytes (not read)")
    finally:
        os.close(fd)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UnsafeFile(errno.EILSEQ, f"{path}: not valid UTF-8 (byte {e.start})") from None
