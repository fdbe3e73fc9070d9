"""cpu and memory per watcher and process, asked of each running circusd.

circusd measures its processes itself (psutil, in the ``stats`` command);
bailey only reshapes the answer: numbers where circus gave numbers, None for
its "N/A", and RSS in bytes from circus's "7.25M" strings.  One ``stats`` and
one ``status`` per instance, and one ``get numprocesses`` per watcher: a few
milliseconds per instance, never the per-second firehose of circusd-stats.
"""

from __future__ import annotations

import re
import time
from typing import Any

from bailey import zmtp
from bailey.report import PLANNED, Report

_HUMAN = re.compile(r"^([0-9.]+)([BKMGTPEZY])$")
_POWERS = {s: 1 << (10 * i) for i, s in enumerate("BKMGTPEZY")}


def human_bytes(text: object) -> int | None:
    """circus's bytes2human string back to bytes ("7.25M" -> 7602176); None if not one."""
    m = _HUMAN.match(str(text))
    return int(float(m.group(1)) * _POWERS[m.group(2)]) if m else None


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def process_stats(info: dict[str, Any]) -> dict[str, Any]:
    """One process's figures from circus's ``get_info`` dict."""
    pid = info.get("pid")
    return {"pid": pid if isinstance(pid, int) else None, "cpu": _num(info.get("cpu")),
            "mem": _num(info.get("mem")), "rss": human_bytes(info.get("mem_info1")),
            "age": _num(info.get("age"))}


def watchers_from(stats_reply: dict[str, Any], statuses: dict[str, str],
                  wanted: dict[str, int | None]) -> list[dict[str, Any]]:
    """Pure: the protocol's watcher list from circusd's replies."""
    infos = stats_reply.get("infos")
    if not isinstance(infos, dict):
        infos = {}
    out = []
    for name in sorted(set(infos) | set(statuses)):
        procs = infos.get(name)
        if not isinstance(procs, dict):
            procs = {}
        out.append({
            "name": name, "status": statuses.get(name, "unknown"),
            "numprocesses": wanted.get(name),
            "processes": [process_stats(i) for i in procs.values() if isinstance(i, dict)],
        })
    return out


def collect(report: Report, timeout: float) -> dict[str, Any]:
    """Stats of every instance a dry-run report found running."""
    instances = []
    for inst in report.instances:
        if inst.state != PLANNED or not inst.endpoint:
            continue
        entry: dict[str, Any] = {"unit": inst.unit, "user": inst.user, "error": None,
                                 "memory_current": inst.memory_current, "watchers": []}
        deadline = time.monotonic() + timeout  # one for the instance, however many watchers

        def ask(message: dict[str, Any], endpoint: str = inst.endpoint,
                deadline: float = deadline) -> dict[str, Any]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise zmtp.ZmtpTimeout("timed out")
            return zmtp.call(endpoint, message, left)

        try:
            st = ask({"command": "stats", "properties": {}})
            status = ask({"command": "status", "properties": {}})
            statuses = status.get("statuses") or {}
            if not isinstance(statuses, dict) or not isinstance(st.get("infos", {}), dict):
                raise ValueError("'statuses' or 'infos' is not an object")
            statuses = {str(k): str(v) for k, v in statuses.items()}
            wanted: dict[str, int | None] = {}
            for name in statuses:
                got = ask({"command": "get", "properties": {
                    "name": name, "keys": ["numprocesses"]}})
                opts = got.get("options")
                n = opts.get("numprocesses") if isinstance(opts, dict) else None
                wanted[name] = n if isinstance(n, int) and not isinstance(n, bool) else None
            entry["watchers"] = watchers_from(st, statuses, wanted)
        except zmtp.ZmtpError as e:
            entry["error"] = f"circusd on {inst.endpoint}: {e}"
        except Exception as e:  # a malformed answer costs this instance only
            entry["error"] = f"circusd on {inst.endpoint}: malformed answer ({e})"
        instances.append(entry)
    return {"instances": instances}
