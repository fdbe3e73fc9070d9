"""``barnum shell [targets] [-c COMMANDS]``: an interactive command line on the live session.

On a terminal: a prompt with completion, history and live events (see
barnum.shell.repl).  Otherwise commands come from ``-c`` (``;`` between
them) or stdin, one line at a time; nothing meant for a terminal is
printed, and the exit status is the worst of the commands' (see
barnum.shell.runner.worst).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from barnum.context import Context


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("targets", nargs="*", help="the starting target set (default: every host)")
    p.add_argument("-c", dest="commands", metavar="COMMANDS",
                   help="run these commands (separated by ;) and exit; exit status: "
                   "0 all succeeded, 1 an instance failed, 3 a host could not answer, "
                   "2 a command was a mistake, 130 interrupted")


def run(args: argparse.Namespace, ctx: Context) -> int:
    from barnum import EXIT_OK, EXIT_USAGE
    from barnum.context import down_lines, open_live
    from barnum.shell.runner import EXIT_INTERRUPTED, Shell, worst
    from barnum.shell.selection import groups_of
    from barnum.views.render import make_console

    interactive = args.commands is None and sys.stdin.isatty() and sys.stdout.isatty()
    # The session covers every allowed host, so that changing the set is instant;
    # the targets given are the starting set.  The warm session's, when one can be used.
    session = open_live(ctx, every_host=True)
    try:
        for line in down_lines(session):
            ctx.err(line)
        shell = Shell(session, make_console(), ctx.err, ctx.targets, groups_of(ctx.config))
        if interactive:
            from barnum.shell.repl import interactive as repl
            from barnum.text.plural import count

            shell.console.print(f"barnum shell: {count(len(session.hosts), 'host')}; help "
                                "lists the commands, Tab completes, Ctrl-D leaves")
            return repl(shell)
        if args.commands is not None:
            try:
                code = shell.run_text(args.commands)
            except KeyboardInterrupt:
                return EXIT_INTERRUPTED
            return shell.exit_code if shell.exit_code is not None else code
        codes = [EXIT_OK]
        try:
            for n, raw in enumerate(sys.stdin.buffer, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    ctx.err(f"error: stdin line {n} is not UTF-8 (skipped)")
                    codes.append(EXIT_USAGE)
                    continue
                codes.append(shell.run_text(line))
                if shell.leaving or codes[-1] == EXIT_INTERRUPTED:
                    break
        except KeyboardInterrupt:
            codes.append(EXIT_INTERRUPTED)
        return shell.exit_code if shell.exit_code is not None else worst(codes)
    finally:
        session.close()
