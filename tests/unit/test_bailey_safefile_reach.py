"""A circus user names a file it cannot reach: bailey must not read it (issue 18 #3).

Real folders under /tmp: an "operator" folder (0700, this account) holds a
0644 file; a stand-in circus user (another uid, in no group of ours) names it
directly, through a symlink and by ``..``.  Both of bailey's ways are tested:
``as-user`` (root opens in a child that takes the user's ids: the kernel
decides), ``kept`` (the same, by bailey --serve's kept helper, bailey.opener)
and ``walk`` (descriptor by descriptor, as an operator account
does).  A thread swapping the path while bailey reads never gets the secret
through, and a legitimately readable file still reads.
"""

from __future__ import annotations

import contextlib
import errno
import os
import struct
import threading

import pytest

from bailey import opener, safefile
from bailey.circusini import read_circus_ini
from bailey.safefile import Reader, UnsafeFile, open_checked, tail_lines

SECRET = "operator-only-31c7"
USER = Reader(uid=4242, gids=frozenset({4242}), gid=4242)
WAYS = ["as-user", "kept", "walk"] if os.geteuid() == 0 else ["walk"]
HELPERS = opener.Helpers()  # one for the module: its helper answers many reads


@pytest.fixture(scope="module", autouse=True)
def _close_helpers():
    yield
    HELPERS.close()


def _read(path, how: str) -> str:
    if how == "kept":
        previous = safefile.use_helpers(HELPERS)
        try:
            fd, _ = open_checked(str(path), USER, "as-user")
        finally:
            safefile.use_helpers(previous)
        assert len(HELPERS) == 1  # it went through the kept helper
    else:
        fd, _ = open_checked(str(path), USER, how)
    with os.fdopen(fd, "rb") as f:
        return f.read().decode()


@pytest.fixture
def tree(reachable_tmp):
    """home/ (the user's, 0755) with a good log; private/ (0700) with a 0644 secret."""
    home, private = reachable_tmp / "home", reachable_tmp / "private"
    home.mkdir(mode=0o755)
    private.mkdir(mode=0o700)
    (private / "secret.out").write_text(SECRET + "\n")
    (private / "secret.out").chmod(0o644)
    (home / "good.out").write_text("good line\n")
    (home / "logs").mkdir(mode=0o755)
    return home, private


@pytest.mark.parametrize("how", WAYS)
def test_a_file_in_a_folder_the_user_cannot_search_is_refused(tree, how):
    home, private = tree
    (home / "link.out").symlink_to(private / "secret.out")
    named = {
        "direct": private / "secret.out",
        "symlink": home / "link.out",
        "relative": f"{home}/logs/../../private/secret.out",
    }
    for way, path in named.items():
        with pytest.raises(UnsafeFile) as e:
            _read(path, how)
        assert "not readable by the circus user uid 4242" in str(e.value), way
        assert "\n" not in str(e.value) and SECRET not in str(e.value)
    if how == "walk":  # the walk can say which folder stopped it
        with pytest.raises(UnsafeFile, match=f"; {private} is not searchable for it"):
            _read(home / "link.out", how)
    assert _read(home / "good.out", how) == "good line\n"
    private.chmod(0o711)  # searchable now: the kernel would let the user read it
    assert _read(home / "link.out", how) == SECRET + "\n"


def test_the_automatic_way_matches_the_account(tree):
    home, private = tree
    assert safefile.strategy(USER) == ("as-user" if os.geteuid() == 0 else "walk")
    assert safefile.strategy(Reader()) == "kernel"
    with pytest.raises(UnsafeFile, match="not readable by the circus user"):
        tail_lines(str(private / "secret.out"), USER, 5)
    assert tail_lines(str(home / "good.out"), USER, 5) == (["good line"], False)


@pytest.mark.parametrize("how", WAYS)
def test_a_fifo_a_device_and_a_folder_are_refused(tree, how):
    home, _ = tree
    os.mkfifo(home / "fifo.out")
    os.chmod(home / "fifo.out", 0o666)
    (home / "zero.out").symlink_to("/dev/zero")
    for name in ("fifo.out", "zero.out", "logs"):
        with pytest.raises(UnsafeFile, match="not a regular file"):
            _read(home / name, how)
    with pytest.raises(FileNotFoundError):
        _read(home / "nope.out", how)


def test_a_symlink_loop_is_refused(tree):
    home, _ = tree
    (home / "a").symlink_to(home / "b")
    (home / "b").symlink_to(home / "a")
    with pytest.raises(UnsafeFile, match="too many levels of symbolic links"):
        _read(home / "a", "walk")


def _acl(*entries: tuple[int, int, int]) -> bytes:
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)


