"""A hostile circus user's files: bailey reads them bounded, never hangs, never leaks.

The circus.ini and its includes belong to the circus user; bailey reads them
as the operator.  These tests use real files of every kind (FIFO, device,
symlink, unreadable modes) on this machine.
"""

from __future__ import annotations

import os
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bailey.circusini import CircusIniError, read_circus_ini
from bailey.safefile import MAX_BYTES, Reader, UnsafeFile, read_text
from bailey.unitenv import (
    parse_environment_file,
    parse_environment_files_property,
    parse_environment_property,
    unit_environment,
)

SECRET = "operator-secret-7f3a"


def _in_thread(fn, timeout=5.0):
    """Run fn; fail (instead of hanging the suite) if it does not return in time."""
    box: dict = {}

    def go():
        try:
            box["value"] = fn()
        except BaseException as e:
            box["error"] = e

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "bailey blocked on a user's file"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def test_fifo_config_is_refused_at_once(tmp_path):
    fifo = tmp_path / "circus.ini"
    os.mkfifo(fifo)
    with pytest.raises(CircusIniError, match="not a regular file"):
        _in_thread(lambda: read_circus_ini(str(fifo), {}))


def test_dev_zero_link_is_refused(tmp_path):
    link = tmp_path / "circus.ini"
    link.symlink_to("/dev/zero")
    with pytest.raises(CircusIniError, match="not a regular file"):
        _in_thread(lambda: read_circus_ini(str(link), {}))


def test_huge_file_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "circus.ini"
    with open(big, "wb") as f:
        f.truncate(MAX_BYTES + 1)  # sparse: costs nothing to make
    with pytest.raises(CircusIniError, match="larger than"):
        read_circus_ini(str(big), {})


def test_parse_errors_cite_file_and_line_never_content(tmp_path):
    ini = tmp_path / "circus.ini"
    ini.write_text(f"[circus]\n{SECRET}\n")
    with pytest.raises(CircusIniError) as e:
        read_circus_ini(str(ini), {})
    assert str(e.value) == f"{ini}:2: not 'key = value' nor [section]"
    ini.write_text(f"{SECRET}\n[circus]\n")
    with pytest.raises(CircusIniError) as e:
        read_circus_ini(str(ini), {})
    assert SECRET not in str(e.value) and ":1:" in str(e.value)


def test_file_the_circus_user_cannot_read_is_not_read(reachable_tmp):
    tmp_path = reachable_tmp
    secret = tmp_path / "secret.ini"
    secret.write_text(f"[circus]\nendpoint = {SECRET}\n")
    secret.chmod(0o600)  # owned by this (operator's) account
    stranger = Reader(uid=os.getuid() + 4242, gids=frozenset({os.getgid() + 4242}))
    with pytest.raises(UnsafeFile, match="not readable by the circus user"):
        read_text(str(secret), stranger)
    ini = tmp_path / "circus.ini"
    ini.write_text(f"[circus]\ninclude = {secret}\n")
    got = read_circus_ini(str(ini), {}, stranger)
    assert got.endpoint != SECRET  # circusd, as that user, would not have read it either
    assert got.files == [str(ini)]
    assert "not readable by the circus user" in got.skipped_includes[0]
    assert SECRET not in " ".join(got.skipped_includes)
    # The owner itself (or a group member, for 0640) may read it.
    assert SECRET in read_text(str(secret), Reader(uid=os.getuid(), gids=frozenset()))
    secret.chmod(0o640)
    member = Reader(uid=os.getuid() + 4242, gids=frozenset({os.stat(secret).st_gid}))
    assert SECRET in read_text(str(secret), member)


def test_fifo_include_is_skipped_and_the_rest_read(tmp_path):
    os.mkfifo(tmp_path / "a.ini")
    (tmp_path / "b.ini").write_text("[env]\nX = 1\n")
    ini = tmp_path / "circus.ini"
    ini.write_text("[circus]\nendpoint = tcp://127.0.0.1:1\ninclude = *.ini\n")
    got = _in_thread(lambda: read_circus_ini(str(ini), {}))
    assert got.env == {"X": "1"}
    assert any("a.ini: not a regular file" in s for s in got.skipped_includes)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_as_circus_ini(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("ini") / "circus.ini"
    path.write_bytes(data)
    try:
        read_circus_ini(str(path), {})
    except CircusIniError as e:
        assert "\n" not in str(e)
        assert str(e).startswith(str(path))


def test_environment_parsing():
    assert parse_environment_property('A=1 "B=x y" C=') == {"A": "1", "B": "x y", "C": ""}
    assert parse_environment_files_property(
        "/etc/a (ignore_errors=no)\n/etc/b (ignore_errors=yes)") == [
        ("/etc/a", False), ("/etc/b", True)]
    assert parse_environment_file('# c\nexport K="v 1"\n; x\nJ=2\nbad\n') == {
        "K": "v 1", "J": "2"}


def test_unit_environment_is_circusds_not_baileys():
    files = {"/etc/e": "PORT=7\nHOME=/from/file\n"}

    def read(p):
        if p not in files:
            raise FileNotFoundError(2, "No such file or directory")
        return files[p]

    env, notes = unit_environment(
        "u1", {"Environment": "PORT=5 X=1", "EnvironmentFiles":
               "/etc/e (ignore_errors=no)\n/etc/missing (ignore_errors=yes)"},
        read, lambda u: ("/home/u1", "/bin/sh"))
    assert env["USER"] == env["LOGNAME"] == "u1"
    assert env["PORT"] == "7" and env["X"] == "1"  # the file wins over Environment=
    assert env["HOME"] == "/from/file"
    assert notes == []
    env, notes = unit_environment("u1", {"EnvironmentFiles": "/etc/gone (ignore_errors=no)"},
                                  read, lambda u: ("/home/u1", "/bin/sh"))
    assert env["HOME"] == "/home/u1" and "EnvironmentFile /etc/gone not read" in notes[0]


def test_baileys_own_output_shows_control_characters():
    from bailey.render import error_lines, render_human
    from bailey.report import Instance, Report

    rep = Report(host="h\x1b]0;t\x07", bailey_version="0", circusctl_args=["status"])
    rep.instances.append(Instance("circus_u_h.service\x1b[2J", "u", "User=", "enabled",
                                  "active", "running", state="error",
                                  stdout="w\x1b[31m: active\r\nforged line\n",
                                  error="bad\nbailey: all fine"))
    text = render_human(rep, color=False) + "\n".join(error_lines(rep))
    assert "\x1b" not in text and "\r" not in text and "\x07" not in text
    assert "circus_u_h.service\\e[2J" in text
    assert "bailey: circus_u_h.service\\e[2J: bad\\nbailey: all fine" in text
