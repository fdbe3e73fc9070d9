"""What every benchmark shares: a row of medians (``Measure``), timing a command
with its children's CPU, the bench fleet's layout and a failed row's one-line why.
The drivers (``fleet_bench`` and the per-front-end benches) import from here, and
never from each other, so no benchmark module imports another's driver."""

from __future__ import annotations

import math
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fleet import HostSpec, UnitSpec


def barnum_command() -> list[str]:
    """The ``barnum`` console script to time: the installed wheel's when
    ``BARNUM_INSTALLED_BIN`` names its bin folder (as operators run it; .ci/run sets
    it), else this venv's (an editable install, whose finder adds ~10 ms to each
    Python start: a warm call's figure is then high by that much)."""
    where = os.environ.get("BARNUM_INSTALLED_BIN") or os.path.dirname(sys.executable)
    return [os.path.join(where, "barnum")]


USERS_PER_HOST = 3  # two running, one disabled
WIDE_HOST = "wide1"
WIDE_USERS = 10


@dataclass
class Measure:
    """One figure: the median of repeats, with the raw samples kept."""

    name: str
    hosts: int
    samples: list[float] = field(default_factory=list)
    cpu_samples: list[float] = field(default_factory=list)
    rss_samples: list[float] = field(default_factory=list)  # MB, the command's own peak
    error: str | None = None  # the row failed: why (its samples are not a figure)

    @property
    def median(self) -> float:
        """The median, or NaN for a failed row (a ratio over it is then left out)."""
        return statistics.median(self.samples) if self.samples and not self.error \
            else math.nan

    @property
    def cpu_median(self) -> float | None:
        return statistics.median(self.cpu_samples) if self.cpu_samples else None

    @property
    def rss_max(self) -> float | None:
        return max(self.rss_samples) if self.rss_samples else None


def bench_layout(hosts: int) -> list[HostSpec]:
    users = [f"user{i}" for i in range(1, USERS_PER_HOST + 1)]
    layout = [
        HostSpec(
            f"host{n}",
            [UnitSpec(u, enabled=i < 2, started=i < 2) for i, u in enumerate(users)],
        )
        for n in range(1, hosts + 1)
    ]
    wide = [UnitSpec(f"user{i}") for i in range(1, WIDE_USERS + 1)]
    layout.append(HostSpec(WIDE_HOST, wide))
    return layout


def _timed(fn: Callable[[], None]) -> tuple[float, float]:
    """Wall seconds and children's CPU seconds spent by ``fn``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _parallel(commands: list[list[str]]) -> None:
    procs = [
        subprocess.Popen(
            c, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        for c in commands
    ]
    for cmd, p in zip(commands, procs, strict=True):
        _, err = p.communicate(timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"{shlex.join(cmd)} exited {p.returncode}: {err.decode()[-300:]}")


def _check(cmd: list[str], ok: tuple[int, ...] = (0,)) -> None:
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    if p.returncode not in ok:
        raise RuntimeError(f"{shlex.join(cmd)} exited {p.returncode}: {p.stderr.decode()[-300:]}")


def _check_rss(cmd: list[str], rss: list[float], ok: tuple[int, ...] = (0,)) -> None:
    """As _check, and the command's own peak resident memory (MB) appended to ``rss``."""
    import tempfile

    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        rss.append(usage.ru_maxrss / 1024)
        if p.returncode not in ok:
            err.seek(0)
            raise RuntimeError(f"{shlex.join(cmd)} exited {p.returncode}: "
                               f"{err.read().decode()[-300:]}")


def failure(e: BaseException) -> str:
    """One line saying why a row failed (a command's stderr tail included)."""
    text = " ".join(str(e).split()) or type(e).__name__
    return f"{type(e).__name__}: {text}"[:400]


def measure(name: str, hosts: int, fn: Callable[[], None], repeats: int) -> Measure:
    """``fn`` timed ``repeats`` times after a warm-up; if it raises, the row is failed."""
    m = Measure(name, hosts)
    try:
        fn()  # warm-up: caches, page cache, first-connection costs
        for _ in range(repeats):
            wall, cpu = _timed(fn)
            m.samples.append(wall)
            m.cpu_samples.append(cpu)
    except Exception as e:
        m.error = failure(e)
    return m


def guarded(measures: list[Measure], label: str, hosts: int, fn: Callable[[], Any]) -> Any:
    """``fn()``, or None with a failed row ``label`` added (a group of rows that failed)."""
    try:
        return fn()
    except Exception as e:
        measures.append(Measure(label, hosts, error=failure(e)))
        return None


def failed(results: dict) -> list[str]:
    """``name @hosts: why`` of every failed row."""
    return [f"{m['name']} @{m['hosts']}: {m['error']}" for m in results["measures"]
            if m.get("error")]
