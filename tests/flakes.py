"""The flake hunt: the terminal (tmux) and browser (Chromium) end-to-end tests, run
many times in a row while busy-loop processes keep every core loaded.

Each run is its own pytest process with its own fleet (booted and removed by
the session fixture), so one run's crash or leftover cannot spoil the next.
A failing run is reported and the loop goes on.  ``invoke flakes`` wraps it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / ".artifacts" / "flakes"
RUN_LIMIT = 1800  # seconds: a hung run is killed and counted as failed

# Busy until its parent is gone: a burner never outlives the hunt, even a killed one.
_BURN = "import os\np = os.getppid()\nwhile os.getppid() == p:\n    pass\n"


def e2e_files(root: Path = ROOT) -> list[Path]:
    """Every test file that drives tmux or Chromium."""
    e2e = root / "tests" / "e2e"
    tmux = set(e2e.glob("test_*_tmux.py"))
    browser = {p for p in root.glob("tests/**/test_*.py") if "playwright" in p.read_text()}
    return sorted(tmux | browser)


@dataclass
class RunResult:
    """One pytest run: counts, and each failed test with the first line of its reason."""

    number: int
    seconds: float
    commit: str = ""
    passed: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    note: str = ""  # no report at all: timed out, crashed

    @property
    def ok(self) -> bool:
        return not self.failed and not self.note and self.passed > 0

    def line(self, runs: int) -> str:
        head = (f"run {self.number}/{runs} [{self.commit}]: {self.passed} passed, "
                f"{len(self.failed)} failed, {self.skipped} skipped in {self.seconds:.0f} s")
        if self.note:
            head += f" ({self.note})"
        return "\n".join([head, *(f"  FAILED {t}: {why}" for t, why in self.failed.items())])


def parse_junit(path: Path, result: RunResult) -> None:
    """Counts and failures from pytest's JUnit XML (a failure, or an error in a fixture)."""
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{(case.get('classname') or '').split('.')[-1]}::{case.get('name')}"
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            why = (bad.get("message") or bad.text or "").strip().splitlines()
            result.failed[name] = why[0][:200] if why else "?"
        elif case.find("skipped") is not None:
            result.skipped += 1
        else:
            result.passed += 1


def start_burners(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", _BURN], stdin=subprocess.DEVNULL)
            for _ in range(n)]


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        p.wait()


def _commit() -> str:
    """The checkout's commit, "+" when files differ from it: which tests a run ran."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip()
    return (git("rev-parse", "--short", "HEAD") or "?") + ("+" if git("status", "--porcelain",
                                                                      "tests", "barnum") else "")


def one_run(number: int, files: list[Path], k: str, fleet: str) -> RunResult:
    OUT.mkdir(parents=True, exist_ok=True)
    xml, log = OUT / f"run-{number}.xml", OUT / f"run-{number}.log"
    xml.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           f"--junitxml={xml}", *map(str, files)] + (["-k", k] if k else [])
    env = {**os.environ, "BARNUM_TEST_FLEET": fleet, "BARNUM_REQUIRE_FLEET": "1"}
    commit = _commit()
    start = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        note = ""
        try:
            proc.wait(timeout=RUN_LIMIT)
        except subprocess.TimeoutExpired:
            note = f"killed after {RUN_LIMIT} s"
        finally:
            if proc.poll() is None:  # timed out or interrupted: pytest's teardown gets SIGINT
                os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
    result = RunResult(number, time.monotonic() - start, commit=commit, note=note)
    if xml.exists():
        parse_junit(xml, result)
    elif not note:
        result.note = f"no report; pytest exited {proc.returncode}, see {log}"
    return result


def hunt(runs: int, burn: int, k: str = "", fleet: str = "flakes") -> list[RunResult]:
    """``runs`` runs under ``burn`` busy-loop processes; a summary line per run, then totals."""
    files = e2e_files()
    print(f"flakes: {runs} runs of {len(files)} files under {burn} CPU burners "
          f"(fleet {fleet}; logs in {OUT})", flush=True)
    for f in files:
        print(f"  {f.relative_to(ROOT)}", flush=True)
    results: list[RunResult] = []
    burners = start_burners(burn)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        for n in range(1, runs + 1):
            results.append(one_run(n, files, k, fleet))
            print(results[-1].line(runs), flush=True)
    finally:
        stop(burners)
        signal.signal(signal.SIGTERM, previous)
    print(summary(results), flush=True)
    return results


def summary(results: list[RunResult]) -> str:
    bad = Counter(t for r in results for t in r.failed)
    lines = [f"flakes: {sum(r.ok for r in results)}/{len(results)} runs clean, "
             f"{sum(r.passed for r in results)} passed, {sum(bad.values())} failed"]
    lines += [f"  {n}x {t}" for t, n in bad.most_common()]
    lines += [f"  run {r.number}: {r.note}" for r in results if r.note]
    return "\n".join(lines)
