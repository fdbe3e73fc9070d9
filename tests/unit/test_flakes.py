"""The flake hunt's runner (tests/flakes.py): reading pytest's report, the CPU burners."""

from __future__ import annotations

from pathlib import Path

from tests.flakes import RunResult, e2e_files, parse_junit, start_burners, stop, summary
from tests.waiting import until

# shaped as pytest 8 writes it (junit_family xunit2), cut down from a real run
JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">
<testsuite name="pytest" errors="1" failures="1" skipped="1" tests="4">
<testcase classname="tests.e2e.test_watch_tmux" name="test_watch" time="3.1" />
<testcase classname="tests.e2e.test_shell_tmux" name="test_ctrl_c" time="55.2">
<failure message="AssertionError: screen never showed the condition within 30 s; \
last screen:&#10;barnum[*]&gt;">trace</failure></testcase>
<testcase classname="tests.e2e.test_web_e2e" name="test_page" time="0.1">
<error message="failed on setup with &quot;TimeoutError&quot;">trace</error></testcase>
<testcase classname="tests.e2e.test_completion_tmux" name="test_zsh" time="0.0">
<skipped type="pytest.skip" message="needs zsh">skip</skipped></testcase>
</testsuite></testsuites>
"""


def test_junit_report_gives_counts_and_first_line_of_each_failure(tmp_path):
    path = tmp_path / "run.xml"
    path.write_text(JUNIT)
    r = RunResult(1, 12.0, commit="abc1234")
    parse_junit(path, r)
    assert (r.passed, r.skipped) == (1, 1)
    assert r.failed == {
        "test_shell_tmux::test_ctrl_c":
            "AssertionError: screen never showed the condition within 30 s; last screen:",
        "test_web_e2e::test_page": 'failed on setup with "TimeoutError"',
    }
    assert not r.ok
    assert r.line(3).splitlines()[0] == \
        "run 1/3 [abc1234]: 1 passed, 2 failed, 1 skipped in 12 s"
    text = summary([r, RunResult(2, 5.0, passed=4)])
    assert text.splitlines()[0] == "flakes: 1/2 runs clean, 5 passed, 2 failed"
    assert "  1x test_shell_tmux::test_ctrl_c" in text.splitlines()


def test_a_run_without_a_report_or_a_pass_is_not_clean():
    assert not RunResult(1, 1.0, note="killed after 1800 s").ok
    assert not RunResult(1, 1.0).ok  # nothing passed: nothing was tested


def test_burners_are_busy_and_gone_after_stop():
    procs = start_burners(2)
    try:
        def cpu(pid: int) -> int:
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])  # utime + stime, in ticks
        assert until(lambda: all(cpu(p.pid) > 0 for p in procs), 10)
    finally:
        stop(procs)
    assert all(p.poll() is not None for p in procs)


def test_the_hunt_covers_the_tmux_and_browser_tests():
    names = {p.name for p in e2e_files()}
    assert {"test_shell_tmux.py", "test_watch_tmux.py", "test_web_e2e.py"} <= names
    assert "test_barnum_e2e.py" not in names
