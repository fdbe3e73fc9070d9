"""``barnum``: the command line, a thin layer over barnum.fleet.

    barnum [options] [targets] [-- bailey args [-- circusctl args]]

Errors are one line on stderr (``--debug`` shows tracebacks); see
``barnum --help`` for exit codes.  Heavy imports (fabric, paramiko, rich) wait
until they are needed, so ``--help`` and ``--dry-run`` start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from barnum import EXIT_HOST, EXIT_USAGE, BarnumError, __version__

if TYPE_CHECKING:
    from barnum.config import Config
    from barnum.discovery import Discovery
    from barnum.fleet import Options

PREFIX = "barnum: "

EPILOG = """\
targets:
  host, user@host, or fnmatch globs of either (*@host1, user1@*, host[1-3]).
  None: every host found in the users' ~/circus/<host>/circus.ini trees.
  A host alone means every circus instance on it; user@host only that user's.

arguments after -- go to bailey, after a second -- to circusctl:
  barnum host1 -- --help          bailey's help, from host1
  barnum user1@host1 -- -- stats  circusctl stats for user1's circus on host1

users file (first found): --config, $BARNUM_CONFIG, ./circus_users.yaml,
  ~/.config/barnum/circus_users.yaml.  A YAML list of user names, or a mapping
  {users: [...], config_template, ssh_config, bailey, timeout, fanout}.

