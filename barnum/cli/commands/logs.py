"""``barnum logs [targets] [-n N] [-f]``: the circus units' journal, merged in time order."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from barnum import EXIT_HOST, EXIT_OK
from barnum.live.errors import worst_exit
from barnum.views.logs import HOST_COLORS, merged

if TYPE_CHECKING:
    from barnum.context import Context


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("targets", nargs="*", help="hosts or user@host; globs allowed")
    p.add_argument("-n", "--lines", type=int, default=20, metavar="N",
                   help="last N lines of each unit (default 20)")
    p.add_argument("-f", "--follow", action="store_true", help="then follow every unit")


def run(args: argparse.Namespace, ctx: Context) -> int:
    from rich.text import Text

    from barnum.context import down_lines, open_session
    from barnum.model.hostsort import natural_sorted
    from barnum.views.render import make_console

    if not 0 <= args.lines <= 10000:
        ctx.err("error: -n must be from 0 to 10000")
        return 2
    console = make_console()
    session = open_session(ctx)
    try:
        for line in down_lines(session):
            ctx.err(line)
        colors = {h: HOST_COLORS[i % len(HOST_COLORS)]
                  for i, h in enumerate(natural_sorted(session.hosts))}
        batches, errors = [], []
        for host, user, unit in session.units(ctx.targets):
            try:
                batches.append((host, user, session.logs(unit, host, args.lines)))
            except Exception as e:
                ctx.err(f"{host}: {unit}: {e}")
                errors.append(e)

        def show(host: str, user: str, rec: dict) -> None:
            console.print(Text(f"{host} {user}: ", style=colors.get(host, "")) +
                          Text(str(rec.get("message", ""))))

        for host, user, rec in merged(batches):
            show(host, user, rec)
        if args.follow:
            sub = session.follow(ctx.targets, n=0)
            users: dict[tuple[str, object], str] = {
                (h, unit): u for h, u, unit in session.units(ctx.targets)}
            try:
                for ev in sub:
                    if ev.kind == "dropped":
                        ctx.err(f"warning: {ev.data.get('count')} lines dropped "
                                "(this terminal read too slowly)")
                        continue
                    if ev.kind == "end":  # a unit's follow ended (or the session closed)
                        if ev.host:
                            ctx.err(f"warning: {ev.host}: {ev.data.get('unit')}: no longer "
                                    f"followed ({ev.data.get('reason')})")
                        continue
                    rec = ev.data.get("line") or {}
                    show(ev.host, users.get((ev.host, ev.data.get("unit")), "?"), rec)
                    sys.stdout.flush()
            except KeyboardInterrupt:
                pass
            finally:
                sub.close()  # cancels the follows on the hosts (a warm session stays)
        if down_lines(session):
            return EXIT_HOST
        return worst_exit(errors) or EXIT_OK
    finally:
        session.close()
