"""bailey.sdbus's wire format: what it writes reads back, object paths as systemd makes them."""

from __future__ import annotations

import struct

from bailey.sdbus import _call, _Reader, _Writer, as_show_text, unit_path


def test_unit_path_escapes_like_systemd():
    assert unit_path("circus_user1_host1.service") == (
        "/org/freedesktop/systemd1/unit/circus_5fuser1_5fhost1_2eservice")
    assert unit_path("1a-b.service").startswith("/org/freedesktop/systemd1/unit/_31a_2db")


def test_a_call_reads_back_with_its_header_fields_and_body():
    msg = _call(7, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                "ListUnitFilesByPatterns", "org.freedesktop.systemd1",
                [("as", []), ("as", ["circus_*"])])
    body_len, serial, fields_len = struct.unpack_from("<III", msg, 4)
    assert msg[:4] == b"l\x01\x00\x01" and serial == 7
    r = _Reader(msg, little=True)
    r.pos = 12
    fields = dict(r.value("a(yv)")[0])
    assert fields[3] == "ListUnitFilesByPatterns" and fields[8] == "asas"
    head = 16 + fields_len + (-(16 + fields_len)) % 8
    assert len(msg) == head + body_len
    body = _Reader(msg, little=True)
    body.pos = head
    assert body.value("asas", 0)[0] == [] and body.value("as", 0)[0] == ["circus_*"]


def test_string_arrays_and_their_systemctl_text():
    w = _Writer()
    w.string_array(["A=1", "B=two words"])
    r = _Reader(bytes(w.buf), little=True)
    assert r.value("as")[0] == ["A=1", "B=two words"]
    assert as_show_text("Environment", ["A=1", "B=two words"]) == "A=1 'B=two words'"
    assert as_show_text("EnvironmentFiles", [("/e", True), ("/f", False)]) == (
        "/e (ignore_errors=yes)\n/f (ignore_errors=no)")
    assert as_show_text("MainPID", 812) == "812"
