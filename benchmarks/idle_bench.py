"""What an open, idle live session costs: CPU and memory, beside the old poll settings.

Boots a fleet of N hosts (``bench_layout``: one of them with ten instances),
then for each polling mode (``legacy``: the settings before the idle work,
barnum.live.liveness.LEGACY, the baseline; ``default``: today's) opens a
``FleetSession`` over every host in a child process, lets it settle, and
reads over ``repeats`` windows of ``window`` seconds, from /proc:

- the session process's CPU (user + system), as a fraction of one core;
- the sum over the hosts of every ``bailey --serve`` process's CPU, its
  waited-for children included;
- the ``sshd`` processes carrying those channels (for information: not in a
  target);
- the session's resident memory (VmRSS) and thread count, at the end.

Medians of the windows, and the mean over the whole span (which counts the
rare work a window may miss: bailey's resync every minute). Nothing happens
on any host meanwhile.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.measure import bench_layout, failure

MODES = ("legacy", "default")
INOTIFY_KEY = Path("/proc/sys/fs/inotify/max_user_instances")
INOTIFY_NEED = 1024  # each host's systemd, sshd and bailey take inotify instances
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class IdleRow:
    """One mode at one size: CPU fractions of a core per window, memory at the end."""

    mode: str
    hosts: int
    session_cpu: list[float] = field(default_factory=list)
    bailey_cpu: list[float] = field(default_factory=list)
    sshd_cpu: list[float] = field(default_factory=list)
    span_session: float = 0.0  # mean over the whole span
    span_bailey: float = 0.0
    rss_mb: float = 0.0
    threads: int = 0
    load: float = 0.0  # this machine's 1-minute load average as the windows ended
    error: str | None = None

    def median(self, what: str) -> float:
        samples = getattr(self, f"{what}_cpu")
        return statistics.median(samples) if samples and not self.error else float("nan")


# -- /proc --------------------------------------------------------------------------------


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime of ``pid`` (and its waited-for children's), in seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15 if children else 13]) / TICK


def _status(pid: int, key: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    return ""


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def host_processes(fleet) -> tuple[list[int], list[int]]:
    """PIDs (this machine's) of every ``bailey --serve`` in the fleet, and of the
    sshd sessions that are their parents."""
    serve = [p for p in fleet._cgroup_procs() if "bailey" in (c := _cmdline(p))
             and "--serve" in c]
    return serve, sorted({_sshd_of(p) for p in serve} - {0})


def _sshd_of(pid: int) -> int:
    """The nearest ``sshd`` above ``pid`` (a shell may sit between), or 0."""
    for _ in range(4):
        pid = _ppid(pid)
        if pid <= 1:
            return 0
        if _cmdline(pid).startswith("sshd"):
            return pid
    return 0


def check_inotify(hosts: int) -> None:
    """Enough inotify instances for ``hosts`` hosts, raised if we may; else a clear exit."""
    if hosts <= 24:
        return
    have = int(INOTIFY_KEY.read_text())
    if have >= INOTIFY_NEED:
        return
    try:
        INOTIFY_KEY.write_text(f"{INOTIFY_NEED}\n")
    except OSError:
        sys.exit(f"idle bench: {hosts} hosts need fs.inotify.max_user_instances >= "
                 f"{INOTIFY_NEED} (it is {have}); run: sysctl "
                 f"fs.inotify.max_user_instances={INOTIFY_NEED}")
    print(f"idle bench: raised fs.inotify.max_user_instances from {have} to {INOTIFY_NEED}",
          file=sys.stderr)


# -- the session, in its own process ------------------------------------------------------


def child(users_file: str, ssh_config: str, mode: str) -> int:
    """Open the session, say when every host is up, hold it until stdin closes."""
    from barnum.live.liveness import DEFAULT, LEGACY
    from barnum.live.session import FleetSession
    from barnum.model.config import load_config
    from barnum.transport.options import Options

    cfg = load_config(users_file)
    opts = Options.from_config(cfg, ssh_config=ssh_config)
    s = FleetSession(cfg, opts, polling=LEGACY if mode == "legacy" else DEFAULT).open()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        states = s.host_states()
        if all(st.state == "up" for st in states.values()):
            break
        time.sleep(0.5)
    down = sorted(h for h, st in s.host_states().items() if st.state != "up")
    print(json.dumps({"up": len(s.hosts) - len(down), "down": down[:5]}), flush=True)
    sys.stdin.read()
    s.close()
    return 0


def measure_mode(fleet, mode: str, window: float, repeats: int, settle: float) -> IdleRow:
    row = IdleRow(mode, len(fleet.hosts))
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.idle_bench", "--child", mode,
         str(fleet.users_file), str(fleet.ssh_config)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        ready = json.loads(proc.stdout.readline() or "{}")
        if ready.get("up") != len(fleet.hosts):
            raise RuntimeError(f"only {ready.get('up')} of {len(fleet.hosts)} hosts up "
                               f"(not up: {', '.join(ready.get('down', []))})")
        time.sleep(settle)  # the subscriptions' start-up work is over
        serve, sshd = host_processes(fleet)
        if len(serve) != len(fleet.hosts):
            raise RuntimeError(f"{len(serve)} bailey --serve for {len(fleet.hosts)} hosts")

        def totals() -> tuple[float, float, float, float]:
            return (time.monotonic(), cpu_seconds(proc.pid),
                    sum(cpu_seconds(p, children=True) for p in serve),
                    sum(cpu_seconds(p) for p in sshd))

        first = last = totals()
        for _ in range(repeats):
            time.sleep(window)
            now = totals()
            wall = now[0] - last[0]
            row.session_cpu.append((now[1] - last[1]) / wall)
            row.bailey_cpu.append((now[2] - last[2]) / wall)
            row.sshd_cpu.append((now[3] - last[3]) / wall)
            last = now
        span = last[0] - first[0]
        row.span_session = (last[1] - first[1]) / span
        row.span_bailey = (last[2] - first[2]) / span
        row.rss_mb = int(_status(proc.pid, "VmRSS").split()[0]) / 1024
        row.threads = int(_status(proc.pid, "Threads"))
        row.load = os.getloadavg()[0]
    except Exception as e:
        row.error = failure(e)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _wait_gone(fleet)
    return row


def _wait_gone(fleet, within: float = 20) -> None:
    """No bailey --serve left on any host (the next mode's figures are its own)."""
    deadline = time.monotonic() + within
    while host_processes(fleet)[0] and time.monotonic() < deadline:
        time.sleep(0.2)


# -- the run ------------------------------------------------------------------------------


def run(sizes: list[int], window: float, repeats: int, out_dir: Path, name: str = "idle",
        settle: float = 5.0) -> dict:
    from tests.fleet import Fleet

    check_inotify(max(sizes))
    rows: list[IdleRow] = []
    for n in sizes:
        fleet = Fleet(name, bench_layout(n - 1)).up()  # n hosts, one of them wide
        try:
            for mode in MODES:
                rows.append(measure_mode(fleet, mode, window, repeats, settle))
        finally:
            fleet.down()
    results = {"window_s": window, "repeats": repeats, "cores": os.cpu_count(),
               "rows": [row.__dict__ for row in rows]}
    out_dir.mkdir(exist_ok=True)
    (out_dir / "idle.json").write_text(json.dumps(results, indent=1))
    (out_dir / "idle.md").write_text(to_markdown(results))
    return results


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.2f}%"


def to_markdown(results: dict) -> str:
    out = [f"Idle cost of an open session, medians of {results['repeats']} windows of "
           f"{results['window_s']:g} s ({results['cores']} cores); % of one core. "
           "CPU is read in clock ticks per process, so sshd's tiny share may read 0.", "",
           "| hosts | mode | session CPU | bailey --serve CPU (sum) | session + bailey "
           "| span mean (session / bailey) | sshd (info) | session RSS | threads | load |",
           "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results["rows"]:
        row = IdleRow(**r)
        if row.error:
            out.append(f"| {row.hosts} | {row.mode} | FAILED: {row.error} ||||||||")
            continue
        s, b = row.median("session"), row.median("bailey")
        out.append(f"| {row.hosts} | {row.mode} | {_pct(s)} | {_pct(b)} | {_pct(s + b)} | "
                   f"{_pct(row.span_session)} / {_pct(row.span_bailey)} | "
                   f"{_pct(row.median('sshd'))} | {row.rss_mb:.0f} MB | {row.threads} | "
                   f"{row.load:.2f} |")
    return "\n".join(out) + "\n"


def failed(results: dict) -> list[str]:
    return [f"{r['mode']} @{r['hosts']}: {r['error']}" for r in results["rows"] if r["error"]]


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[3], sys.argv[4], sys.argv[2]))
    sys.exit("usage: python -m benchmarks.idle_bench --child MODE USERS_FILE SSH_CONFIG "
             "(the bench itself: invoke bench --idle)")
