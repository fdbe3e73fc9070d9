"""``barnum shell``'s figures: a command on the open session against the one-shot CLI.

- shell ``status`` of every host (fresh from each, gathered and rendered);
- shell ``stop ticker`` then ``start ticker`` on one instance;
- the same two through the one-shot CLI (``barnum user1@host1 -- -- stop
  ticker``, then ``start``): process start, SSH connection and bailey each time.

Output goes to a string: the terminal's own cost is not measured.

    python -m benchmarks.shell_bench [--hosts 4] [--repeats 5]   # its own fleet
"""

from __future__ import annotations

import argparse
import io
import sys

from barnum.live.session import FleetSession
from barnum.model.config import load_config
from barnum.shell.runner import Shell
from barnum.transport.options import Options
from barnum.views.render import make_console
from benchmarks.measure import Measure, _check, measure
from tests.fleet import Fleet


def measure_shell(fleet: Fleet, hosts: list[str], repeats: int) -> list[Measure]:
    cfg = load_config(fleet.users_file)
    opts = Options.from_config(cfg, ssh_config=str(fleet.ssh_config))
    one = f"user1@{hosts[0]}"

    def command(sh: Shell, text: str) -> None:
        code = sh.run_text(text)
        if code not in (0, 1):  # 1: an instance is unhealthy, still an answer
            raise RuntimeError(f"shell {text!r} exited {code}")

    with FleetSession(cfg, opts, targets=hosts) as s:
        sh = Shell(s, make_console(io.StringIO(), color=False), lambda _m: None)
        out = [
            measure("shell: status, every host", len(hosts), lambda: command(sh, "status"),
                    repeats),
            measure("shell: stop + start ticker, one instance", 1,
                    lambda: command(sh, f"stop ticker {one}; start ticker {one}"), repeats),
        ]
    for m in out:  # in-process: children's CPU says nothing about them
        m.cpu_samples = []
    barnum = [sys.executable, "-m", "barnum", "--config", str(fleet.users_file),
              "--ssh-config", str(fleet.ssh_config), one, "--", "--"]
    out.append(measure("one-shot CLI: stop + start ticker, one instance", 1,
                       lambda: (_check([*barnum, "stop", "ticker"]),
                                _check([*barnum, "start", "ticker"])), repeats))
    return out


def main() -> int:
    from benchmarks.measure import bench_layout

    p = argparse.ArgumentParser(prog="python -m benchmarks.shell_bench")
    p.add_argument("--hosts", type=int, default=4)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--name", default="shbench", help="fleet name")
    a = p.parse_args()
    fleet = Fleet(a.name, bench_layout(a.hosts)).up()
    try:
        ms = measure_shell(fleet, [f"host{k}" for k in range(1, a.hosts + 1)], a.repeats)
    finally:
        fleet.down()
    for m in ms:
        print(f"{m.name} ({m.hosts} hosts): FAILED: {m.error}" if m.error else
              f"{m.name} ({m.hosts} hosts): median {m.median * 1000:.0f} ms of {len(m.samples)}")
    print(f"one-shot / shell: {ms[2].median / ms[1].median:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
