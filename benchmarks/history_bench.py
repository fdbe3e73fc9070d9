"""The history store's figures (issue 22):

- ``barnum history --since 24h`` over a million rows (30 days of a busy fleet,
  generated into a temporary database): the whole command, as a subprocess
  with its output to a file, and the query plus table alone, in process;
- the recording's cost under a flood: the session's process CPU while 10
  watchers respawn in a loop on a fleet host, with and without the recorder.
"""

from __future__ import annotations

import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from barnum.cli.commands.history import LIMIT
from barnum.history import store as hdb

DAY = 86400.0


def generate(path: Path, rows: int = 1_000_000, days: float = 30.0, now: float | None = None,
             hosts: int = 50) -> None:
    """``rows`` rows spread evenly over the last ``days``: circus spawns and reaps mostly,
    some unit and host rows, as a flapping fleet would leave."""
    now = time.time() if now is None else now
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    hdb.migrate(db)
    rnd = random.Random(22)
    step = days * DAY / rows

    def gen():
        for i in range(rows):
            t = now - days * DAY + i * step
            h = f"host{rnd.randrange(hosts) + 1}"
            w = f"w{rnd.randrange(20)}"
            k = rnd.random()
            if k < 0.9:
                act = "reap" if i % 2 else "spawn"
                detail = json.dumps({"process_pid": 1000 + i % 30000,
                                     **({"exit_code": 1} if act == "reap" else {})})
                yield (t, t + 0.01, t, h, "circus", "user1", f"circus_user1_{h}.service", w,
                       act, detail, "live", None)
            elif k < 0.98:
                yield (t, t, None, h, "unit", "user1", f"circus_user1_{h}.service", None,
                       "active/running", None, "live", None)
            else:
                yield (t, t, None, h, "host", None, None, None, "down",
                       json.dumps({"reason": "no answer for 20s"}), "live", None)

    db.execute("BEGIN")
    db.executemany(f"INSERT INTO events ({', '.join(hdb.COLUMNS)}) VALUES "
                   f"({', '.join('?' * len(hdb.COLUMNS))})", gen())
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def measure_query(repeats: int = 5, rows: int = 1_000_000) -> dict:
    """p50 of ``barnum history --since 24h`` (subprocess, output to a file) and of the
    query and table in process, over ``rows`` rows."""
    from barnum.views.history import table

    with tempfile.TemporaryDirectory(prefix="barnum-history-bench-") as tmp:
        path = Path(tmp) / "history.db"
        t0 = time.perf_counter()
        generate(path, rows)
        gen_s = time.perf_counter() - t0
        users = Path(tmp) / "users.yaml"
        users.write_text(f"users: [root]\nhistory: {{path: {path}}}\n")
        cmd = [sys.executable, "-m", "barnum", "--config", str(users), "history",
               "--since", "24h"]
        whole, cpu, inproc, full, shown = [], [], [], [], 0
        for i in range(repeats + 1):
            with open(Path(tmp) / "out.txt", "w") as out:
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                p = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, text=True)
                dt = time.perf_counter() - t0
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            if p.returncode != 0:
                raise RuntimeError(f"barnum history failed: {p.stderr.strip()}")
            shown = (Path(tmp) / "out.txt").read_text().count("\n") - 1
            db = hdb.open_reader(hdb.HistorySettings(path=str(path)))
            t0 = time.perf_counter()
            table(hdb.query(db, since=time.time() - DAY, limit=LIMIT))
            di = time.perf_counter() - t0
            t0 = time.perf_counter()
            text = table(hdb.query(db, since=time.time() - DAY))
            df = time.perf_counter() - t0
            db.close()
            in_window = text.count("\n") - 1
            if i:  # the first run warms the page cache
                whole.append(dt)
                cpu.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
                inproc.append(di)
                full.append(df)
        # the interpreter alone: what any barnum command pays before it reads a row
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import barnum.cli.main"], check=True)
        start = time.perf_counter() - t0
    return {"rows": rows, "rows_shown": shown, "in_window": in_window, "generate_s": gen_s,
            "whole_p50": statistics.median(whole), "whole_max": max(whole),
            "cpu_p50": statistics.median(cpu), "inproc_p50": statistics.median(inproc),
            "full_p50": statistics.median(full), "startup": start}


