"""``barnum unit VERB [targets | circus_<user>_<host>.service ...] [--dry-run] [--yes]``.

VERB is start, stop, restart, reset-failed, enable or disable; it runs
``systemctl VERB UNIT`` on each selected instance's host (as root, or through
``sudo -n`` where the SSH user is not root).  Asks first: "N units on M
hosts" and y/N, above the threshold the count typed; ``--yes`` skips that,
and without a terminal it is required.  One line per unit comes back.
Exit 0: all done; 1: some unit failed or was not allowed; 2: usage (also a
name outside circus_*.service); 3: some host unreachable.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from barnum import EXIT_INSTANCE, EXIT_USAGE, BarnumError
from barnum.oneshot.units import DEFAULT_THRESHOLD, VERBS
from barnum.views.units import confirm, done_word

if TYPE_CHECKING:
    from barnum.context import Context


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("verb", choices=VERBS, help="what systemctl does to the units")
    p.add_argument("targets", nargs="*", metavar="TARGET|UNIT",
                   help="hosts, user@host, @group, expressions, or circus_<user>_<host>.service "
                   "names (none: every instance found)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the exact command for each unit; connect to nothing")
    p.add_argument("--yes", "-y", action="store_true",
                   help="do not ask (scripts); required when stdin is not a terminal")
    p.add_argument("--confirm-threshold", type=_threshold, default=DEFAULT_THRESHOLD,
                   metavar="N", help="above N units, type the count shown to confirm "
                   f"(default {DEFAULT_THRESHOLD})")


def _threshold(text: str) -> int:
    from barnum.cli.parser import _ranged_int

    return _ranged_int(1, 1 << 20)(text)


def split_units(words: list[str]) -> tuple[list[str], list[str]]:
    """Pure: (unit names, targets).  A word ending in ``.service`` is a unit name
    (checked later: only circus_<user>_<host>.service passes)."""
    units = [w for w in words if w.endswith(".service")]
    return units, [w for w in words if not w.endswith(".service")]


def run(args: argparse.Namespace, ctx: Context) -> int:
    from barnum.context import refuse_skipped
    from barnum.model.targets import resolve
    from barnum.oneshot.units import exit_code, plan_units

    units, targets = split_units(ctx.targets)
    ctx.args.targets, ctx.args.explicit_targets = targets, []
    refuse_skipped(ctx)
    hosts = ctx.discovery.hosts
    if not hosts:
        raise BarnumError("no hosts found in the users' circus trees", EXIT_USAGE)
    selection = resolve(targets, hosts, ctx.config.groups) if targets or not units else {}
    plan = plan_units(args.verb, selection, hosts, units, ctx.config.users)

    from barnum.transport import ssh

    fab_config = ssh.fabric_config(ctx.options.ssh_config)
    if args.dry_run:
        from barnum.oneshot.units import dry_run_lines

        for line in dry_run_lines(plan, ctx.options.ssh_config, fab_config):
            print(line)
        return 0
    if not args.yes and not confirm(plan, args.confirm_threshold):
        ctx.err(f"unit: not confirmed; nothing was {done_word(plan.verb)}")
        return EXIT_INSTANCE

    import threading

    from barnum.oneshot.units import run_units

    lock = threading.Lock()

    def show(r) -> None:  # from the hosts' threads: one whole line at a time
        with lock:
            sys.stdout.write(r.line() + "\n")
            sys.stdout.flush()

    from barnum.history.actions import ActionLog, result_word

    record = ActionLog(ctx.config.history, ctx.err, f"unit-{plan.verb}", "barnum unit").record
    record([{"host": j.host, "user": j.user, "unit": j.unit} for j in plan.jobs], "started")
    results = run_units(plan, ctx.options, fab_config, on_result=show, log=ctx.err)
    rows = [{"host": r.host, "user": r.user, "unit": r.unit, "ok": r.ok,
             "error": None if r.ok else f"{r.state}: {r.error}"} for r in results]
    record(rows, result_word(rows))
    bad = [r for r in results if not r.ok]
    for r in bad:
        if r.state == "denied":
            ctx.err(f"{r.host}: {r.error}")
            break  # the same advice for every unit: once
    n = len(results)
    print(f"unit {plan.verb}: {n - len(bad)}/{n} units ok on {len(plan.hosts)} hosts",
          flush=True)
    return exit_code(results)