exit codes:
  0  everything healthy
  1  some instance not running, or a command failed (from bailey's reports)
  2  usage or config error: bad arguments, bad users file, unknown target,
     no hosts found
  3  some host unreachable, transport error, or bailey failed on a host
     (takes precedence over 1)
"""


# Subcommands: the first argument, when it is one of these words, names a
# command module with ``configure(parser)`` and ``run(args, ctx) -> int``.  A
# host with one of these names stays reachable as ``barnum -t NAME``.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "watch": ("barnum.commands.watch", "live view of the fleet"),
    "logs": ("barnum.commands.logs", "journal lines of the circus units, merged"),
    "stats": ("barnum.commands.stats", "cpu and memory per watcher and process"),
    "web": ("barnum.commands.web", "the fleet's live web page"),
    "shell": ("barnum.commands.shell", "interactive fleet shell"),
    "check": ("barnum.commands.check", "compare the fleet with its expectations"),
    "drift": ("barnum.commands.drift", "config trees, units and configs that disagree"),
    "start": ("barnum.commands.ordered", "start watchers (--ordered: by dependencies)"),
    "stop": ("barnum.commands.ordered", "stop watchers (--ordered: reverse dependencies)"),
}


def add_common_options(p: argparse.ArgumentParser) -> None:
    """Options every command shares: where the users file is and how hosts are reached."""
    p.add_argument("--config", metavar="FILE", help="users file (circus_users.yaml)")
    p.add_argument("--ssh-config", metavar="FILE",
                   help="ssh_config to use instead of ~/.ssh/config and /etc/ssh/ssh_config")
    p.add_argument("--bailey", metavar="CMD",
                   help="bailey command on the hosts (default: bailey)")
    p.add_argument("--timeout", type=_positive_float, metavar="SECS",
                   help="per host, connecting and running included (default: 10)")
    p.add_argument("--fanout", type=_positive_int, metavar="N",
                   help="hosts worked on at once (default: 32)")
    ship = p.add_mutually_exclusive_group()
    ship.add_argument("--ship", action="store_true", default=None,
                      help="always send bailey's source to the host's python3")
    ship.add_argument("--no-ship", dest="ship", action="store_false",
                      help="never ship bailey, even where it is not installed")
    p.add_argument("--host-key-policy", choices=("accept-new", "strict", "off"),
                   default="accept-new",
                   help="unknown host keys: accept-new (default; appended to known_hosts), "
                   "strict (refused), off (accepted with a warning). "
                   "A changed key is always an error.")
    p.add_argument("-t", "--target", dest="explicit_targets", action="append", default=[],
                   metavar="TARGET",
                   help="a target, even one spelled like a subcommand (-t watch)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="say what happens on stderr; bailey runs with --verbose")
    p.add_argument("--debug", action="store_true", help="tracebacks for errors")


def build_parser() -> argparse.ArgumentParser:
    commands = "\n".join(f"  {name:<7} {what}" for name, (_, what) in SUBCOMMANDS.items())
    p = argparse.ArgumentParser(
        prog="barnum",
        usage="%(prog)s [options] [targets ...] [-- bailey args [-- circusctl args]]\n"
        "       %(prog)s COMMAND [options] [targets ...]",
        description="Run bailey (and through it circusctl) on every circus host, "
        "over SSH, in parallel, and show the fleet's state.",
        epilog=f"commands (barnum COMMAND --help):\n{commands}\n\n{EPILOG}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("targets", nargs="*", help="hosts or user@host; globs allowed")
    add_common_options(p)
    p.add_argument("--dry-run", action="store_true",
                   help="print the ssh command for each host; connect to nothing")
    p.add_argument("--json", action="store_true",
                   help="one JSON document (schema barnum/1) for the whole fleet")
    p.add_argument("--version", action="version", version=f"barnum {__version__}")
    return p


def command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of ``barnum NAME``: common options plus the command's own."""
    import importlib

    module = importlib.import_module(SUBCOMMANDS[name][0])
    p = argparse.ArgumentParser(
        prog=f"barnum {name}", description=SUBCOMMANDS[name][1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_options(p)
    module.configure(p)
    p.set_defaults(_command=name, _module=module)
    return p


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    return v


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text!r}")
    return v


class _Err:
    """stderr lines with the barnum prefix, one at a time across threads."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def __call__(self, msg: str) -> None:
        with self.lock:
            self.stream.write(PREFIX + msg + "\n")
            self.stream.flush()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (the console script exits with it)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    err = _Err(sys.stderr)
    debug = "--debug" in argv[: argv.index("--")] if "--" in argv else "--debug" in argv
    try:
        return _main(argv, err)
    except BarnumError as e:
        if debug:
            raise
        err(f"error: {e}")
        return e.exit_code
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except BrokenPipeError:  # e.g. `barnum | head`: not worth a traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_HOST
    except Exception as e:
        if debug:
            raise
        err(f"internal error: {type(e).__name__}: {e} (rerun with --debug for a traceback)")
        return EXIT_HOST


@dataclass
class Context:
    """What every command starts from: the users file, how to reach hosts, what was found."""

    args: argparse.Namespace
    config: Config
    options: Options
    discovery: Discovery
    err: _Err

    @property
    def targets(self) -> list[str]:
        """Positional targets plus ``-t`` ones."""
        return [*getattr(self.args, "targets", []), *self.args.explicit_targets]


def load_context(args: argparse.Namespace, err: _Err) -> Context:
    """Read the users file, merge flags over it, discover hosts; warnings go to ``err``."""
    from barnum.config import find_config, load_config
    from barnum.discovery import discover
    from barnum.fleet import Options

    config = load_config(find_config(args.config))
    options = Options.from_config(
        config,
        ssh_config=args.ssh_config,
        bailey=args.bailey,
        timeout=args.timeout,
        fanout=args.fanout,
        ship=args.ship if args.ship else None,
        auto_ship=False if args.ship is False else None,
        host_key_policy=args.host_key_policy,
        verbose=args.verbose or None,
    )
    if options.ssh_config:
        options.ssh_config = os.path.expanduser(options.ssh_config)
    found = discover(config.users, config.config_template)
    for w in found.warnings:
        err(f"warning: {w}")
    if args.verbose and found.hosts:
        err(f"Circus is configured on the following hosts: {', '.join(found.hosts)}")
    if args.debug:
        from barnum.ssh import debug_logging

        debug_logging()
    return Context(args, config, options, found, err)


def _main(argv: list[str], err: _Err) -> int:
    from barnum.argsplit import split_argv

    split = split_argv(argv)
    if split.barnum and split.barnum[0] in SUBCOMMANDS:
        try:
            args = command_parser(split.barnum[0]).parse_args(split.barnum[1:])
        except SystemExit as e:
            return e.code if isinstance(e.code, int) else EXIT_USAGE
        args.passthrough = split
        return args._module.run(args, load_context(args, err))
    try:
        args = build_parser().parse_args(split.barnum)
    except SystemExit as e:  # --help, --version, or a usage error (already printed)
        return e.code if isinstance(e.code, int) else EXIT_USAGE

    from barnum.fleet import plan

    ctx = load_context(args, err)
    p = plan(ctx.config, ctx.targets, split.bailey, split.circusctl, discovery=ctx.discovery)
    options = ctx.options

    if args.dry_run:
        return _dry_run(p, options)

    if not args.json:  # import rich while the hosts work
        threading.Thread(target=__import__, args=("barnum.render",), daemon=True).start()

    from barnum.fleet import run_fleet

    result = run_fleet(p, options, log=err)
    if args.json:
        import json

        from barnum.fleet import error_lines

        sys.stdout.write(json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
        for line in error_lines(result):
            err(line)
    else:
        from barnum.render import render

        render(result)
    sys.stdout.flush()
    return result.exit_code


def _dry_run(p, options) -> int:
    """Print, per host, the command barnum would run; run nothing anywhere."""
    from barnum.remote import bailey_args_of, display, shipped_argv, ssh_command

    for hp in p.hosts:
        argv = p.argv(hp, options)
        if options.ship:
            argv = shipped_argv(bailey_args_of(argv, options.bailey),
                                sys.executable if hp.local else "python3")
        cmd = display(argv) if hp.local else ssh_command(hp.host, argv, options.ssh_config)
        print(f"DRY RUN; would execute: {cmd}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
