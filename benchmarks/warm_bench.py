"""``invoke bench --warm``: barnum served by the warm session against the cold path, on
a real fleet, in one run: the overview, stop/start through the passthrough, TAB
completion, ``barnum shell -c hosts`` attached to the session against its own
session, and the session's memory and idle CPU.  Medians, beside the cold
baseline measured in the same run.  stop/start are also measured through a second
warm session whose bailey runs with ``--no-native`` (one circusctl per instance,
the path before bailey answered the control verbs itself): the ratio is the gain."""

from __future__ import annotations

import json
import math
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import warm_phases
from benchmarks.measure import Measure, barnum_command, bench_layout, failure, measure

BARNUM = barnum_command()


def _env(run_dir: str, persist: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(BARNUM_PERSIST=persist, XDG_RUNTIME_DIR=run_dir)
    return env


def _runner(fleet, run_dir: str, persist: str, *args: str, env: dict | None = None,
            ok: tuple[int, ...] = (0, 1)):
    cmd = [*BARNUM, "--config", str(fleet.users_file), "--ssh-config", str(fleet.ssh_config),
           *args]
    full = {**_env(run_dir, persist), **(env or {})}

    def fn() -> None:
        p = subprocess.run(cmd, env=full, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=120)
        if p.returncode not in ok:
            raise RuntimeError(f"{' '.join(args)} exited {p.returncode}: "
                               f"{p.stderr.decode()[-300:]}")
    return fn


def _status(fleet, run_dir: str, *extra: str) -> dict | None:
    p = subprocess.run([*BARNUM, "--config", str(fleet.users_file), "--ssh-config",
                        str(fleet.ssh_config), *extra, "session", "status", "--json"],
                       env=_env(run_dir, "10m"), capture_output=True, timeout=60)
    return json.loads(p.stdout) if p.returncode == 0 else None


def _ready(fleet, run_dir: str, *extra: str, within: float = 60) -> dict:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        st = _status(fleet, run_dir, *extra)
        if st and all(v == "up" for v in st["hosts"].values()):
            return st
        time.sleep(0.2)
    raise RuntimeError("the warm session did not come up")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _idle_cpu(pid: int, seconds: float) -> float:
    """Percent of one core the session used while nobody called it."""
    a = _cpu_seconds(pid)
    time.sleep(seconds)
    return 100 * (_cpu_seconds(pid) - a) / seconds


def rows(fleet, hosts: int, repeats: int) -> list[Measure]:
    run_dir = tempfile.mkdtemp(prefix="bwb", dir="/tmp")
    out: list[Measure] = []
    out.append(measure("cold barnum (overview)", hosts, _runner(fleet, run_dir, "0"), repeats))
    out.append(measure("barnum shell -c hosts, own session", hosts,
                       _runner(fleet, run_dir, "0", "shell", "-c", "hosts"), repeats))
    _runner(fleet, run_dir, "10m")()  # the first call: cold, starts the session
    try:
        st = _ready(fleet, run_dir)
        out.append(measure("warm barnum (overview)", hosts, _runner(fleet, run_dir, "10m"),
                           repeats))
        out += _baseline_rows(fleet, hosts, repeats, "--no-helpers",
                              [("warm barnum (overview)", ())])
        out.append(measure("barnum shell -c hosts, attached", hosts,
                           _runner(fleet, run_dir, "10m", "shell", "-c", "hosts"), repeats))
        for verb in ("stop", "start"):
            out.append(measure(f"warm barnum -- -- {verb} ticker", hosts,
                               _runner(fleet, run_dir, "10m", "--", "--", verb, "ticker"),
                               repeats))
        out += _baseline_rows(fleet, hosts, repeats, "--no-native", [
            (f"warm barnum -- -- {verb} ticker", ("--", "--", verb, "ticker"))
            for verb in ("stop", "start")])
        comp = Path(run_dir) / "completion.out"
        line = f"barnum --ssh-config {fleet.ssh_config} host"  # the overview's session
        cenv = {"_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": str(len(line)),
                "_ARGCOMPLETE_STDOUT_FILENAME": str(comp), "COMP_TYPE": "9"}
        comp_cmd = [*BARNUM]
        full = {**_env(run_dir, "10m"), **cenv, "BARNUM_CONFIG": str(fleet.users_file)}

        def complete() -> None:
            subprocess.run(comp_cmd, env=full, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=60)
            if "host1" not in comp.read_text():
                raise RuntimeError("completion offered no host")
        complete()  # this users file (no --config on the line): its own session
        out.append(measure("warm TAB completion", hosts, complete, repeats))
        st = _status(fleet, run_dir) or st
        m = Measure("session memory (MB, RSS)", hosts, [st["rss"] / 1e6])
        out.append(m)
        out.append(Measure("session idle CPU (% of a core, 10 s)", hosts,
                           [_idle_cpu(st["pid"], 10.0)]))
    except Exception as e:
        out.append(Measure("warm rows", hosts, error=failure(e)))
    finally:
        subprocess.run([*BARNUM, "--config", str(fleet.users_file), "--ssh-config",
                        str(fleet.ssh_config), "session", "stop"], env=_env(run_dir, "10m"),
                       capture_output=True, timeout=60)
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)
    return out


