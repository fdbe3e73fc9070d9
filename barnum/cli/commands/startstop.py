"""``barnum start|stop [--ordered] WATCHER... [targets] [--wait SECS] [--dry-run]``.

WATCHER is a name (on every targeted instance that has it) or a
``TARGET:WATCHER`` ref (``user1@host2:kafka``, ``@itg:kafka``).  With
``--ordered``, start also starts everything the watchers depend on (the users
file's ``depends:``), dependencies first, waiting for each to be active;
stop also stops everything that needs them, dependents first.  Cycles and
dependencies on watchers that do not exist are errors before anything is
touched; ``--dry-run`` prints the order and the commands and connects to nothing.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from barnum import EXIT_OK, EXIT_USAGE, BarnumError

if TYPE_CHECKING:
    from barnum.context import Context

DEFAULT_WAIT = 30.0
OPS = ",!&^"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("words", nargs="+", metavar="WATCHER|TARGET",
                   help="watcher names or user@host:watcher refs, then targets (hosts, "
                   "user@host, @group, expressions; -t forces a target)")
    p.add_argument("--ordered", action="store_true",
                   help="follow depends: (start: dependencies first; stop: dependents first)")
    p.add_argument("--wait", type=_wait, default=DEFAULT_WAIT, metavar="SECS",
                   help=f"how long each step may take to settle (default {DEFAULT_WAIT:g})")
    p.add_argument("--dry-run", action="store_true",
                   help="print the order and the commands; connect to nothing")


def _wait(text: str) -> float:
    from barnum.cli.parser import _positive_float

    return _positive_float(text)


def split_words(words: list[str], hosts: list[str]) -> tuple[list[str], list[str]]:
    """Pure: (watchers, targets).  A word with ``:`` is a watcher ref; one with ``@`` or
    a set operator, or matching a discovered host, is a target; the rest are names."""
    watchers, targets = [], []
    for w in words:
        if ":" in w:
            watchers.append(w)
        elif "@" in w or any(c in w for c in OPS) or _names_a_host(w, hosts):
            targets.append(w)
        else:
            watchers.append(w)
    return watchers, targets


def _names_a_host(word: str, hosts: list[str]) -> bool:
    """Whether ``word`` read as a host pattern (``host[1-12]``, ``web*``) selects a host."""
    from barnum.model.nodenames import PatternError, parse_pattern

    try:
        pattern = parse_pattern(word)
    except PatternError:
        return False  # not a pattern: a watcher name
    return any(pattern.matches(h) for h in hosts)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from barnum.live.ordered import describe, ini_inventory, run_ordered
    from barnum.model.deps import plan_order
    from barnum.model.targets import resolve

    verb = args._command
    watchers, targets = split_words(args.words, list(ctx.discovery.hosts))
    targets += args.explicit_targets
    if not watchers:
        raise BarnumError(f"barnum {verb}: name at least one watcher (a name or "
                          "user@host:watcher)", EXIT_USAGE)
    hosts = ctx.discovery.hosts
    selection = resolve(targets, hosts, ctx.config.groups)
    warn = (lambda m: ctx.err(f"warning: {m}")) if ctx.args.verbose else None
    inventory = ini_inventory(ctx.discovery, warn)
    levels, graph = plan_order(watchers, ctx.config.depends if args.ordered else {},
                               inventory, hosts, ctx.config.groups, selection,
                               with_deps=args.ordered, stop=verb == "stop")
    if args.dry_run:
        for line in describe(verb, levels, graph, args.wait):
            print(line)
        return EXIT_OK

    from barnum.context import open_session
    from barnum.live.ordered import instances

    ctx_targets = instances([n for lvl in levels for n in lvl])
    ctx.args.targets, ctx.args.explicit_targets = ctx_targets, []
    from barnum import EXIT_HOST
    from barnum.context import down_lines

    session = open_session(ctx)
    try:
        down = down_lines(session)
        if down:  # a later step could not run: touch nothing rather than half of it
            for line in down:
                ctx.err(line)
            ctx.err(f"{verb}: not every host is reachable; nothing was {verb}ed")
            return EXIT_HOST
        from barnum.history.actions import ActionLog

        log = ActionLog(ctx.config.history, ctx.err, verb, f"barnum {verb}")
        items = [{"host": n.host, "user": n.user, "watcher": n.watcher}
                 for lvl in levels for n in lvl]
        log.record(items, "started")
        out = run_ordered(session, verb, levels, args.wait, lambda m: print(m, flush=True))
        log.record(items, "ok" if out.error is None else out.error)
    finally:
        session.close()
    if out.error:
        ctx.err(f"{verb}: {out.error}")
    else:
        from barnum.text.plural import count

        n = sum(len(lvl) for lvl in levels)
        print(f"{verb}: {count(n, 'watcher')} in {count(len(levels), 'step')}", flush=True)
    sys.stdout.flush()
    return out.exit_code
