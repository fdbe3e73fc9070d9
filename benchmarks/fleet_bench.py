"""Fleet speed, measured against baselines in the same run.

Boots one real fleet (the test fleet's machinery) big enough for the largest
size, then for each size N times, on the first N hosts:

- floor: OpenSSH ``ssh -F <config> hostK true`` to all N hosts in parallel
  (the cost of merely reaching them);
- naive: per host one ``ssh`` running a shell loop that calls
  ``systemctl status`` per unit and one ``circusctl --endpoint E status`` per
  running instance (what a one-liner would do);
- barnum: the ``barnum`` overview of those N hosts (wall and client CPU).

On one extra host with ten running instances it times ``bailey`` for one
instance and for all ten (native client, and ``--no-native`` for contrast).
Medians of the repeats after one warm-up; ratios are computed within the run.
A row that fails (a command's exit, a timeout on a loaded machine) is kept as
failed, with why, and the other rows still run; ratios that need it are left
out.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from benchmarks.measure import (
    WIDE_HOST,
    Measure,
    _check_rss,
    _parallel,
    bench_layout,
    guarded,
    measure,
)
from tests.fleet import Fleet

# The naive design, as an operator would type it: everything a shell loop
# needs is on the host; per unit a systemctl status, per running instance a
# circusctl process.  Bind-only endpoints are rewritten to loopback by sed.
NAIVE_SCRIPT = r"""
h=$(hostname -s)
for unit in $(systemctl list-unit-files --no-legend --no-pager 'circus_*' | awk '{print $1}'); do
  systemctl status --no-pager "$unit" >/dev/null
  systemctl is-active --quiet "$unit" || continue
  u=${unit#circus_}; u=${u%_$h.service}
  ini=$(getent passwd "$u" | cut -d: -f6)/circus/$h/circus.ini
  ep=$(sed -n 's/^endpoint *= *//p' "$ini" | sed 's/0\.0\.0\.0/127.0.0.1/; s/\*/127.0.0.1/')
  circusctl --endpoint "${ep:-tcp://127.0.0.1:5555}" status
done
"""


def run(sizes: list[int], repeats: int, out_dir: Path, name: str = "bench",
        scale: bool = False, web: bool = False) -> dict:
    """Boot the fleet, measure everything, write results; returns the results.

    ``scale``: only the per-size rows (floor, naive, overview), so a big
    fleet's figures do not wait for the single-host and live rows.
    ``web``: only barnum web's rows, at every size (the page at fleet scale).
    """
    fleet = Fleet(name, bench_layout(max(sizes))).up()
    try:
        if web:
            return _run_web(fleet, sizes, repeats, out_dir)
        return _run(fleet, sizes, repeats, out_dir, scale)
    finally:
        fleet.down()


def run_recorded(sizes: list[int], repeats: int, out_dir: Path) -> dict:
    """The page's first paint over a recorded state copied to each size (no fleet):
    a stand-in for sizes this machine cannot boot (benchmarks/web_scale_bench.py)."""
    from benchmarks.web_scale_bench import measure_recorded

    results: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                     "measures": [], "ratios": {}}
    for n in sizes:
        r = measure_recorded(n, repeats)
        for label, key in (("healthy hosts folded", "folded"), ("every host open", "open")):
            m = Measure(f"web (recorded state): first paint of the table, {label}", n,
                        r[f"{key}_paint_samples"])
            results["measures"].append({**asdict(m), "median": m.median, "cpu_median": None})
            results["ratios"][f"web (recorded) page KiB, {label} @{n}"] = r[f"{key}_bytes"] / 1024
    _write(results, out_dir)
    return results


def _run_web(fleet: Fleet, sizes: list[int], repeats: int, out_dir: Path) -> dict:
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                     "measures": [], "ratios": {}}
    for n in sizes:
        _web_rows(fleet, [], results, n, repeats)
    _write(results, out_dir)
    return results


def _run(fleet: Fleet, sizes: list[int], repeats: int, out_dir: Path,
         scale: bool = False) -> dict:
    cfg = str(fleet.ssh_config)
    barnum = [
        sys.executable,
        "-m",
        "barnum",
        "--config",
        str(fleet.users_file),
        "--ssh-config",
        cfg,
    ]
    measures: list[Measure] = []
    for n in sizes:
        hosts = [f"host{k}" for k in range(1, n + 1)]
        measures.append(
            measure(
                "floor: ssh true",
                n,
                lambda hosts=hosts: _parallel([["ssh", "-F", cfg, h, "true"] for h in hosts]),
                repeats,
            )
        )
        measures.append(
            measure(
                "naive: ssh + circusctl/systemctl per unit",
                n,
                lambda hosts=hosts: _parallel([["ssh", "-F", cfg, h, NAIVE_SCRIPT] for h in hosts]),
                repeats,
            )
        )
        rss: list[float] = []
        m = measure("barnum overview", n,
                    lambda hosts=hosts, rss=rss: _check_rss([*barnum, *hosts], rss, ok=(0, 1)),
                    repeats)
        m.rss_samples = rss[1:]  # not the warm-up's
        measures.append(m)
    if scale:
        results = _summarise(measures, sizes)
        _write(results, out_dir)
        return results
    bailey = str(fleet.venv / "bin" / "bailey")
    every = [f"host{k}" for k in range(1, sizes[-1] + 1)]
    for label, args in (
        ("bailey, 1 instance", ["user1"]),
        ("bailey, 10 instances", []),
        ("bailey --no-native, 10 instances", ["--no-native"]),
    ):
        measures.append(
            measure(label, 1, lambda args=args: _check_exec(fleet, [bailey, *args]), repeats)
        )
    from benchmarks.session_bench import measure_session

    n = sizes[-1]
    live = guarded(measures, "session: warm refresh, event latency", n,
                   lambda: measure_session(fleet, every, repeats,
                                           idle=25.0 if repeats > 2 else 12.0))
    for label, key in (("session: warm refresh", "refresh_samples"),
                       ("session: event latency (nsenter stop to event)", "event_samples")):
        if live is not None:
            measures.append(Measure(label, n if "refresh" in key else 1, list(live[key])))
    from benchmarks.levers_bench import measure_levers
    from benchmarks.shell_bench import measure_shell

    measures += guarded(measures, "shell rows", n,
                        lambda: measure_shell(fleet, every, repeats)) or []
    from benchmarks.spec_bench import measure_spec

    for label, hosts_n, samples, error in guarded(
            measures, "check and ordered start rows", n,
            lambda: measure_spec(fleet, every, repeats)) or []:
        measures.append(Measure(label, hosts_n, samples, error=error))
    lever_hosts = [f"host{k}" for k in range(1, (12 if 12 in sizes else sizes[-1]) + 1)]
    levers = guarded(measures, "levers", len(lever_hosts),
                     lambda: measure_levers(fleet, lever_hosts, repeats))
    results = _summarise(measures, sizes)
    results["levers"] = levers or {}
    ratios = results["ratios"]
    _ratio(ratios, "one-shot CLI / shell, stop + start one instance", lambda: (
        _find(measures, "one-shot CLI: stop + start ticker, one instance", 1).median
        / _find(measures, "shell: stop + start ticker, one instance", 1).median))
    if live is not None:
        cold = _find(measures, "barnum overview", n).median
        for key, fn in {
            f"session refresh p50 (ms) @{n}": lambda: live["refresh_p50"] * 1000,
            f"session refresh p95 (ms) @{n}": lambda: live["refresh_p95"] * 1000,
            f"cold overview / warm refresh @{n}": lambda: cold / live["refresh_p50"],
            "event latency p50 (ms)": lambda: live["event_p50"] * 1000,
            "event latency p95 (ms)": lambda: live["event_p95"] * 1000,
            "circusd publish to session event p50 (ms)": lambda: live["push_p50"] * 1000,
            "idle bailey --serve, % of a core": lambda: live["idle_cpu_fraction"] * 100,
        }.items():
            _ratio(ratios, key, fn)
    before = len(measures)
    guarded(measures, "web rows", n, lambda: _web_rows(fleet, measures, results, n, repeats))
    results["measures"] += [_row(m) for m in measures[before:] if m.error]  # web failed
    _write(results, out_dir)
    return results


def _ratio(ratios: dict[str, float], key: str, fn: Callable[[], float]) -> None:
    """``ratios[key] = fn()`` unless a row it needs failed (NaN, missing, zero)."""
    try:
        value = fn()
    except (StopIteration, ZeroDivisionError, KeyError, TypeError):
        return
    if math.isfinite(value):
        ratios[key] = value


def _row(m: Measure) -> dict:
    return {**asdict(m), "median": None if math.isnan(m.median) else m.median,
            "cpu_median": m.cpu_median if not m.error else None}


def _web_rows(fleet: Fleet, measures: list[Measure], results: dict, n: int,
              repeats: int) -> None:
    """barnum web's rows (benchmarks/web_bench.py), when Chromium is there."""
    from benchmarks.web_bench import CHROMIUM, measure_web

    if not os.path.exists(CHROMIUM):
        results["ratios"]["web: skipped (no chromium)"] = 0.0
        return
    web = measure_web(fleet, [f"host{k}" for k in range(1, n + 1)], repeats,
                      idle=20.0 if repeats > 2 else 8.0)
    mine = [Measure("web: page load to full table (warm)", n, web["load_samples"]),
            Measure("web: first paint of the table, healthy hosts folded", n,
                    web["paint_samples"]),
            Measure("web: first paint of the table, every host open", n,
                    web["unfolded_paint_samples"]),
            Measure("web: nsenter stop to DOM update", 1, web["latency_samples"])]
    measures += mine
    results["measures"] += [{**_row(m), "cpu_median": None} for m in mine]
    results["ratios"].update({
        f"web first paint of the table p50 (ms) @{n}": web["paint_p50"] * 1000,
        f"web first paint, every host open p50 (ms) @{n}": web["unfolded_paint_p50"] * 1000,
        f"web page KiB folded @{n}": web["page_bytes"] / 1024,
        f"web page KiB every host open @{n}": web["unfolded_page_bytes"] / 1024,
        f"web full table p50 (ms) @{n}": web["load_p50"] * 1000,
        "web change to DOM p50 (ms)": web["latency_p50"] * 1000,
        "web change to DOM p95 (ms)": web["latency_p95"] * 1000,
        "web session event to DOM p50 (ms)": web["event_to_dom_p50"] * 1000,
        f"web idle server, % of a core @{n}": web["idle_cpu_fraction"] * 100,
    })


def _check_exec(fleet: Fleet, argv: list[str]) -> None:
    p = fleet.exec(WIDE_HOST, argv, timeout=120)
    # --no-native is the contrast: on a loaded machine its ten circusctl
    # processes may exceed bailey's timeout (exit 1); that is still its time.
    if p.returncode != 0 and not (p.returncode == 1 and "--no-native" in argv):
        raise RuntimeError(
            f"{shlex.join(argv)} on {WIDE_HOST} exited {p.returncode}: {p.stderr[-300:]}"
        )


def _find(measures: list[Measure], name: str, hosts: int) -> Measure:
    return next(m for m in measures if m.name == name and m.hosts == hosts)


def _summarise(measures: list[Measure], sizes: list[int]) -> dict:
    """Rows and ratios; a ratio over a failed row is left out, the rest still computed."""
    ratios: dict[str, float] = {}
    for n in sizes:
        bm, fm = _find(measures, "barnum overview", n), _find(measures, "floor: ssh true", n)
        b = bm.median
        _ratio(ratios, f"barnum/floor @{n}", lambda b=b, fm=fm: b / fm.median)
        if not (bm.error or fm.error):
            _ratio(ratios, f"barnum client CPU / floor client CPU @{n}",
                   lambda bm=bm, fm=fm: bm.cpu_median / fm.cpu_median)
        _ratio(ratios, f"barnum ms per host @{n}", lambda b=b, n=n: b * 1000 / n)
        if bm.rss_max is not None and not bm.error:
            ratios[f"barnum client peak RSS (MB) @{n}"] = bm.rss_max
        _ratio(ratios, f"naive/barnum @{n}", lambda b=b, n=n: (
            _find(measures, "naive: ssh + circusctl/systemctl per unit", n).median / b))
    if len(sizes) > 1:
        big = sizes[-1]
        for small in sorted({sizes[-2], *(s for s in sizes if s == 24 and s != big)}):
            _ratio(ratios, f"barnum @{big} / @{small}", lambda big=big, small=small: (
                _find(measures, "barnum overview", big).median
                / _find(measures, "barnum overview", small).median))
    if any(m.name == "bailey, 1 instance" for m in measures):
        _ratio(ratios, "bailey 10 / 1", lambda: (
            _find(measures, "bailey, 10 instances", 1).median
            / _find(measures, "bailey, 1 instance", 1).median))
    return {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "measures": [_row(m) for m in measures],
        "ratios": ratios,
    }


def to_markdown(results: dict) -> str:
    lines = [
        "| what | hosts | median wall (ms) | median client CPU (ms) | runs |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for m in results["measures"]:
        cpu = f"{m['cpu_median'] * 1000:.0f}" if m["cpu_median"] is not None else ""
        wall = f"{m['median'] * 1000:.0f}" if m["median"] is not None else ""
        if m.get("error"):
            wall, cpu = "FAILED: " + m["error"].replace("|", "/"), ""
        lines.append(
            f"| {m['name']} | {m['hosts']} | {wall} | {cpu} | {len(m['samples'])} |"
        )
    lines += ["", "| ratio | value |", "| --- | ---: |"]
    lines += [f"| {k} | {v:.2f} |" for k, v in results["ratios"].items()]
    if results.get("levers"):
        lines += ["", "| lever (vs its absence) | ms |", "| --- | ---: |"]
        lines += [f"| {k} | {v:.1f} |" for k, v in results["levers"].items()]
    return "\n".join(lines) + "\n"


def _write(results: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out_dir / "results.md").write_text(to_markdown(results))
