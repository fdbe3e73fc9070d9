"""Each speed lever against its own absence, in the same run (issue 14).

- bailey over D-Bus vs two ``systemctl`` processes (``BAILEY_NO_DBUS=1``);
- bailey's argparse-free argv vs argparse (``--units circus_*`` takes argparse);
- the overview with TCP opened early vs not (``BARNUM_NO_PRECONNECT=1``);
- paramiko's key exchange: its default (curve25519) vs ecdh-sha2-nistp256.

Host CPU is the host's whole cgroup (sshd, systemd, dbus-daemon, circusd and
bailey), read before and after each command, minus a plain ``ssh host true``:
what a host pays, whoever in it does the work.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.fleet import Fleet
from tests.fleet.fleet import CGROUP_ROOTS, OPERATOR


def _host_cpu(fleet: Fleet, host: str) -> float:
    """Seconds of CPU the host's cgroup has used so far."""
    stat = (CGROUP_ROOTS[1] / fleet.name / host / "cpu.stat").read_text()
    return int(stat.split()[1]) / 1e6


def _ssh_cost(fleet: Fleet, host: str, argv: list[str], repeats: int) -> float:
    samples = []
    for _ in range(repeats + 1):
        before = _host_cpu(fleet, host)
        p = fleet.ssh(host, argv)
        if p.returncode not in (0, 1):
            raise RuntimeError(f"{argv} on {host}: exit {p.returncode}: {p.stderr[-300:]}")
        samples.append(_host_cpu(fleet, host) - before)
    return statistics.median(samples[1:])


def _paramiko_cost(fleet: Fleet, hosts: list[str], kex: tuple[str, ...] | None,
                   repeats: int) -> tuple[float, float]:
    """(client CPU, host CPU) per connection + ``true``, median over ``repeats`` rounds."""
    import socket

    import paramiko

    key = paramiko.Ed25519Key.from_private_key_file(str(fleet.key))
    client, host_cpu = [], []
    for _ in range(repeats):
        before = sum(_host_cpu(fleet, h) for h in hosts)
        t0 = time.process_time()
        for h in hosts:
            sock = socket.create_connection((fleet.address(h), 22), timeout=10)
            t = paramiko.Transport(sock)
            if kex:
                t.get_security_options().kex = kex
            t.start_client(timeout=10)
            t.auth_publickey(OPERATOR, key)
            ch = t.open_session()
            ch.exec_command("true")
            ch.recv_exit_status()
            t.close()
        client.append((time.process_time() - t0) / len(hosts))
        host_cpu.append((sum(_host_cpu(fleet, h) for h in hosts) - before) / len(hosts))
    return statistics.median(client), statistics.median(host_cpu)


def _overview(fleet: Fleet, hosts: list[str], env: dict[str, str]) -> float:
    import os

    cmd = [sys.executable, "-m", "barnum", "--config", str(fleet.users_file),
           "--ssh-config", str(fleet.ssh_config), *hosts]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, stdin=subprocess.DEVNULL, timeout=120,
                       env={**os.environ, **env})
    if p.returncode not in (0, 1):
        raise RuntimeError(f"barnum exited {p.returncode}: {p.stderr.decode()[-300:]}")
    return time.perf_counter() - t0


def measure_levers(fleet: Fleet, hosts: list[str], repeats: int) -> dict[str, float]:
    """The levers' figures (ms), each beside its contrast."""
    host = hosts[0]
    bailey = str(Path(fleet.venv) / "bin" / "bailey")
    template = f"{fleet.homes}/{{user}}/circus/{{host}}/circus.ini"
    base = [bailey, "--json", "--config-template", template]
    n = max(5, repeats * 2)
    floor = _ssh_cost(fleet, host, ["true"], n)
    out = {
        "bailey host CPU over ssh true (ms): D-Bus": _ssh_cost(fleet, host, base, n) - floor,
        "bailey host CPU over ssh true (ms): systemctl":
            _ssh_cost(fleet, host, ["env", "BAILEY_NO_DBUS=1", *base], n) - floor,
        "bailey host CPU over ssh true (ms): argparse (--units)":
            _ssh_cost(fleet, host, [*base, "--units", "circus_*"], n) - floor,
    }
    out = {k: v * 1000 for k, v in out.items()}
    for label, kex in (("curve25519 (default)", None), ("ecdh-nistp256", ("ecdh-sha2-nistp256",))):
        c, h = _paramiko_cost(fleet, hosts, kex, max(2, repeats))
        out[f"paramiko connection, client CPU (ms): {label}"] = c * 1000
        out[f"paramiko connection, host CPU (ms): {label}"] = h * 1000
    early, late = [], []
    _overview(fleet, hosts, {})
    for _ in range(max(3, repeats)):
        early.append(_overview(fleet, hosts, {}))
        late.append(_overview(fleet, hosts, {"BARNUM_NO_PRECONNECT": "1"}))
    out[f"overview @{len(hosts)} (ms): TCP opened early"] = statistics.median(early) * 1000
    out[f"overview @{len(hosts)} (ms): not early"] = statistics.median(late) * 1000
    return out
