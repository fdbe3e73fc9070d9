"""start / stop / restart / reload answered natively, with circus as the oracle.

circusctl's own parser and ``Command.message`` say which message each command
line sends; a real circusd answers both the native client and a ``circusctl``
subprocess, whose stdout, stderr and exit code must be identical.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest
from test_bailey_support import CIRCUSCTL, Circusd, free_port

from bailey import circusctl as ctl
from bailey import zmtp

pytestmark = pytest.mark.skipif(not os.path.exists(CIRCUSCTL), reason="circus not installed")

VERBS = ("start", "stop", "restart", "reload")


def circus_message(args: list[str]):
    """What circusctl sends for ``args`` (circus.circusctl's parse and dispatch), or the
    SystemExit / exception it stops with."""
    from circus.circusctl import parse_arguments
    from circus.commands import get_commands

    commands = get_commands()
    ns = parse_arguments(["--endpoint", "tcp://127.0.0.1:1", *args], commands)["args"]
    command = commands[ns.command]
    opts = {o[1]: getattr(ns, o[1]) for o in command.options if o[1] in ns}
    return command.message(*ns.args, **opts)


FORMS = [
    [], ["w"], ["--waiting"], ["w", "--waiting"], ["--waiting", "w"], ["--match", "simple", "w"],
    ["w", "--match=regex"], ["--match=glob", "--waiting", "w*"], ["--sequential", "w"],
    ["--terminate"], ["w", "--terminate", "--sequential", "--waiting"], ["w", "x"],
    ["--wait", "w"], ["--waiting", "--waiting"], ["--match"], ["--match", "--waiting"],
    ["--match="], ["--waiting=1"], ["--", "w"], ["-h"], ["--help"], [""], ["-w"],
    ["--match", "a", "--match", "b"], ["stop"], ["w", "--json"],
]


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("rest", FORMS, ids=lambda r: " ".join(r) or "(none)")
def test_native_message_is_circusctls_message(verb, rest):
    """Every form bailey answers natively sends circusctl's exact message; the rest
    (circusctl's usage errors, help, abbreviations, repeats) go to circusctl."""
    mine = ctl.native_message([verb, *rest])
    if mine is None:
        return
    assert mine == circus_message([verb, *rest])


def test_the_plain_forms_are_native():
    for verb in VERBS:
        for rest in ([], ["w"], ["w", "--waiting"], ["--waiting"]):
            assert ctl.native_message([verb, *rest]) is not None
    assert ctl.native_message(["reload", "w", "--terminate", "--sequential"]) is not None
    assert ctl.native_message(["stop", "w*", "--match", "glob"]) is not None
    for args in (["stop", "a", "b"], ["reload", "--match", "simple"], ["stop", "--wait"],
                 ["kill", "w"], ["reloadconfig"], ["stop", "--help"]):
        assert ctl.native_message(args) is None


@pytest.fixture(scope="module")
def circusd(tmp_path_factory):
    d = Circusd(tmp_path_factory.mktemp("ctl"))
    yield d
    d.stop()


BUSY = ("arbiter is already running", "arbiter is restarting")


def when_idle(call):
    """``call()`` again while circusd refuses it because the previous command (which
    answered before it finished) still runs: the comparison is of an idle circusd."""
    deadline = time.monotonic() + 30
    while True:
        out = call()
        if not any(b in out.stderr for b in BUSY) or time.monotonic() > deadline:
            return out
        time.sleep(0.1)


def both(endpoint: str, args: list[str], timeout: int = 5):
    """The native and the circusctl outcome; their one-line errors are always the same
    (the report shows them), except for what only the native client can say."""
    native = when_idle(lambda: ctl.run_native(endpoint, args, timeout))
    real = when_idle(lambda: ctl.run_subprocess(
        ctl.circusctl_argv(CIRCUSCTL, endpoint, timeout, args), timeout))
    assert native.via == "native" and real.via == "circusctl"
    if native.stderr == real.stderr:
        assert native.error == real.error
    return native, real


def status_of(endpoint: str, watcher: str) -> str:
    out = ctl.run_subprocess([CIRCUSCTL, "--endpoint", endpoint, "status", watcher], 5)
    assert out.exit == 0, out.stderr
    return out.stdout.strip()


def wait_status(endpoint: str, watcher: str, want: str, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while (got := status_of(endpoint, watcher)) != want:
        assert time.monotonic() < deadline, f"{watcher} stayed {got}, wanted {want}"
        time.sleep(0.1)


CASES = [
    ["stop", "ticker"], ["start", "ticker"], ["restart", "ticker"], ["reload", "ticker"],
    ["stop", "ticker", "--waiting"], ["start", "ticker", "--waiting"],
    ["restart", "ticker", "--waiting"], ["reload", "ticker", "--waiting", "--terminate"],
    ["reload", "ticker", "--sequential"],
    ["stop", "nosuch"], ["start", "nosuch"], ["restart", "nosuch"], ["reload", "nosuch"],
    ["stop", "nosuch", "--waiting"], ["start", "tick*"], ["start", "t.*", "--match", "regex"],
    ["start", "TICKER", "--match", "simple"], ["start", "ticker", "--match", "bogus"],
    ["stop", "t*", "--match", "simple"],
]


@pytest.mark.parametrize("args", CASES, ids=" ".join)
def test_native_prints_what_circusctl_prints(circusd, args):
    native, real = both(circusd.connect_endpoint, args)
    assert (native.exit, native.stdout, native.stderr) == (real.exit, real.stdout, real.stderr)
    assert native.exit in (0, 3)


def test_unknown_watcher_is_an_error_reply(circusd):
    out = ctl.run_native(circusd.connect_endpoint, ["stop", "nosuch"], 5)
    assert (out.exit, out.stdout, out.stderr) == (3, "", "error: program nosuch not found\n")
    assert out.error == "circusctl exited 3: error: program nosuch not found"


def test_stop_and_start_take_effect(circusd):
    ep = circusd.connect_endpoint
    out = when_idle(lambda: ctl.run_native(ep, ["stop", "sleeper", "--waiting"], 5))
    assert (out.exit, out.stdout, out.stderr) == (0, "ok\n", "")
    assert status_of(ep, "sleeper") == "stopped"
    out = when_idle(lambda: ctl.run_native(ep, ["start", "sleeper"], 5))
    assert (out.exit, out.stdout) == (0, "ok\n")
    wait_status(ep, "sleeper", "active")


def test_whole_arbiter_stopped_then_started(tmp_path):
    d = Circusd(tmp_path)
    try:
        ep = d.connect_endpoint
        for args in (["stop"], ["stop"], ["start"], ["start"], ["reload"],
                     ["stop", "--waiting"]):
            native, real = both(ep, args)
            assert (native.exit, native.stdout, native.stderr) == (
                real.exit, real.stdout, real.stderr), args
        wait_status(ep, "sleeper", "stopped")
        native, real = both(ep, ["start", "--waiting"])
        assert (native.exit, native.stdout) == (real.exit, real.stdout) == (0, "ok\n")
        wait_status(ep, "sleeper", "active")
    finally:
        d.stop()


def test_sigstopped_circusd_times_out_like_circusctl(tmp_path):
    d = Circusd(tmp_path)
    try:
        os.kill(d.proc.pid, signal.SIGSTOP)
        for args in (["stop", "sleeper"], ["start"]):
            native, real = both(d.connect_endpoint, args, timeout=1)
            assert (native.exit, native.stdout, native.stderr) == (
                real.exit, real.stdout, real.stderr) == (1, "", "Timed out." + ctl.TIMEOUT_MSG)
            assert native.error == real.error == "circusctl exited 1: Timed out."
    finally:
        d.stop()


@pytest.mark.parametrize("endpoint", ["tcp", "ipc"])
def test_wrong_endpoint_times_out_like_circusctl(tmp_path, endpoint):
    ep = (f"tcp://127.0.0.1:{free_port()}" if endpoint == "tcp"
          else f"ipc://{tmp_path}/none.sock")
    native, real = both(ep, ["restart", "w"], timeout=1)
    assert (native.exit, native.stdout, native.stderr) == (real.exit, real.stdout, real.stderr)
    assert native.exit == 1


def test_a_control_message_is_never_sent_twice():
    """A peer that reads the command and drops the connection: libzmq would not send it
    again, so neither does bailey (a restart must not happen twice); it is a timeout."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    got: list[bytes] = []

    def serve() -> None:
        srv.settimeout(5)
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            conn = zmtp._Conn(c, time.monotonic() + 5)
            try:
                conn.send(zmtp.greeting())
                conn.recv_exact(64)
                conn.recv_frame()  # READY
                conn.send(zmtp.ready_command(b"ROUTER"))
                got.append(conn.recv_message()[0])
            except (OSError, zmtp.ZmtpError):
                pass
            c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        out = ctl.run_native(f"tcp://127.0.0.1:{port}", ["restart", "w"], 1)
        status = ctl.run_native(f"tcp://127.0.0.1:{port}", ["status"], 3)  # re-asked
    finally:
        srv.close()
    assert out.exit == 1 and out.stderr == "Timed out." + ctl.TIMEOUT_MSG
    assert sum(b'"restart"' in m for m in got) == 1
    assert status.exit == 1 and sum(b'"status"' in m for m in got) > 1  # status is re-asked


def test_whole_arbiter_restart(tmp_path):
    """circusd restarts its controller too, and its rebinding can fail on its own
    (circus: "Address already in use", with circusctl alike): one circusd per path,
    and the effect checked is that the restart began."""
    native_d, real_d = Circusd(tmp_path / "n"), Circusd(tmp_path / "r")
    try:
        native = ctl.run_native(native_d.connect_endpoint, ["restart"], 5)
        real = ctl.run_subprocess(ctl.circusctl_argv(CIRCUSCTL, real_d.connect_endpoint, 5,
                                                     ["restart"]), 5)
        assert native.via == "native"
        assert (native.exit, native.stdout, native.stderr) == (real.exit, real.stdout,
                                                               real.stderr) == (0, "ok\n", "")
        deadline = time.monotonic() + 30  # the restart began (circusd says so in its log)
        while "Arbiter exiting" not in native_d.logfile.read_text():
            assert time.monotonic() < deadline, native_d.logfile.read_text()
            time.sleep(0.1)
    finally:
        native_d.stop()
        real_d.stop()


SLOW = ("[watcher:slow]\ncmd = sh -c \"trap '' TERM; exec sleep 3600\"\n"
        "graceful_timeout = 2\n")  # ignores SIGTERM: its restart runs 2 s inside circusd


@pytest.mark.parametrize("native", [True, False], ids=["native", "circusctl"])
def test_a_command_circusd_refuses_as_busy_is_asked_again(tmp_path, native):
    """A fleet-wide restart sends the next watcher's restart while circusd still runs the
    previous one (it answered first): circusd refuses it, having done nothing, and bailey
    asks again until its timeout, on either path."""
    c = Circusd(tmp_path, watchers=SLOW)
    try:
        def run(args, timeout):
            if native:
                return ctl.run_native(c.connect_endpoint, args, timeout)
            return ctl.run_subprocess(
                ctl.circusctl_argv(CIRCUSCTL, c.connect_endpoint, timeout, args), timeout)

        assert run(["restart", "slow"], 5).exit == 0  # answered; circusd still at it
        refused = run(["restart", "sleeper"], 5)
        assert refused.exit == 3 and "arbiter is already running" in refused.stderr
        assert when_idle(lambda: run(["restart", "slow"], 5)).exit == 0
        out = ctl.retry_busy(lambda t: run(["restart", "sleeper"], t), 10)
        assert (out.exit, out.stdout.strip(), out.error) == (0, "ok", None)
        # busy for longer than the timeout: circusd's own answer, in time
        assert when_idle(lambda: run(["restart", "slow"], 5)).exit == 0
        start = time.monotonic()
        out = ctl.retry_busy(lambda t: run(["restart", "sleeper"], t), 1)
        assert out.exit == 3 and "already running" in out.stderr
        assert time.monotonic() - start < 4
    finally:
        c.stop()
