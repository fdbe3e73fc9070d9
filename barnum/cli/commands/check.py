"""``barnum check [targets] [--json]``: the fleet compared with the users file's ``expect:``.

Exit 0: as expected; 1: not as expected; 3: some host could not tell.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from barnum.views.check import finding_text, fix_for

if TYPE_CHECKING:
    from barnum.context import Context
    from barnum.spec.expect import Check


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("targets", nargs="*", help="hosts, user@host, @group, expressions")
    p.add_argument("--json", action="store_true",
                   help="one JSON document (schema barnum-check/1)")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="problems and unknowns only, no notes")


def run(args: argparse.Namespace, ctx: Context) -> int:
    from barnum.oneshot.plan import plan
    from barnum.oneshot.pool import run_fleet
    from barnum.spec.expect import check

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

    from barnum.text.plural import count
    from barnum.views.render import make_console

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


def _say_unknowns(c: Check, ctx: Context) -> None:
    """Exit 3 names on stderr each host that could not tell, and why (stdout may be
    piped away or parsed)."""
    for f in c.unknowns:
        ctx.err(f.line())