def measure_recording(fleet, host: str = "host1", seconds: float = 10.0, pairs: int = 6,
                      watchers: int = 10) -> dict:
    """The session's CPU per event (this process) during a flood of respawns, in
    ``pairs`` alternating windows without and with the recorder attached (load on
    the machine drifts: each pair is measured close together); medians per event,
    their ratio, and the recorder's and writer's own threads' CPU.  A "with" window
    counts the recorder's start and everything it and the writer do for the window's
    events (to the last row committed), not the store's opening (once per process)."""
    from barnum.history.recorder import Recorder
    from barnum.live.session import FleetSession
    from barnum.model.config import load_config
    from barnum.transport.options import Options

    cfg = load_config(fleet.users_file)
    opts = Options.from_config(cfg, ssh_config=str(fleet.ssh_config))
    ctl = [str(fleet.venv / "bin" / "circusctl"), "--endpoint",
           f"tcp://127.0.0.1:{fleet.port('user1')}"]
    names = [f"flood{i}" for i in range(watchers)]
    for n in names:
        fleet.exec(host, [*ctl, "add", "--start", n, "/bin/sleep 0.2"], user="user1")
    per: dict[str, list[float]] = {"without": [], "with": []}
    own: list[float] = []
    out: dict = {"written": 0, "dropped": 0, "events_without": 0, "events_with": 0}
    try:
        with tempfile.TemporaryDirectory(prefix="barnum-history-bench-") as tmp, \
                FleetSession(cfg, opts, targets=[host]) as s:
            sub = s.subscribe(kinds={"circus"})  # the page's own reader, in both runs
            for label in ("without", "with") * pairs:
                store = rec = None
                if label == "with":
                    store = hdb.open_store(hdb.HistorySettings(path=f"{tmp}/h.db"), print)
                    assert store is not None, "the bench's history store did not open"
                c0, t0 = time.process_time(), time.monotonic()
                if store is not None:
                    rec = Recorder(s, store, backfill=False).start()
                events = 0
                while time.monotonic() - t0 < seconds:
                    if sub.get(0.2) is not None:
                        events += 1
                if rec is not None and store is not None:
                    rec.close()  # what the window queued is written inside the window
                    store.flush()
                    own.append((rec.cpu + store.cpu) / max(events, 1))
                per[label].append((time.process_time() - c0) / max(events, 1))
                out[f"events_{label}"] += events
                if store is not None:
                    store.close()
                    out["written"] += store.written
                    out["dropped"] += store.dropped
            sub.close()
    finally:
        for n in names:
            fleet.exec(host, [*ctl, "rm", n])
    base, withr = statistics.median(per["without"]), statistics.median(per["with"])
    out.update(seconds=seconds, pairs=pairs, us_without=base * 1e6, us_with=withr * 1e6,
               us_own=statistics.median(own) * 1e6,
               cost_pct=(withr - base) / base * 100 if base else 0.0,
               own_pct=statistics.median(own) / base * 100 if base else 0.0)
    return out


def main(name: str | None = None, rows: int = 1_000_000, query: bool = True) -> None:
    """Print the figures; the flood on fleet ``name`` (default $BARNUM_TEST_FLEET)."""
    if query:
        print_query(measure_query(rows=rows))
    name = name or os.environ.get("BARNUM_TEST_FLEET")
    if name:
        print_recording(name)


def print_query(q: dict) -> None:
    print(f"barnum history --since 24h over {q['rows']:,} rows ({q['in_window']:,} in the "
          f"window, newest {q['rows_shown']:,} shown): p50 {q['whole_p50'] * 1000:.0f} ms wall "
          f"(max {q['whole_max'] * 1000:.0f}), {q['cpu_p50'] * 1000:.0f} ms CPU; interpreter "
          f"and imports alone {q['startup'] * 1000:.0f} ms; query+table in process "
          f"{q['inproc_p50'] * 1000:.0f} ms ({q['full_p50'] * 1000:.0f} ms for all "
          f"{q['in_window']:,} rows, --limit 0)")


def print_recording(name: str) -> None:
    """The flood on a fleet of that name (booted here, taken down after)."""
    from tests.fleet import Fleet, test_layout

    f = Fleet(name, test_layout()).up()
    try:
        r = measure_recording(f)
    finally:
        f.down()
    print(f"recording under a flood of 10 respawning watchers, {r['pairs']} pairs of "
          f"{r['seconds']:g} s windows: session CPU per event, median "
          f"{r['us_without']:.0f} us without ({r['events_without']} events), "
          f"{r['us_with']:.0f} us with ({r['events_with']} events; {r['written']} rows "
          f"written, {r['dropped']} dropped): {r['cost_pct']:+.1f}% per event; the "
          f"recorder's and writer's own threads {r['us_own']:.1f} us an event = "
          f"{r['own_pct']:.1f}% of the session's CPU")


if __name__ == "__main__":
    main(query="--no-query" not in sys.argv)
