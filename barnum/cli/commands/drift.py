"""``barnum drift [targets] [-n LINES] [--json]``: files and units that disagree.

Reads only: it prints, for each finding, the command that would clear it.
Exit 0: no drift; 1: some; 3: some host could not tell.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from barnum.context import Context
    from barnum.spec.drift import Drift


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("targets", nargs="*", help="hosts, user@host, @group, expressions")
    p.add_argument("-n", "--lines", type=int, default=5, metavar="N",
                   help="journal lines shown per failed unit (default 5)")
    p.add_argument("--json", action="store_true", help="one JSON document (barnum-drift/1)")


def run(args: argparse.Namespace, ctx: Context) -> int:
    import time as _time

    from barnum.context import open_session
    from barnum.spec.drift import failed_units, find_drift

    session = open_session(ctx)
    try:
        result = session.snapshot()
        journal: dict[tuple[str, str], list[str]] = {}
        for host, unit in failed_units(result):
            try:
                recs = session.logs(unit, host, max(0, min(args.lines, 200)))
            except Exception as e:  # no journal rights: say so in place of the lines
                journal[(host, unit)] = [f"(journal not readable: {e})"]
                continue
            journal[(host, unit)] = [
                f"{_time.strftime('%Y-%m-%d %H:%M:%S', _time.localtime(r['t']))} "
                f"{r['message']}" if r.get("t") else str(r.get("message", ""))
                for r in recs]
    finally:
        session.close()
    drift = find_drift(result, ctx.discovery, journal)
    if args.json:
        sys.stdout.write(json.dumps(drift.to_dict(), indent=2, sort_keys=True) + "\n")
        sys.stdout.flush()
        _say_unknowns(drift, ctx)
        return drift.exit_code
    from rich.text import Text

    from barnum.text.plural import count
    from barnum.views.render import make_console

    console = make_console()
    for f in drift.findings:
        lines = f.lines()
        console.print(Text(lines[0], style="yellow" if f.kind != "unit-failed" else "red"))
        for ln in lines[1:]:
            console.print(Text(ln, style="dim" if ln.lstrip().startswith("|") else ""))
    n = len(drift.findings)
    console.print(Text(f"drift: {count(n, 'finding')} on {count(len(result.hosts), 'host')}; "
                       "nothing was changed", style="bold"))
    _say_unknowns(drift, ctx)
    return drift.exit_code


def _say_unknowns(drift: Drift, ctx: Context) -> None:
    """Exit 3 names on stderr each host that could not tell, and why."""
    for f in drift.findings:
        if f.kind == "host-unknown":
            ctx.err(f.lines()[0])
