"""``barnum history [targets] [--since 2h] [--until T] [--watcher W] [--kind K] [--json]``.

Reads the store ``barnum web`` records (barnum.history.store): no host is contacted.
``--flapping`` lists watchers by exits per hour instead.  Exit 0; 2 for bad
arguments or a store that cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING

from barnum import EXIT_OK, EXIT_USAGE, BarnumError

if TYPE_CHECKING:
    from barnum.context import Context

LIMIT = 1000
NEEDS_CONTEXT = False  # the users file only: no discovery, no SSH (barnum.cli.main)
KINDS = ("circus", "unit", "host", "action", "journal", "gap")


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("targets", nargs="*", help="hosts, user@host, @group, expressions")
    p.add_argument("--since", default="2h", metavar="WHEN",
                   help="from (an age: 30m, 2h, 7d; @EPOCH; or 2026-12-04 03:00; default 2h)")
    p.add_argument("--until", default="now", metavar="WHEN", help="to (default now)")
    p.add_argument("--watcher", metavar="W", help="only this watcher's rows (and gaps)")
    p.add_argument("--kind", action="append", choices=KINDS, metavar="KIND",
                   help=f"only these kinds (repeatable): {', '.join(KINDS)}")
    p.add_argument("--limit", type=int, default=LIMIT, metavar="N",
                   help=f"only the newest N rows (default {LIMIT}; 0: all)")
    p.add_argument("--flapping", action="store_true",
                   help="watchers by exits per hour in the window, most first")
    p.add_argument("--json", action="store_true", help="one JSON document (barnum-history/1)")


def run(args: argparse.Namespace, ctx: Context | None) -> int:
    from barnum.context import Err
    from barnum.history import store as hdb
    from barnum.model.config import find_config, load_config
    from barnum.model.targets import TargetError, resolve
    from barnum.views import history as view

    config = ctx.config if ctx is not None else load_config(find_config(args.config))
    err = ctx.err if ctx is not None else Err(sys.stderr)
    targets = [*args.targets, *getattr(args, "explicit_targets", [])]

    now = time.time()
    try:
        since, until = view.parse_when(args.since, now), view.parse_when(args.until, now)
    except ValueError as e:
        raise BarnumError(f"--since/--until {e}", EXIT_USAGE) from None
    if since > until:
        raise BarnumError("--since is after --until", EXIT_USAGE)
    settings = config.history or hdb.HistorySettings()
    try:
        db = hdb.open_reader(settings)
    except hdb.HistoryError as e:
        raise BarnumError(str(e), EXIT_USAGE) from None
    try:
        hosts = users = None
        if targets:
            try:
                chosen = resolve(targets, hdb.hosts_users(db), config.groups)
            except TargetError as e:
                raise BarnumError(f"{e} (among the hosts in the history)", EXIT_USAGE) from None
            hosts = list(chosen)
            users = {h: set(u) for h, u in chosen.items() if u}
        if args.flapping:
            flaps = hdb.flapping(db, since, until, hosts, args.watcher)
            if users:
                flaps = [f for f in flaps if f.host not in users or f.user in users[f.host]]
            if args.json:
                _dump({"schema": "barnum-history-flapping/1", "since": since, "until": until,
                       "watchers": [view.flap_json(f) for f in flaps]})
            else:
                sys.stdout.write(view.flapping_table(flaps, (until - since) / 3600))
            return EXIT_OK
        if args.limit < 0:
            raise BarnumError("--limit must be 0 (all) or more", EXIT_USAGE)
        rows = hdb.query(db, since=since, until=until, hosts=hosts, watcher=args.watcher,
                         kinds=args.kind, limit=args.limit or None)
        if args.limit and len(rows) >= args.limit and not args.json:
            more = hdb.count(db, since, until, hosts, args.watcher, args.kind) - len(rows)
            if more > 0:
                err(f"{more} older rows in the window not shown (--limit 0 shows all)")
    except hdb.sqlite3.Error as e:
        raise BarnumError(f"history {settings.db_path()}: {e}", EXIT_USAGE) from None
    finally:
        db.close()
    if users:
        rows = [r for r in rows if r.host not in users or r.user is None
                or r.user in users[r.host]]
    if args.json:
        _dump({"schema": "barnum-history/1", "since": since, "until": until,
               "rows": [view.row_json(r) for r in rows]})
    else:
        sys.stdout.write(view.table(rows))
    return EXIT_OK


def _dump(doc: dict) -> None:
    sys.stdout.write(json.dumps(doc, indent=1, sort_keys=True) + "\n")
