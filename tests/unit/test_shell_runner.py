"""barnum shell: answers from recorded real replies, and Ctrl-C during a fan-out.

The replies in tests/data/shell were recorded from ``bailey --serve`` on the
real fleet (circusctl ``stop nope``, ``numwatchers``, ``status`` on host1).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

from barnum.model.results import HostResult
from barnum.model.validate import report_from_document
from barnum.shell.gather import gather
from barnum.shell.runner import _answers, fan_out

REPLIES = json.loads((Path(__file__).parent.parent / "data" / "shell" /
                      "host1_replies.json").read_text())


def host_result(name: str) -> HostResult:
    r = HostResult("host1", [], [])
    r.report = report_from_document(REPLIES[name])
    return r


def lines(answers) -> list[str]:
    return [ln for b in gather(answers) for ln in b.lines()]


def test_an_error_reply_is_one_line_per_instance_gathered():
    assert lines(_answers("host1", host_result("stop_nope"), first=True)) == [
        "user[1-2]@host1 (2): circusctl exited 3: error: program nope not found"]


def test_a_reply_is_the_first_line_for_actions_and_whole_for_circusctl():
    assert lines(_answers("host1", host_result("numwatchers"), first=True)) == [
        "user[1-2]@host1 (2): 2"]
    assert lines(_answers("host1", host_result("status"), first=False)) == [
        "user[1-2]@host1 (2):", "  sleeper: active", "  ticker: active"]


def test_a_host_error_answers_once_for_the_host():
    r = HostResult("host4", [], [])
    r.error = "timed out after 5s: 10.0.0.5:22 accepts TCP but sent no SSH banner"
    [a] = _answers("host4", r, first=True)
    assert (a.who, a.failed) == ("host4", True)


def test_ctrl_c_stops_the_wait_and_names_what_did_not_finish():
    # Python's own Ctrl-C handling, whatever an earlier test in this process left (the
    # whole suite runs in one process: this once waited the full 30 s in CI)
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _ctrl_c_stops_the_wait()
    finally:
        signal.signal(signal.SIGINT, old)


def _ctrl_c_stops_the_wait() -> None:
    release = threading.Event()
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
    start = time.monotonic()
    out = fan_out({"host1": lambda: "ok", "host2": lambda: release.wait(30) and "late"})
    release.set()
    assert time.monotonic() - start < 5
    assert out.results == {"host1": "ok"}
    assert out.unfinished == ["host2"]


def test_a_failing_job_is_its_hosts_answer():
    def boom():
        raise RuntimeError("connection lost")

    out = fan_out({"host1": boom, "host2": lambda: 7})
    assert isinstance(out.results["host1"], RuntimeError)
    assert out.results["host2"] == 7 and out.unfinished == []
