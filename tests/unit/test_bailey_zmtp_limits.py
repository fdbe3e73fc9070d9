"""bailey's ZMTP client against a hostile peer (issue 18 #5): bounded memory, one error.

The peer is tests/hostile_zmtp.py, a real listener on loopback.  Memory is
measured on a child process (its peak RSS, VmHWM), so the test sees what a
bailey process would hold.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bailey import circusctl as ctl
from bailey import zmtp
from bailey.pubsub import Subscriber
from tests.waiting import until

HOSTILE = Path(__file__).parents[1] / "hostile_zmtp.py"
ROOT = Path(__file__).parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def hostile(tmp_path):
    procs = []

    def start(mode: str) -> tuple[str, Path]:
        port, log = _free_port(), tmp_path / f"{mode}.log"
        procs.append(subprocess.Popen([sys.executable, str(HOSTILE), mode, str(port), str(log)]))
        assert until(lambda: _listening(port), within=20)
        log.write_text("")  # forget the probe connection
        return f"tcp://127.0.0.1:{port}", log

    yield start
    for p in procs:
        p.kill()
        p.wait()


CHILD = """
import json, sys, time
from bailey import circusctl
t = time.monotonic()
out = circusctl.run_native(sys.argv[1], ["status"], 30)
# VmHWM: this process's own peak (ru_maxrss would count the parent's, via exec)
hwm = next(ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:"))
print(json.dumps({"error": out.error, "exit": out.exit, "stdout": out.stdout,
                  "seconds": time.monotonic() - t, "maxrss_kib": int(hwm.split()[1])}))
"""


def _native_in_child(endpoint: str) -> dict:
    p = subprocess.run([sys.executable, "-c", CHILD, endpoint], capture_output=True, text=True,
                       timeout=60, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_a_2gib_frame_is_refused_at_its_header_with_bounded_memory(hostile):
    endpoint, _ = hostile("huge")
    got = _native_in_child(endpoint)
    assert got["exit"] == 1 and got["stdout"] == "", got
    assert got["error"] == ("the peer announced a 2 GiB frame (over bailey's 1 MiB limit); "
                            "not read"), got
    assert got["seconds"] < 15  # refused at its header, not read until the 30 s deadline
    assert got["maxrss_kib"] < 60 * 1024, got  # a bare python with bailey: ~15 MiB


def test_deeply_nested_json_is_one_error(hostile):
    endpoint, _ = hostile("deep")
    out = ctl.run_native(endpoint, ["status"], 5)
    assert (out.exit, out.error) == (1, "reply is JSON nested too deeply")


def test_a_reply_of_the_wrong_shape_is_one_error(hostile):
    endpoint, _ = hostile("shape")
    out = ctl.run_native(endpoint, ["status"], 5)
    assert out.exit == 1
    assert out.error == "circusd's reply is malformed: 'statuses' is not an object of strings"


def test_a_multipart_message_is_capped_in_total(monkeypatch):
    """Frames under the cap each, over it together: refused before the last one is read."""
    a, b = socket.socketpair()
    with a, b:
        conn = zmtp._Conn(a, time.monotonic() + 5)
        part = b"x" * 600_000
        data = zmtp.encode_frame(part, more=True) + zmtp.encode_frame(part)

        def send() -> None:
            with contextlib.suppress(OSError):  # closed once the reader has refused
                b.sendall(data)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        left = zmtp._size(zmtp.MAX_MESSAGE - len(part))
        with pytest.raises(zmtp.ZmtpTooLarge, match=f"over bailey's {left} limit"):
            conn.recv_message()
        assert len(conn.buf) < 70_000  # the second frame's body was never read


def test_a_subscription_stalled_mid_frame_is_dropped(hostile, monkeypatch):
    """pub/sub waits for events without a deadline, but never for the rest of a frame."""
    monkeypatch.setattr(zmtp, "FRAME_TIMEOUT", 1.0)
    endpoint, _ = hostile("stall")
    sub = Subscriber(endpoint)
    sub.connect(timeout=5)
    t = time.monotonic()
    assert list(sub.events()) == []
    assert 0.9 < time.monotonic() - t < 10
    assert sub.error == "timed out in the middle of a frame"
    sub.close()


def test_a_subscription_announcing_2gib_is_dropped_at_once(hostile):
    endpoint, _ = hostile("huge")
    sub = Subscriber(endpoint)
    sub.connect(timeout=5)
    assert list(sub.events()) == []
    assert sub.error is not None and "2 GiB frame" in sub.error
    sub.close()