# The bench fleet's bailey is on PATH.  --timeout 30: on a loaded machine the wide
# host's ten circusctl processes can take longer than barnum's default 10 s per host,
# and a baseline row must finish (the timeout only cuts, never speeds up).
NO_NATIVE = ("--bailey", "bailey --no-native", "--timeout", "30")
# bailey as root opening each user's file in a forked child, not a kept helper.
NO_HELPERS = ("--bailey", "bailey --no-helpers")
BASELINES = {"--no-native": NO_NATIVE, "--no-helpers": NO_HELPERS}


def _baseline_rows(fleet, hosts: int, repeats: int, label: str,
                   cases: list[tuple[str, tuple[str, ...]]]) -> list[Measure]:
    """``cases`` (row name, barnum's arguments) through a warm session of its own (its
    own runtime folder, so the other session stays) whose bailey --serve runs with
    ``label``'s flag: the row the same run's default is compared with."""
    flags = BASELINES[label]
    run_dir = tempfile.mkdtemp(prefix="bwn", dir="/tmp")
    out: list[Measure] = []
    try:
        _runner(fleet, run_dir, "10m", *flags)()  # cold: starts that session
        _ready(fleet, run_dir, *flags[:2])
        for name, args in cases:
            out.append(measure(f"{name} ({label})", hosts,
                               _runner(fleet, run_dir, "10m", *flags, *args), repeats))
    except Exception as e:
        out.append(Measure(f"warm {label} rows", hosts, error=failure(e)))
    finally:
        subprocess.run([*BARNUM, "--config", str(fleet.users_file), "--ssh-config",
                        str(fleet.ssh_config), *flags[:2], "session", "stop"],
                       env=_env(run_dir, "10m"), capture_output=True, timeout=60)
        import shutil

        shutil.rmtree(run_dir, ignore_errors=True)
    return out


def ratios(measures: list[Measure]) -> dict[str, float]:
    """A baseline's median (``--no-native``, ``--no-helpers``) over the default's, per
    row and fleet size (same run)."""
    by = {(m.name, m.hosts): m.median for m in measures}
    out = {}
    for (name, n), native in by.items():
        for label in BASELINES:
            base = by.get((f"{name} ({label})", n))
            if base is not None and native > 0 and not math.isnan(base):  # NaN: failed
                out[f"{name}: {label} / default @{n}"] = base / native
    return out


def main(name: str = "bwarm", hosts: int = 12, repeats: int = 10,
         scale: bool = False) -> dict[str, Any]:
    from tests.fleet import Fleet

    sizes = [hosts, 96] if scale else [hosts]
    measures: list[Measure] = []
    for n in sizes:
        fleet = Fleet(name, bench_layout(n - 1))  # n - 1 plain hosts and the wide one
        try:
            fleet.up()
            measures += rows(fleet, n, repeats)
            measures += warm_phases.rows(fleet, n, repeats)
        except Exception as e:
            measures.append(Measure(f"fleet of {n}", n, error=failure(e)))
        finally:
            fleet.down()
    load = os.getloadavg()
    rs = ratios(measures)
    results: dict[str, Any] = {"load": load, "measures": [
        {"name": m.name, "hosts": m.hosts, "median": m.median, "samples": m.samples,
         "error": m.error} for m in measures], "ratios": rs}
    Path(".bench").mkdir(exist_ok=True)
    Path(".bench/warm.json").write_text(json.dumps(results, indent=2))
    print(f"barnum timed: {BARNUM[0]}")
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for line in warm_phases.ratios(measures):
        print(line)
    print("| case | hosts | median |")
    print("| --- | --- | --- |")
    for m in measures:
        unit = "" if "(MB" in m.name or "(%" in m.name else " s"
        shown = m.error or f"{m.median:.3f}{unit}"
        print(f"| {m.name} | {m.hosts} | {shown} |")
    for key, r in rs.items():
        print(f"{key}: {r:.1f}x")
    return results


if __name__ == "__main__":
    main()
