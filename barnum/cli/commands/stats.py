"""``barnum stats [targets] [--sort cpu|mem] [--json]``: cpu and memory per watcher and process."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from barnum import EXIT_HOST, EXIT_OK
from barnum.views.stats import show

if TYPE_CHECKING:
    from barnum.context import Context


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("targets", nargs="*", help="hosts or user@host; globs allowed")
    p.add_argument("--sort", choices=("cpu", "mem", "name"), default="name",
                   help="order of the watchers (default: by host, user, name)")
    p.add_argument("--json", action="store_true", help="one JSON document")


def run(args: argparse.Namespace, ctx: Context) -> int:
    from barnum.context import open_session
    from barnum.views.render import make_console

    session = open_session(ctx)
    try:
        stats = session.stats(ctx.targets)
    finally:
        session.close()
    errors = show(stats, args.sort, args.json, make_console(), sys.stdout)
    for host, err in errors.items():
        ctx.err(f"{host}: {err}")
    return EXIT_HOST if errors else EXIT_OK


