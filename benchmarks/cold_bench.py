"""Where a cold ``barnum`` overview's time goes, phase by phase (12 hosts).

Beside the whole command (wall, medians), each phase alone, in the same run:

- start-up: ``barnum --version`` (Python, then the CLI's imports);
- the users file read and the hosts discovered;
- per host, in parallel as the one-shot pool runs them: the SSH connection
  (TCP, key exchange, authentication), then ``bailey --json`` over it;
- bailey on a host by itself (through nsenter: no SSH);
- what is left (rendering, the pool's own work) is the whole minus start-up
  and the fan-out.
- the floor: parallel OpenSSH ``ssh host true``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time

from benchmarks.measure import _parallel, bench_layout


def _median_of(fn, repeats: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def _hosts_in_parallel(fleet, repeats: int) -> dict[str, float]:
    """Medians over runs of: the slowest host's connect, its bailey, and the
    fan-out as a whole (all hosts at once, as the pool runs them)."""
    from barnum.model.config import load_config
    from barnum.transport import ssh
    from barnum.transport.capture import run_capped
    from barnum.transport.options import Options
    from barnum.transport.remote import remote_command

    cfg = load_config(fleet.users_file)
    opts = Options.from_config(cfg, ssh_config=str(fleet.ssh_config))
    fab = ssh.fabric_config(opts.ssh_config)
    argv = [*opts.bailey.split(), "--json"]
    connect, run, total = [], [], []
    for i in range(repeats + 1):
        times: dict[str, tuple[float, float]] = {}

        def one(host: str, times=times) -> None:
            t0 = time.perf_counter()
            conn = ssh.make_connection(host, fab, opts.timeout, opts.host_key_policy,
                                       lambda _m: None)
            ssh.open_connection(conn)
            t1 = time.perf_counter()
            c = run_capped(conn.transport, remote_command(argv), time.monotonic() + 30)
            if c.status != 0:
                raise RuntimeError(f"{host}: bailey exited {c.status}")
            times[host] = (t1 - t0, time.perf_counter() - t1)
            conn.close()

        t0 = time.perf_counter()
        threads = [threading.Thread(target=one, args=(h,)) for h in fleet.hosts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if i and len(times) == len(fleet.hosts):  # the first is a warm-up
            total.append(time.perf_counter() - t0)
            connect.append(statistics.median(c for c, _ in times.values()))
            run.append(statistics.median(r for _, r in times.values()))
    return {"fan-out, all hosts (wall)": statistics.median(total),
            "per host: SSH connect (median host)": statistics.median(connect),
            "per host: bailey --json over SSH (median host)": statistics.median(run)}


def run(hosts: int = 12, repeats: int = 5, name: str = "cold") -> dict[str, float]:
    from barnum.model.config import load_config
    from barnum.model.discovery import discover
    from tests.fleet import Fleet

    fleet = Fleet(name, bench_layout(hosts - 1)).up()
    try:
        base = [sys.executable, "-m", "barnum", "--config", str(fleet.users_file),
                "--ssh-config", str(fleet.ssh_config)]
        rows: dict[str, float] = {}
        rows["barnum overview (wall)"] = _median_of(
            lambda: subprocess.run(base, capture_output=True, check=False), repeats)
        rows["start-up: barnum --version"] = _median_of(
            lambda: subprocess.run([sys.executable, "-m", "barnum", "--version"],
                                   capture_output=True, check=True), repeats)
        rows["floor: parallel ssh host true"] = _median_of(
            lambda: _parallel([["ssh", "-F", str(fleet.ssh_config), h, "true"]
                               for h in fleet.hosts]), repeats)

        def config_and_discovery() -> None:
            cfg = load_config(fleet.users_file)
            discover(cfg.users, cfg.config_template)

        rows["users file + discovery"] = _median_of(config_and_discovery, repeats)
        rows.update(_hosts_in_parallel(fleet, repeats))
        bailey = [str(fleet.venv / "bin" / "bailey"), "--json"]
        rows["bailey --json on a host alone (nsenter)"] = _median_of(
            lambda: fleet.exec(fleet.hosts[0], bailey), repeats)
        return rows
    finally:
        fleet.down()


if __name__ == "__main__":
    out = run(int(sys.argv[1]) if len(sys.argv) > 1 else 12)
    for k, v in out.items():
        print(f"| {k} | {v * 1000:.0f} ms |")
