"""The native ZMTP client against real circusd processes, next to real circusctl.

For each case bailey's native path and a ``circusctl`` subprocess talk to the
same circusd; stdout and exit code must be identical (and stderr too, except
where circusctl prints a traceback).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time

import pytest
from test_bailey_support import CIRCUSCTL, Circusd, free_port

from bailey import circusctl as ctl
from bailey import zmtp

pytestmark = pytest.mark.skipif(not os.path.exists(CIRCUSCTL), reason="circus not installed")


@pytest.fixture(scope="module")
def tcp_circusd(tmp_path_factory):
    d = Circusd(tmp_path_factory.mktemp("tcp"))
    yield d
    d.stop()


@pytest.fixture(scope="module")
def ipc_circusd(tmp_path_factory):
    # relative ipc path: circusd resolves it against its working directory
    d = Circusd(tmp_path_factory.mktemp("ipc"), endpoint="ipc://circus.sock")
    yield d
    d.stop()


def both(endpoint: str, args: list[str], timeout: int = 5):
    native = ctl.run_native(endpoint, args, timeout)
    real = ctl.run_subprocess(ctl.circusctl_argv(CIRCUSCTL, endpoint, timeout, args), timeout)
    assert native.via == "native" and real.via == "circusctl"
    return native, real


@pytest.mark.parametrize("args", [["status"], ["status", "sleeper"], ["status", "ticker"],
                                  ["status", "nosuch"], ["list"], ["list", "sleeper"],
                                  ["list", "nosuch"]])
@pytest.mark.parametrize("which", ["tcp_circusd", "ipc_circusd"])
def test_native_matches_circusctl(request, which, args):
    d = request.getfixturevalue(which)
    native, real = both(d.connect_endpoint, args)
    assert (native.exit, native.stdout, native.stderr) == (real.exit, real.stdout, real.stderr)


def test_status_reply_has_running_and_stopped_watchers(tcp_circusd):
    out = ctl.run_native(tcp_circusd.connect_endpoint, ["status"], 5)
    assert out.exit == 0
    assert out.stdout == "sleeper: active\nticker: stopped\n"
    assert out.reply["statuses"] == {"sleeper": "active", "ticker": "stopped"}


def test_error_reply_exit_3(tcp_circusd):
    native, real = both(tcp_circusd.connect_endpoint, ["status", "nosuch"])
    assert native.exit == real.exit == 3
    assert native.stdout == "" and native.stderr == "error\n"
    assert "nosuch" in native.error


def test_stopped_watcher_then_started(tmp_path):
    d = Circusd(tmp_path)
    try:
        ep = d.connect_endpoint
        stop = {"command": "stop", "properties": {"name": "sleeper", "waiting": True}}
        assert zmtp.call(ep, stop, 5)["status"] == "ok"
        native, real = both(ep, ["status"])
        assert native.stdout == real.stdout == "sleeper: stopped\nticker: stopped\n"
        assert native.exit == real.exit == 0
    finally:
        d.stop()


def test_nothing_listening_is_a_timeout_like_circusctl():
    ep = f"tcp://127.0.0.1:{free_port()}"
    start = time.monotonic()
    native, real = both(ep, ["status"], timeout=1)
    assert time.monotonic() - start < 10
    assert native.exit == real.exit == 1
    assert native.stdout == real.stdout == ""
    assert native.stderr == real.stderr  # "Timed out." and circusctl's advice
    assert "did not answer" in native.error


def test_missing_ipc_socket_is_a_timeout(tmp_path):
    native, real = both(f"ipc://{tmp_path}/none.sock", ["status"], timeout=1)
    assert native.exit == real.exit == 1
    assert native.stderr == real.stderr


def test_sigstopped_circusd_times_out(tmp_path):
    d = Circusd(tmp_path)
    try:
        os.kill(d.proc.pid, signal.SIGSTOP)
        native, real = both(d.connect_endpoint, ["status"], timeout=1)
        assert native.exit == real.exit == 1
        assert native.stdout == real.stdout == ""
        assert native.stderr == real.stderr
    finally:
        d.stop()


def test_circusd_starting_later_is_reached_within_timeout(tmp_path):
    """libzmq keeps reconnecting; so does the native client."""
    port = free_port()
    import threading

    box = {}
    t = threading.Thread(target=lambda: box.update(
        out=ctl.run_native(f"tcp://127.0.0.1:{port}", ["status"], 15)))
    t.start()
    time.sleep(0.5)
    d = Circusd(tmp_path, endpoint=f"tcp://127.0.0.1:{port}")
    try:
        t.join(20)
        assert box["out"].exit == 0
        # circusd answered; its watchers may still be starting under load.
        assert re.search(r"^sleeper: (active|starting)$", box["out"].stdout, re.M)
    finally:
        d.stop()


def test_peer_that_is_not_zmtp_is_an_error():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    import threading

    def serve():
        c, _ = srv.accept()
        c.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n" + b"x" * 64)
        time.sleep(0.5)
        c.close()

    threading.Thread(target=serve, daemon=True).start()
    out = ctl.run_native(f"tcp://127.0.0.1:{port}", ["status"], 2)
    srv.close()
    assert out.exit == 1 and "ZMTP" in out.error


@pytest.mark.parametrize("endpoint", ["tcp://*:5555", "udp://1.2.3.4:5", "tcp://nohost", "ipc://"])
def test_unusable_endpoints_fail_with_exit_1(endpoint):
    out = ctl.run_native(endpoint, ["status"], 1)
    assert out.exit == 1 and out.error and "\n" not in out.error


def test_native_message_only_for_simple_commands():
    assert ctl.native_message(["status"]) == {"command": "status", "properties": {}}
    assert ctl.native_message(["status", "w"]) == {"command": "status",
                                                   "properties": {"name": "w"}}
    assert ctl.native_message(["list"]) is not None
    for args in (["stats"], ["status", "--help"], ["status", "a", "b"], ["kill", "w"], []):
        assert ctl.native_message(args) is None
