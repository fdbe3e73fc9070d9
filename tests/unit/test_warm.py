"""The warm session's pure parts and its socket rules: paths, keys, the client's
plan, the protocol, the peer check and a stale socket (real Unix sockets)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from barnum.text.duration import parse_duration
from barnum.warm import protocol
from barnum.warm.client import ask, plan
from barnum.warm.paths import (
    WarmError,
    check_private,
    ensure_dir,
    key_of,
    persist_in_file,
    runtime_dir,
    where,
)


@pytest.fixture
def users(tmp_path):
    f = tmp_path / "circus_users.yaml"
    f.write_text("users: [user1]\n")
    return f


@pytest.fixture
def short_dir():
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="bwu", dir="/tmp"))  # a socket path fits 108 bytes
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_runtime_dir_is_xdg_or_a_folder_of_the_users_own():
    assert runtime_dir({"XDG_RUNTIME_DIR": "/run/user/5"}, 5) == "/run/user/5/barnum"
    assert runtime_dir({}, 5) == "/tmp/barnum-5"
    assert runtime_dir({"XDG_RUNTIME_DIR": "relative"}, 5) == "/tmp/barnum-5"


def test_the_key_changes_with_content_and_mtime_and_flags(users, tmp_path):
    k = key_of(users, None, None)
    assert k == key_of(users, None, None) and len(k) == 20
    assert key_of(users, None, "/opt/bailey") != k
    ssh = tmp_path / "ssh_config"
    ssh.write_text("Host *\n")
    with_ssh = key_of(users, str(ssh), None)
    assert with_ssh != k
    ssh.write_text("Host x\n")
    assert key_of(users, str(ssh), None) != with_ssh
    st = users.stat()
    os.utime(users, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same content, new mtime
    assert key_of(users, None, None) != k


def test_durations():
    assert parse_duration("10m") == 600 and parse_duration("90s") == 90
    assert parse_duration("0") == 0 and parse_duration(5) == 5.0
    for bad in ("1x", "-1", True, "8d", ""):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_persist_is_read_from_the_users_file_without_yaml(tmp_path):
    f = tmp_path / "u.yaml"
    f.write_text("users: [a]\npersist: 2m  # idle life\n")
    assert persist_in_file(f) == 120
    f.write_text("users: [a]\npersist: 0\n")
    assert persist_in_file(f) == 0
    f.write_text("users: [a]\n")
    assert persist_in_file(f) is None


def test_the_client_plans_cold_for_what_the_session_never_serves(users, tmp_path):
    env = {"BARNUM_CONFIG": str(users), "XDG_RUNTIME_DIR": str(tmp_path)}
    w = plan([], env)
    assert w is not None and w.persist == 600
    assert os.path.dirname(w.where.socket) == str(tmp_path / "barnum")
    assert plan(["host1", "--", "--", "stats"], env) is not None
    assert plan(["--persist", "30s"], env).persist == 30  # type: ignore[union-attr]
    for argv in (["logs", "-f"], ["logs", "-fn", "3", "host1"], ["logs", "--follow"]):
        assert plan(argv, env) is not None, argv  # a followed log is served warm
    for argv in (["--", "--help"], ["--dry-run"], ["-v"], ["watch"], ["shell"],
                 ["--no-persist"], ["--persist", "0"], ["logs", "-vf"], ["--conf", "x"]):
        assert plan(argv, env) is None, argv
    assert plan([], {**env, "BARNUM_PERSIST": "0"}) is None
    users.write_text("users: [user1]\npersist: 0\n")
    assert plan([], env) is None


def test_protocol_round_trip_and_limits():
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        protocol.send(a, {"op": "run", "out": protocol.pack(b"\x00\xff")})
        msg = protocol.recv(b)
        assert protocol.unpack(msg["out"]) == b"\x00\xff"
        a.sendall((protocol.MAX_MESSAGE + 1).to_bytes(4, "big"))
        with pytest.raises(protocol.ProtocolError):
            protocol.recv(b)
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        a.sendall(b"\x00\x00\x00\x02[]")
        with pytest.raises(protocol.ProtocolError):
            protocol.recv(b)


def test_the_peer_check_reads_the_real_uid():
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        assert protocol.peer_uid(a) == os.getuid()
        assert protocol.peer_allowed(a)
        assert not protocol.peer_allowed(a, os.getuid() + 1)


def test_a_folder_or_socket_open_to_others_is_refused(short_dir):
    d = ensure_dir(str(short_dir / "barnum"))
    assert (os.stat(d).st_mode & 0o777) == 0o700
    os.chmod(d, 0o755)
    with pytest.raises(WarmError, match="mode 0755"):
        check_private(d, "dir")
    os.chmod(d, 0o700)
    sock = os.path.join(d, "s.sock")
    s = socket.socket(socket.AF_UNIX)
    s.bind(sock)
    try:
        os.chmod(sock, 0o666)
        with pytest.raises(WarmError, match="open to others"):
            ask(sock, protocol.request([]))
        os.chmod(sock, 0o600)
        if os.getuid() == 0:
            os.chown(sock, 65534, -1)
            with pytest.raises(WarmError, match="belongs to uid 65534"):
                ask(sock, protocol.request([]))
    finally:
        s.close()


def test_a_stale_socket_is_no_answer_and_a_new_session_replaces_it(short_dir, users):
    w = where("k" * 20, str(short_dir / "barnum"))
    ensure_dir(os.path.dirname(w.socket))
    s = socket.socket(socket.AF_UNIX)
    s.bind(w.socket)
    s.close()  # bound, nobody listens: what a killed session leaves
    os.chmod(w.socket, 0o600)
    assert ask(w.socket, protocol.request([])) is None  # the caller runs cold
    assert ask(str(short_dir / "barnum" / "missing.sock"), protocol.request([])) is None
    # the server's start: takes the lock, sees nobody answers, replaces the socket
    from barnum.warm.paths import alive
    from barnum.warm.server import take_lock

    assert not alive(w.socket)
    lock = take_lock(Path(w.lock), wait=1)
    assert lock is not None
    code = ("import sys; from barnum.warm.server import take_lock; "
            f"sys.exit(0 if take_lock(__import__('pathlib').Path({str(w.lock)!r}), 0.3) "
            "is None else 1)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0  # held: no second
    lock.close()


def test_the_client_imports_nothing_heavy():
    """Every warm call pays for what the console imports: not the CLI's libraries, and
    not the standard modules that cost milliseconds each (run without site, whose
    editable-install finder would load pathlib itself)."""
    heavy = ("fabric", "paramiko", "rich", "yaml", "barnum.cli", "dataclasses", "typing",
             "pathlib", "hashlib", "inspect", "subprocess", "json", "re", "base64", "socket",
             "enum")
    code = (f"import sys, barnum.warm.client; print([m for m in {heavy!r} "
            "if m in sys.modules])")
    root = str(Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": root})
    assert out.stdout.strip() == "[]", out.stderr


def test_watch_and_shell_start_the_session_at_once_only_when_one_may_and_none_runs(
        users, tmp_path, monkeypatch):
    import barnum.warm.client as client

    started: list[list[str]] = []
    monkeypatch.setattr(client, "start", lambda w, argv: started.append(argv) or "proc")
    monkeypatch.setattr(client, "_EARLY", {})
    monkeypatch.setenv("BARNUM_CONFIG", str(users))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.delenv("BARNUM_PERSIST", raising=False)
    for argv in (["logs"], ["watch", "--no-persist"], ["-v", "shell"], ["watch", "-h"],
                 ["watch", "host1"]):  # a watch of some hosts opens its own: no wait
        client._start_early(argv)
    assert started == [] and client._EARLY == {}
    monkeypatch.setenv("BARNUM_PERSIST", "0")
    client._start_early(["watch"])
    assert started == []
    monkeypatch.setenv("BARNUM_PERSIST", "10m")
    client._start_early(["--timeout", "5", "shell", "host1"])
    assert started == [["--timeout", "5", "shell", "host1"]]
    assert client._EARLY["proc"] == "proc"
    w = plan([], dict(os.environ))
    assert w is not None and client._EARLY["where"] == w.where
    started.clear()
    os.makedirs(os.path.dirname(w.where.socket), mode=0o700, exist_ok=True)  # a session
    with socket.socket(socket.AF_UNIX) as s:                                 # listens
        s.bind(w.where.socket)
        s.listen(1)
        client._start_early(["watch"])
    assert started == []


# -- the client's hand parsers and the wire format, against what they replaced ---------

_OLD_DURATION = r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*\Z"  # the regular expression before
_OLD_PERSIST = rb"^persist:[ \t]*([^#\r\n]*?)[ \t]*(?:#.*)?$"


@given(st.text(alphabet=" \t.0123456789msdhx", max_size=8))
def test_durations_split_as_the_regular_expression_did(text):
    import re

    from barnum.text.duration import split_duration

    m = re.match(_OLD_DURATION, text)
    assert split_duration(text) == (None if m is None else (m.group(1), m.group(2)))


@given(st.lists(st.text(alphabet=" \t#:abceiprst5m\n", max_size=14), max_size=4))
def test_the_persist_line_is_found_as_the_regular_expression_did(lines):
    import re

    from barnum.warm.paths import persist_line

    data = "\n".join(lines).encode()
    m = re.search(_OLD_PERSIST, data, re.M)
    assert persist_line(data) == (None if m is None else m.group(1))


_JSONABLE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=5) | st.integers() | st.booleans() | st.none(), inner,
                      max_size=4), max_leaves=20)


@given(st.dictionaries(st.text(max_size=5), _JSONABLE, max_size=5))
def test_a_message_arrives_as_json_would_have_carried_it(msg):
    import json

    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        protocol.send(a, msg)
        assert protocol.recv(b) == json.loads(json.dumps(msg))


def test_what_json_could_not_carry_is_refused_both_ways():
    import enum
    import marshal
    import struct

    class Mode(enum.StrEnum):
        UP = "up"

    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        protocol.send(a, {"state": Mode.UP, "out": b"\x00\xff"})  # an enum as its value
        got = protocol.recv(b)
        assert got == {"state": "up", "out": b"\x00\xff"} and type(got["state"]) is str
        for bad in ({"s": {1, 2}}, {(1, 2): "tuple key"}, {"c": compile("0", "x", "eval")}):
            with pytest.raises(TypeError):
                protocol.send(a, bad)
            data = marshal.dumps(bad)  # what a peer could send anyway
            a.sendall(struct.pack(">I", len(data)) + data)
            with pytest.raises(protocol.ProtocolError):
                protocol.recv(b)
        a.sendall(struct.pack(">I", 3) + b"\xff\x00\x01")  # not marshal at all
        with pytest.raises(protocol.ProtocolError):
            protocol.recv(b)
