"""``barnum check [targets] [--json]``: the fleet compared with the users file's ``expect:``.

Exit 0: as expected; 1: not as expected; 3: some host could not tell.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from barnum.cli import Context
    from barnum.expect import Check

MARK = {"problem": "FAIL", "unknown": "????", "note": "note"}
STYLE = {"problem": "red", "unknown": "yellow", "note": "dim"}


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("targets", nargs="*", help="hosts, user@host, @group, expressions")
    p.add_argument("--json", action="store_true",
                   help="one JSON document (schema barnum-check/1)")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="problems and unknowns only, no notes")


def run(args: argparse.Namespace, ctx: Context) -> int:
    from barnum.expect import check
    from barnum.fleet import plan, run_fleet

    if not ctx.config.expect:
        ctx.err(f"warning: {ctx.config.path or 'the users file'} has no expect: every "
                "running instance is only a note")
    p = plan(ctx.config, ctx.targets, discovery=ctx.discovery)
    result = run_fleet(p, ctx.options, log=ctx.err)
    c = check(result, ctx.config.expect, ctx.discovery.hosts, ctx.config.groups,
              whole_fleet=not ctx.targets)
    if args.json:
        sys.stdout.write(json.dumps(c.to_dict(), indent=2, sort_keys=True) + "\n")
        sys.stdout.flush()
        _say_unknowns(c, ctx)
        return c.exit_code
    from rich.text import Text

    from barnum.plural import count
    from barnum.render import make_console

    console = make_console()
    order = {"problem": 0, "unknown": 0, "note": 1}
    for f in sorted(c.findings, key=lambda f: order[f.severity]):  # stable: hosts in order
        if args.quiet and f.severity == "note":
            continue
        console.print(finding_text(f))
        fix = fix_for(f, ctx.discovery.configs)
        if fix:
            console.print(Text(f"    fix: {fix}", style="dim"))
    expected = [x for x in c.cells if x.expected]
    good = [x for x in expected if x.status == "ok" and all(
        v in ("ok", "unexpected") for v in x.watchers.values())]
    verdict = {0: "as expected", 1: "NOT as expected", 3: "some hosts could not tell"}
    console.print(Text(
        f"check: {verdict[c.exit_code]}: {len(good)}/{count(len(expected), 'expected instance')}"
        f" fine; {count(len(c.problems), 'problem')}, {len(c.unknowns)} unknown, "
        f"{count(len(c.notes), 'note')}",
        style="bold " + {0: "green", 1: "red", 3: "yellow"}[c.exit_code]))
    _say_unknowns(c, ctx)
    return c.exit_code


def finding_text(f):
    """``FAIL host3 user3: expected instance's unit is not active (...)``, as rich Text
    (never markup: names from hosts print as themselves); the shell and watch use it too."""
    from rich.text import Text

    t = Text(f"{MARK[f.severity]} ", style=STYLE[f.severity])
    t.append(f.line())
    return t


# The unit verb that clears a finding about the unit itself.
FIX_VERB = {"unit-failed": "restart", "instance-inactive": "start", "enabled-inactive": "start",
            "instance-error": "restart"}
FIX_WHY = {"unit-failed": " (after fixing the cause; reset-failed clears it instead)",
           "instance-error": " (if circusd hangs)"}


def fix_for(f, configs=()) -> str | None:
    """``barnum unit VERB user@host`` for a finding about a unit, else None.
    ``configs``: discovery's (user, host) pairs (others are named by their unit)."""
    from barnum.units import suggest, unit_of

    verb = FIX_VERB.get(f.kind)
    if verb is None or f.unit is None or unit_of(f.host, f.user) != f.unit:
        return None
    cmd = suggest(verb, f.host, f.user, (f.user, f.host) in configs)
    return cmd + FIX_WHY.get(f.kind, "") if cmd else None


def unmet_line(problems: int):
    """The one-line count the front ends print under their table."""
    from rich.text import Text

    verdict = "NOT as expected" if problems else "as expected"
    return Text(f"check: {verdict}: {_n(problems, 'problem')}",
                style="bold red" if problems else "green")


def _n(k: int, word: str) -> str:
    return f"{k} {word}{'' if k == 1 else 's'}"


def _say_unknowns(c: Check, ctx: Context) -> None:
    """Exit 3 names on stderr each host that could not tell, and why (stdout may be
    piped away or parsed)."""
    for f in c.unknowns:
        ctx.err(f.line())