@pytest.mark.parametrize("how", WAYS)
def test_a_posix_acl_denying_the_user_is_honoured(tree, how):
    home, _ = tree
    f = home / "acl.out"
    f.write_text("acl\n")
    denied = _acl((0x01, 6, 0), (0x02, 0, USER.uid), (0x04, 4, 0), (0x10, 4, 0), (0x20, 4, 0))
    try:
        os.setxattr(f, "system.posix_acl_access", denied)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            pytest.skip("no POSIX ACLs on /tmp here")
        raise
    assert os.stat(f).st_mode & 0o004  # "other" may read by the mode bits alone...
    with pytest.raises(UnsafeFile, match="not readable by the circus user"):
        _read(f, how)  # ...but the ACL names the user and gives it nothing
    allowed = _acl((0x01, 6, 0), (0x02, 4, USER.uid), (0x04, 0, 0), (0x10, 4, 0), (0x20, 0, 0))
    os.setxattr(f, "system.posix_acl_access", allowed)
    assert not os.stat(f).st_mode & 0o004  # by the mode bits alone the user may not
    assert _read(f, how) == "acl\n"


def test_a_file_replaced_between_check_and_open_is_refused(tree, monkeypatch):
    """The walk re-checks the opened descriptor: a swap in that instant is caught."""
    home, _ = tree
    target = home / "swap.out"
    target.write_text("good\n")
    real_open = os.open
    swapped = []

    def open_then_swap(path, flags, *args, **kw):
        if path == "swap.out" and not flags & os.O_PATH and not swapped:
            swapped.append(True)
            (home / "other").write_text(SECRET)  # another inode under the same name
            os.replace(home / "other", target)
        return real_open(path, flags, *args, **kw)

    monkeypatch.setattr(safefile.os, "open", open_then_swap)
    with pytest.raises(UnsafeFile, match="changed while being checked"):
        _read(target, "walk")
    assert swapped


@pytest.mark.parametrize("how", WAYS)
def test_a_path_swapped_in_a_loop_never_leaks(tree, how):
    """A thread flips a symlink and renames a folder while bailey reads, many times."""
    home, private = tree
    (home / "d").mkdir()
    (home / "d" / "out").write_text("good\n")
    (home / "d" / "out").chmod(0o644)
    (private / "out").write_text(SECRET + "\n")
    (private / "out").chmod(0o644)
    link = home / "cur.out"
    link.symlink_to(home / "good.out")
    stop = threading.Event()

    def swapper() -> None:
        while not stop.is_set():
            for dest in (private / "secret.out", home / "good.out"):
                tmp = home / "cur.tmp"
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                tmp.symlink_to(dest)
                os.replace(tmp, link)  # atomic symlink swap
            os.rename(home / "d", home / "d.real")  # folder moved away...
            (home / "d").symlink_to(private)  # ...and the name now leads to private/
            (home / "d").unlink()
            os.rename(home / "d.real", home / "d")

    t = threading.Thread(target=swapper, daemon=True)
    t.start()
    got = []
    try:
        for _ in range(150 if how == "walk" else 40):
            for path in (link, home / "d" / "out"):
                with contextlib.suppress(OSError):
                    got.append(_read(path, how))
    finally:
        stop.set()
        t.join(5)
    assert SECRET + "\n" not in got
    assert "good line\n" in got or "good\n" in got  # the race was really run


def test_includes_in_folders_the_user_cannot_see_are_not_named(tree):
    """A glob run by the circus user finds nothing there: so neither does bailey."""
    home, private = tree
    (private / "x.ini").write_text(f"[circus]\nendpoint = tcp://{SECRET}:1\n")
    (private / "x.ini").chmod(0o644)
    (home / "open.ini").write_text("[env]\nA = 1\n")
    ini = home / "circus.ini"
    ini.write_text(f"[circus]\ninclude = {private}/*.ini {home}/open.ini\n"
                   f"include_dir = {private}\n")
    got = read_circus_ini(str(ini), {}, USER)
    assert got.files == [str(ini), str(home / "open.ini")]
    assert got.env == {"A": "1"}
    assert SECRET not in repr(got) and "x.ini" not in repr(got)
    assert got.missing_includes == [f"{private}/*.ini", f"{private}/*.ini"]


@pytest.mark.parametrize("how", [*WAYS, "kernel"])
def test_a_nul_byte_in_a_name_is_one_line_in_every_way(tree, how):
    """No file has such a name: a one-line refusal, never a ValueError from os.open
    (nor a kept helper that dies on it and is started again on every request)."""
    home, _ = tree
    with pytest.raises(UnsafeFile) as e:
        _read(f"{home}/good.out\0/x", how)
    assert str(e.value) == f"{home}/good.out\\0/x: a NUL byte in the name (not read)"
