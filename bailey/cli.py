"""``bailey``: the circus units of this host and what circusctl says about them.

A thin layer over bailey.host.inspect_host: parse arguments, print the
report (text or ``--json``), one line per error on stderr, never a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from bailey import __version__

if TYPE_CHECKING:
    import argparse

EPILOG = """\
arguments after -- go to circusctl unchanged (default: status), e.g.
  bailey user1 -- stats        bailey -- start myapp
  bailey --json user1 -- status

status, list, start, stop, restart and reload (with or without a WATCHER;
start/stop/restart with --waiting and --match M, reload with --waiting,
--sequential and --terminate) are answered by a built-in ZMQ client with
circusctl's exact output and exit code; other commands and forms run
circusctl, as does everything with --no-native. circusctl is --circusctl,
else $BAILEY_CIRCUSCTL, else the one beside this python, else circusctl on PATH.

exit codes:
  0  every instance healthy (or not expected to run)
  1  at least one instance failed (unit failed, config, circusd, circusctl)
  2  bad arguments
  3  nothing could be listed on this host (systemctl failed, or no unit
     for the users asked for)
"""


def _positive_int(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    import argparse

    from bailey.host import DEFAULT_CONFIG_TEMPLATE
    from bailey.units import DEFAULT_PATTERN

    p = argparse.ArgumentParser(
        prog="bailey",
        usage="bailey [options] [USER ...] [-- CIRCUSCTL_ARGS ...]",
        description="Show the circus instances (systemd units) of this host and run "
        "circusctl against each running one.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("users", nargs="*", metavar="USER", help="only these users' instances")
    p.add_argument("--json", action="store_true", help="print the JSON report (schema bailey/1)")
    p.add_argument("-D", "--dry-run", action="store_true",
                   help="read units and configs, run nothing; print the circusctl commands")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="say on stderr what was derived and how")
    p.add_argument("--units", default=DEFAULT_PATTERN, metavar="GLOB",
                   help="systemd unit pattern (default: %(default)s)")
    p.add_argument("--config-template", default=DEFAULT_CONFIG_TEMPLATE, metavar="TEMPLATE",
                   help="circus.ini path; {user} {host} {home} are replaced "
                   "(default: %(default)s)")
    p.add_argument("--circusctl", metavar="PATH", help="the circusctl to run")
    p.add_argument("--timeout", type=_positive_int, default=5, metavar="SECONDS",
                   help="circusctl --timeout, per instance (default: %(default)s)")
    p.add_argument("--no-native", dest="native", action="store_false",
                   help="always run circusctl, even for the commands the built-in "
                   "client answers (status, list, start, stop, restart, reload)")
    p.add_argument("--no-helpers", dest="helpers", action="store_false",
                   help="with --serve, as root: open a circus user's files in a forked "
                   "child per file, not through a kept helper per user (to compare)")
    p.add_argument("--serve", action="store_true",
                   help="stay running: answer NDJSON requests on stdin (protocol "
                   "bailey-serve/1, see docs/bailey-serve.md) until stdin closes")
    p.add_argument("--version", action="version", version=f"bailey {__version__}")
    return p


def _fast_parse(own: list[str]):
    """barnum's usual command line without importing argparse (bailey.fastargs)."""
    from bailey.fastargs import parse
    from bailey.host import DEFAULT_CONFIG_TEMPLATE
    from bailey.units import DEFAULT_PATTERN

    return parse(own, DEFAULT_PATTERN, DEFAULT_CONFIG_TEMPLATE)


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """bailey's own arguments, and those after the first ``--`` (for circusctl)."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, []


def _use_color(stream) -> bool:
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``bailey`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    own, circus_args = split_argv(argv)
    args = _fast_parse(own)
    if args is None:
        try:
            args = build_parser().parse_args(own)
        except SystemExit as e:  # --help, --version, usage errors (2)
            return int(e.code or 0)
    try:
        return _run(args, circus_args)
    except KeyboardInterrupt:
        print("bailey: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # the boundary: one line, never a traceback
        from bailey.sanitize import clean

        print(f"bailey: internal error: {clean(type(e).__name__)}: {clean(e)}", file=sys.stderr)
        from bailey.report import EXIT_HOST

        return EXIT_HOST


def _run(args: argparse.Namespace, circus_args: list[str]) -> int:
    from bailey.host import Options, inspect_host
    from bailey.render import error_lines, render_human

    def verbose(msg: str) -> None:
        from bailey.sanitize import clean

        print(f"bailey: {clean(msg)}", file=sys.stderr, flush=True)

    options = Options(
        units=args.units,
        config_template=args.config_template,
        circusctl=args.circusctl,
        timeout=args.timeout,
        native=args.native,
        helpers=args.helpers,
        dry_run=args.dry_run,
        verbose=verbose if args.verbose else None,
    )
    if args.serve:
        from bailey.serve import run_server

        options.verbose = None
        return run_server(options)
    report = inspect_host(args.users, circus_args or None, options)
    if args.json:
        sys.stdout.write(report.to_json() + "\n")
    else:
        sys.stdout.write(render_human(report, _use_color(sys.stdout)))
    sys.stdout.flush()
    for line in error_lines(report):
        print(line, file=sys.stderr)
    return report.exit


if __name__ == "__main__":
    sys.exit(main())
