"""The live session's figures, measured in the same run as the one-shot overview.

- warm refresh: a ``status`` of every host through the open session;
- event latency: from ``circusctl stop`` run on a host (through nsenter, so
  circusctl's own ~0.25 s start-up is included) to the session's ``stop``
  event; and from circusd publishing the event (its ``time``: the hosts
  share this machine's clock) to the session receiving it;
- idle host CPU: CPU time of ``bailey --serve`` on a host over an idle spell.
"""

from __future__ import annotations

import statistics
import time

from barnum.live.session import FleetSession
from barnum.model.config import load_config
from barnum.transport.options import Options
from tests.fleet import Fleet


def p95(samples: list[float]) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, round(0.95 * (len(s) - 1)))]


def _proc_cpu(fleet: Fleet, host: str) -> float:
    """Seconds of CPU used so far by bailey --serve on ``host``, its children included."""
    import os

    pid = fleet.exec(host, ["pgrep", "-f", "bailey --serve"]).stdout.split()[0]
    stat = fleet.exec(host, ["cat", f"/proc/{pid}/stat"]).stdout
    fields = stat.rsplit(")", 1)[1].split()
    # utime, stime, and the waited-for children's (the systemctl it runs)
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def measure_session(fleet: Fleet, hosts: list[str], repeats: int, idle: float) -> dict:
    cfg = load_config(fleet.users_file)
    opts = Options.from_config(cfg, ssh_config=str(fleet.ssh_config))
    with FleetSession(cfg, opts, targets=hosts) as s:
        s.refresh()  # warm-up
        refresh = []
        for _ in range(max(10, repeats * 4)):
            t0 = time.perf_counter()
            s.refresh()
            refresh.append(time.perf_counter() - t0)
        sub = s.subscribe()
        endpoint = f"tcp://127.0.0.1:{fleet.port('user1')}"
        ctl = [str(fleet.venv / "bin" / "circusctl"), "--endpoint", endpoint]
        latency, push = [], []
        for _ in range(max(5, repeats)):
            while sub.get(0.05):
                pass
            t0 = time.perf_counter()
            fleet.exec(hosts[0], [*ctl, "stop", "ticker"])
            while True:
                ev = sub.get(10)
                if ev is None or (ev.kind == "circus" and ev.data.get("action") == "stop"):
                    break
            latency.append(time.perf_counter() - t0)
            stamp = (ev.data.get("data") or {}).get("time") if ev else None
            if isinstance(stamp, int | float):  # hosts share this machine's clock
                push.append(ev.t - stamp)
            fleet.exec(hosts[0], [*ctl, "start", "ticker"])
            time.sleep(0.3)
        sub.close()
        before = _proc_cpu(fleet, hosts[0])
        time.sleep(idle)
        idle_cpu = (_proc_cpu(fleet, hosts[0]) - before) / idle
    return {
        "refresh_p50": statistics.median(refresh), "refresh_p95": p95(refresh),
        "event_p50": statistics.median(latency), "event_p95": p95(latency),
        "push_p50": statistics.median(push) if push else float("nan"),
        "idle_cpu_fraction": idle_cpu, "refresh_samples": refresh, "event_samples": latency,
    }
