"""The stats table: rows per watcher and process, sorted."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass


def rows(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """Pure: one row per watcher across the fleet, with its processes summed."""
    out = []
    for host, result in stats.items():
        if not isinstance(result, dict):
            continue
        for inst in result.get("instances", []):
            for w in inst.get("watchers", []):
                procs = w.get("processes", [])
                out.append({
                    "host": host, "user": inst.get("user"), "watcher": w.get("name"),
                    "status": w.get("status"), "wanted": w.get("numprocesses"),
                    "running": len(procs),
                    "cpu": sum(p.get("cpu") or 0.0 for p in procs),
                    "mem": sum(p.get("mem") or 0.0 for p in procs),
                    "rss": sum(p.get("rss") or 0 for p in procs),
                    "processes": procs,
                })
    return out


def sort_rows(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    from barnum.model.hostsort import natural_key

    if key in ("cpu", "mem"):
        return sorted(items, key=lambda r: -r[key])
    return sorted(items, key=lambda r: (natural_key(r["host"]), r["user"] or "",
                                        r["watcher"] or ""))


def _mb(n: int) -> str:
    return f"{n / 1048576:.1f}M"


def table_of(items: list[dict[str, Any]]):
    """The rows as a rich Table (also the shell's ``stats``)."""
    from rich.table import Table
    from rich.text import Text

    t = Table(box=None, pad_edge=False)
    for col in ("host", "user", "watcher", "status", "procs", "cpu%", "mem%", "rss"):
        t.add_column(col, justify="right" if col in ("procs", "cpu%", "mem%", "rss")
                     else "left")
    for r in items:
        procs = f"{r['running']}/{r['wanted']}" if r["wanted"] is not None \
            else str(r["running"])
        cells = (r["host"], r["user"] or "?", r["watcher"], r["status"], procs,
                 f"{r['cpu']:.1f}", f"{r['mem']:.2f}", _mb(r["rss"]))
        t.add_row(*(Text(str(c)) for c in cells))  # Text: a name is never markup
    return t


def show(stats: dict[str, Any], sort: str, as_json: bool, console: Any, out: Any
         ) -> dict[str, str]:
    """The table (or the JSON document) of every host that answered; host -> error."""
    errors = {h: v for h, v in stats.items() if not isinstance(v, dict)}
    for inst_err in [(h, i) for h, v in stats.items() if isinstance(v, dict)
                     for i in v.get("instances", []) if i.get("error")]:
        errors.setdefault(inst_err[0], inst_err[1]["error"])
    table = sort_rows(rows(stats), sort)
    if as_json:
        out.write(json.dumps({"schema": "barnum-stats/1", "watchers": table,
                              "errors": errors}, indent=2, sort_keys=True) + "\n")
    else:
        console.print(table_of(table))
    return errors
