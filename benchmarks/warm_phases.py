"""Where a warm overview's wall time and CPU go (``invoke bench --warm``).

From outside: the client's wall time, its CPU, and the CPU of every process on
the hosts by role (bailey, systemd, dbus-daemon, circusd, sshd), read from
/proc by each host's PID namespace.  From inside: the session's marks of each
call (barnum.warm.phases: received, asking the hosts, answered, rendered), in
the file ``BARNUM_WARM_PHASES`` names.  Both the overview that asks systemd
afresh (``BARNUM_WARM_WATCHED=0``, the "before") and the one that takes it from
bailey's watched status (the "after") are measured in the same run, beside the
cold baseline."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from barnum.warm.phases import split
from benchmarks.measure import Measure, barnum_command, failure

ROLES = ("bailey", "systemd", "dbus", "circusd", "sshd", "other")
BARNUM = barnum_command()


def _role(pid: int, pid1: int, comm: str) -> str:
    if pid == pid1:
        return "systemd"
    if comm == "dbus-daemon":
        return "dbus"
    if comm in ("circusd", "bailey"):
        return comm
    if comm.startswith("sshd"):
        return "sshd"
    if comm.startswith("python"):  # a shipped bailey runs as python3 -c
        try:
            if b"bailey" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return "bailey"
        except OSError:
            pass
    return "other"


def host_cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of the hosts' processes (with their reaped children), by role."""
    tick = os.sysconf("SC_CLK_TCK")
    ns_host: dict[str, int] = {}
    for pid1 in pids.values():
        try:
            ns_host[os.readlink(f"/proc/{pid1}/ns/pid")] = pid1
        except OSError:
            continue
    out = dict.fromkeys(ROLES, 0.0)
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            host_pid1 = ns_host.get(os.readlink(f"/proc/{name}/ns/pid"))
            if host_pid1 is None:
                continue
            comm = Path(f"/proc/{name}/comm").read_text().strip()
            fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[_role(int(name), host_pid1, comm)] += sum(int(f) for f in fields[11:15]) / tick
    return out


def _barnum(fleet, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*BARNUM, "--config", str(fleet.users_file), "--ssh-config",
                           str(fleet.ssh_config), *args], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=120)


def _session(fleet, env: dict[str, str]) -> None:
    """A new session started by a cold first call with ``env``, every host up in it."""
    _barnum(fleet, env, "session", "stop")
    _barnum(fleet, env)  # the first call: cold, leaves the session
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        p = _barnum(fleet, env, "session", "status", "--json")
        if p.returncode == 0 and all(v == "up" for v in json.loads(p.stdout)["hosts"].values()):
            return
        time.sleep(0.2)
    raise RuntimeError("the warm session did not come up")


def _variant(fleet, base_env: dict[str, str], run_dir: str, hosts: int, repeats: int,
             watched: bool) -> list[Measure]:
    label = "watched" if watched else "systemd asked afresh"
    marks_file = Path(run_dir) / f"phases-{int(watched)}.jsonl"
    env = {**base_env, "BARNUM_WARM_PHASES": str(marks_file),
           "BARNUM_WARM_WATCHED": "1" if watched else "0"}
    _session(fleet, env)
    for _ in range(2):  # warm-up: the watch's first full read, caches
        _barnum(fleet, env)
    marks_file.unlink(missing_ok=True)
    walls: list[float] = []
    spans: list[tuple[float, float]] = []
    cpu_client = 0.0
    before = host_cpu(fleet.pids)
    for _ in range(repeats):
        r0 = os.times()
        t0 = time.time()
        p = _barnum(fleet, env)
        t1 = time.time()
        r1 = os.times()
        if p.returncode not in (0, 1):
            raise RuntimeError(f"warm overview exited {p.returncode}: {p.stderr[-300:]!r}")
        walls.append(t1 - t0)
        spans.append((t0, t1))
        cpu_client += (r1.children_user - r0.children_user) + (r1.children_system
                                                                - r0.children_system)
    after = host_cpu(fleet.pids)
    lines = [json.loads(x) for x in marks_file.read_text().splitlines()]
    if len(lines) != repeats:
        raise RuntimeError(f"{len(lines)} phase records for {repeats} calls (not served warm?)")
    parts: dict[str, list[float]] = {"client start-up and request": [],
                                     "back to the client, exit": []}
    for (t0, t1), m in zip(spans, lines, strict=True):
        parts["client start-up and request"].append(m["received"] - t0)
        for k, v in split(m).items():
            parts.setdefault(f"session: {k}", []).append(v)
        parts["back to the client, exit"].append(t1 - m["done"])
    out = [Measure(f"warm overview, {label}", hosts, walls)]
    out += [Measure(f"  {label}: {k} (wall)", hosts, v) for k, v in parts.items()]
    cpu = {"client": cpu_client / repeats,
           "session": statistics.mean(m["session_cpu"] for m in lines)}
    cpu.update({f"hosts' {k}": (after[k] - before[k]) / repeats for k in ROLES})
    out += [Measure(f"  {label}: CPU of {k} per call", hosts, [v]) for k, v in cpu.items()]
    out.append(Measure(f"  {label}: CPU per call, all", hosts, [sum(cpu.values())]))
    return out


def rows(fleet, hosts: int, repeats: int) -> list[Measure]:
    """Before (systemd asked afresh) and after (watched), each with its phases."""
    run_dir = tempfile.mkdtemp(prefix="bwp", dir="/tmp")  # short: a socket path
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(BARNUM_PERSIST="10m", XDG_RUNTIME_DIR=run_dir)
    out: list[Measure] = []
    try:
        for watched in (False, True):
            try:
                out += _variant(fleet, env, run_dir, hosts, repeats, watched)
            except Exception as e:
                out.append(Measure(f"warm phases (watched={watched})", hosts,
                                   error=failure(e)))
    finally:
        _barnum(fleet, env, "session", "stop")
        shutil.rmtree(run_dir, ignore_errors=True)
    return out


def ratios(measures: list[Measure]) -> list[str]:
    """Lines quoting each warm overview against the cold one of the same run."""
    by = {(m.name, m.hosts): m.median for m in measures if not m.error}
    lines = []
    for (name, n), v in by.items():
        cold = by.get(("cold barnum (overview)", n))
        if name.startswith("warm overview") and cold:
            lines.append(f"{name} @{n}: {v * 1000:.0f} ms, cold {cold * 1000:.0f} ms, "
                         f"{cold / v:.1f}x faster")
    return lines


def to_json(measures: list[Measure]) -> list[dict[str, Any]]:
    return [{"name": m.name, "hosts": m.hosts, "median": m.median, "samples": m.samples,
             "error": m.error} for m in measures]
