"""Reading files that circus users control, without letting them hurt the operator.

bailey runs as the operator's account, but a circus.ini and what it includes
belong to a circus user, who could make them a FIFO (a hang), a link to
/dev/zero (endless memory) or a link to a file only the operator may read
(its content would be echoed back).  So a user-controlled file is opened
only if it is a regular file, read up to a size limit, and only if the circus
user could read it themselves: circusd runs as that user and reads its
config with that user's rights, so this shows nothing circusd could not see.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

MAX_BYTES = 1024 * 1024  # a circus.ini bigger than this is not a config


class UnsafeFile(OSError):
    """The file is not one bailey will read; ``str()`` is one line naming the path."""

    def __str__(self) -> str:
        return str(self.strerror)


@dataclass(frozen=True)
class Reader:
    """Whose rights a read is checked against: uid and group ids (None: no check)."""

    uid: int | None = None
    gids: frozenset[int] = frozenset()

    @classmethod
    def for_user(cls, user: str | None) -> Reader:
        """The rights of ``user`` from the password and group databases."""
        if not user:
            return cls()
        import grp
        import pwd

        try:
            pw = pwd.getpwnam(user)
        except KeyError:
            return cls()
        gids = {pw.pw_gid}
        try:
            gids |= set(os.getgrouplist(user, pw.pw_gid))
        except OSError:
            gids |= {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
        return cls(pw.pw_uid, frozenset(gids))

    def can_read(self, st: os.stat_result) -> bool:
        """Would this account be allowed to read a file with ``st``'s owner and mode?"""
        if self.uid is None or self.uid == 0:
            return True
        if st.st_uid == self.uid:
            return bool(st.st_mode & stat.S_IRUSR)
        if st.st_gid in self.gids:
            return bool(st.st_mode & stat.S_IRGRP)
        return bool(st.st_mode & stat.S_IROTH)


def _open_checked(path: str, reader: Reader) -> tuple[int, os.stat_result]:
    """An fd on a regular file ``reader`` may read (checked on the opened file, so a
    symlink is judged by what it points to); FileNotFoundError or UnsafeFile."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise UnsafeFile(e.errno, f"{path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(errno.EINVAL, f"{path}: not a regular file (not read)")
        if not reader.can_read(st):
            raise UnsafeFile(errno.EACCES, f"{path}: not readable by the circus user "
                                           "(circusd could not read it either; not read)")
    except BaseException:
        os.close(fd)
        raise
    return fd, st


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
    never blocks on a FIFO, never reads a device.  Directories on the way
    are not checked for search rights (they belong to the same user's tree).
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
