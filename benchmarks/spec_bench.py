"""Figures for groups, check and ordered start, on the bench fleet (or any fleet with
host1 and host2 running user1 and user2's circus instances).

- ``barnum check`` of N hosts against an ``expect:`` (one-shot, wall);
- ``barnum start --ordered`` of a 3-step chain across two hosts, from stopped
  (session opening, three circusctl starts, each waited for ``active``), and
  its ``--dry-run`` (no connection: the users file, discovery, the circus.ini
  files and the sort).

Each repeat first stops the chain on the hosts (nsenter, not timed).  A row
whose command fails (``barnum check`` exiting 3 on a loaded machine) is
returned with why, and the other rows still run.
Standalone: ``python -m benchmarks.spec_bench`` boots a 2-host fleet.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.fleet import Fleet

CHAIN = [("host2", "user1", "ticker"), ("host2", "user2", "sleeper"), ("host1", "user1", "ticker")]
EXTRA = """\
groups:
  pair: [host1, host2]
expect:
  '@pair': {user1: [sleeper, ticker], user2: [sleeper, ticker]}
depends:
  'user1@host1:ticker': ['user2@host2:sleeper']
  'user2@host2:sleeper': ['user1@host2:ticker']
"""


def _barnum(fleet: Fleet, users: Path, *args: str, ok=(0,)) -> float:
    cmd = [sys.executable, "-m", "barnum", *args[:1], "--config", str(users),
           "--ssh-config", str(fleet.ssh_config), *args[1:]]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    if p.returncode not in ok:
        raise RuntimeError(f"{' '.join(args)} exited {p.returncode}: {p.stderr[-300:]}")
    return wall


def _ctl(fleet: Fleet, host: str, user: str, *args: str) -> None:
    ep = f"tcp://127.0.0.1:{fleet.port(user)}"
    p = fleet.exec(host, [str(fleet.venv / "bin" / "circusctl"), "--endpoint", ep, *args])
    if p.returncode != 0:
        raise RuntimeError(f"circusctl {args} on {host}: {p.stderr[-300:]}")


def _ordered(fleet: Fleet, users: Path) -> float:
    for h, u, w in CHAIN:
        _ctl(fleet, h, u, "stop", w)
    try:
        return _barnum(fleet, users, "start", "--ordered", "user1@host1:ticker")
    finally:
        for h, u, w in CHAIN:
            _ctl(fleet, h, u, "start", w)


def measure_spec(fleet: Fleet, hosts: list[str], repeats: int
                 ) -> list[tuple[str, int, list[float], str | None]]:
    """(label, hosts, samples in seconds, why it failed or None) rows; warm-up run first,
    not counted.  A failed row is not run again; the others go on."""
    from benchmarks.measure import failure

    with tempfile.TemporaryDirectory(prefix="barnum-spec-bench-") as tmp:
        users = Path(tmp) / "circus_users.yaml"
        users.write_text(fleet.users_file.read_text() + EXTRA)
        rows = [
            (f"barnum check, {len(hosts)} hosts", len(hosts),
             lambda: _barnum(fleet, users, "check", *hosts, ok=(0, 1))),
            ("start --ordered, 3-step chain on 2 hosts", 2, lambda: _ordered(fleet, users)),
            ("start --ordered --dry-run (connects to nothing)", 2,
             lambda: _barnum(fleet, users, "start", "--ordered", "--dry-run",
                             "user1@host1:ticker")),
        ]
        samples: dict[str, list[float]] = {label: [] for label, _, _ in rows}
        errors: dict[str, str] = {}
        for i in range(repeats + 1):
            for label, _, fn in rows:
                if label in errors:
                    continue
                try:
                    wall = fn()
                except Exception as e:
                    errors[label] = failure(e)
                    continue
                if i:
                    samples[label].append(wall)
    return [(label, n, samples[label], errors.get(label)) for label, n, _ in rows]


if __name__ == "__main__":
    from tests.fleet import default_layout

    f = Fleet(sys.argv[1] if len(sys.argv) > 1 else "specb", default_layout(2)).up()
    try:
        for label, n, samples, error in measure_spec(f, ["host1", "host2"], 5):
            print(f"{label} ({n} hosts): FAILED: {error}" if error else
                  f"{label} ({n} hosts): median {statistics.median(samples) * 1000:.0f} ms "
                  f"over {len(samples)} runs")
    finally:
        f.down()
