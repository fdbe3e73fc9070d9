"""bailey.safefile.tail_lines: a watcher's output file, bounded and checked like a config.

Real files, FIFOs and symlinks in a temporary folder; the circus user is
played by a Reader with another uid (the checks are on owner and mode bits).
"""

from __future__ import annotations

import os

import pytest

from bailey.safefile import Reader, UnsafeFile, tail_lines

ME = Reader(os.getuid(), frozenset(os.getgroups()))
OTHER = Reader(os.getuid() + 4242, frozenset({os.getgid() + 4242}))


def test_last_lines(tmp_path):
    p = tmp_path / "out.log"
    p.write_text("".join(f"line {i}\n" for i in range(1, 11)))
    assert tail_lines(str(p), ME, 3) == (["line 8", "line 9", "line 10"], True)
    assert tail_lines(str(p), ME, 100) == ([f"line {i}" for i in range(1, 11)], False)
    assert tail_lines(str(p), ME, 0) == ([], True)


def test_bounded_from_the_end_and_a_cut_line_dropped(tmp_path):
    p = tmp_path / "big.log"
    p.write_text("".join(f"{i:09d}\n" for i in range(100000)))  # 1 MB, 10-byte lines
    lines, truncated = tail_lines(str(p), ME, 100000, limit=1005)
    assert truncated and lines[-1] == "000099999"
    assert len(lines) == 100 and lines[0] == "000099900"  # the half line before is left out


def test_not_utf8_is_replaced_not_refused(tmp_path):
    p = tmp_path / "bin.log"
    p.write_bytes(b"ok\n\xff\xfe bad\n")
    assert tail_lines(str(p), ME, 5)[0] == ["ok", "\ufffd\ufffd bad"]


def test_fifo_refused_without_blocking(tmp_path):
    p = tmp_path / "fifo"
    os.mkfifo(p)
    with pytest.raises(UnsafeFile, match="not a regular file"):
        tail_lines(str(p), ME, 5)


def test_symlink_judged_by_its_target(reachable_tmp):
    tmp_path = reachable_tmp
    secret = tmp_path / "secret"
    secret.write_text("operator only\n")
    secret.chmod(0o600)
    link = tmp_path / "out.log"
    link.symlink_to(secret)
    if os.getuid() != 0:  # root's Reader check is what is tested; as another user too
        assert tail_lines(str(link), ME, 5)[0] == ["operator only"]
    with pytest.raises(UnsafeFile, match="not readable by the circus user"):
        tail_lines(str(link), OTHER, 5)
    secret.chmod(0o644)
    assert tail_lines(str(link), OTHER, 5)[0] == ["operator only"]


def test_device_refused(tmp_path):
    link = tmp_path / "zero.log"
    link.symlink_to("/dev/zero")
    with pytest.raises(UnsafeFile, match="not a regular file"):
        tail_lines(str(link), ME, 5)


def test_missing_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        tail_lines(str(tmp_path / "nope"), ME, 5)
