"""``barnum``: the command line, a thin layer over barnum.fleet.

    barnum [options] [targets] [-- bailey args [-- circusctl args]]
    barnum [options] COMMAND [options] [targets]

Errors are one line on stderr (``--debug`` shows tracebacks); see
``barnum --help`` for exit codes.  Heavy imports (fabric, paramiko, rich) wait
until they are needed, so ``--help`` and ``--dry-run`` start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from barnum import EXIT_HOST, EXIT_OK, EXIT_USAGE, BarnumError, __version__

if TYPE_CHECKING:
    from barnum.config import Config
    from barnum.discovery import Discovery
    from barnum.fleet import Options
    from barnum.progress import ProgressLine

PREFIX = "barnum: "

EPILOG = """\
targets:
  host, user@host; in either part ClusterShell's numeric ranges (host[1-12],
  node[01-10/2], rack[1-2]-node[1-3]) and the globs * and ? (*@host1, user1@*).
  None: every host found in the users' ~/circus/<host>/circus.ini trees.
  A host alone means every circus instance on it; user@host only that user's.
  @group (the users file's groups:), user@@group; set operations, left to
  right: a,b union  a!b or a,!b exclusion  a&b intersection  a^b either-not-both
  ('@itg,!host2', quoted for the shell).  Several targets: their union.

arguments after -- go to bailey, after a second -- to circusctl:
  barnum host1 -- --help          bailey's help, from host1
  barnum user1@host1 -- -- stats  circusctl stats for user1's circus on host1

users file (first found): --config, $BARNUM_CONFIG, ./circus_users.yaml,
  ~/.config/barnum/circus_users.yaml.  A YAML list of user names, or a mapping
  {users: [...], config_template, ssh_config, bailey, timeout, fanout, hosts,
  groups, expect, depends} (see the README).

exit codes:
  0  everything healthy
  1  some instance not running, or a command failed (from bailey's reports)
  2  usage or config error: bad arguments, bad users file, unknown target,
     no hosts found
  3  some host unreachable, transport error, or bailey failed on a host
     (takes precedence over 1)
"""


# Subcommands: the first word that is not an option (or an option's value), when
# it is one of these, names a command module with ``configure(parser)`` and
# ``run(args, ctx) -> int``; common options go before or after it (``barnum
# --config F shell -c status``).  A host with one of these names stays
# reachable as ``barnum -t NAME``.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "watch": ("barnum.commands.watch", "live view of the fleet"),
    "logs": ("barnum.commands.logs", "journal lines of the circus units, merged"),
    "stats": ("barnum.commands.stats", "cpu and memory per watcher and process"),
    "check": ("barnum.commands.check", "compare the fleet with the users file's expect:"),
    "start": ("barnum.commands.startstop", "start watchers (--ordered: dependencies first)"),
    "stop": ("barnum.commands.startstop", "stop watchers (--ordered: dependents first)"),
    "drift": ("barnum.commands.drift", "config folders, units and circusds that disagree"),
    "completion": ("barnum.commands.completion", "shell code for TAB completion (bash, zsh)"),
    "web": ("barnum.commands.web", "live web page of the fleet (barnum[web])"),
    "shell": ("barnum.commands.shell", "interactive command line on the live session"),
    "unit": ("barnum.commands.unit", "systemctl start|stop|restart|... on the circus units"),
    "history": ("barnum.commands.history", "what barnum web recorded: events, gaps, flapping"),
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
    p.add_argument("--fanout", type=_ranged_int(1, 1024), metavar="N",
                   help="hosts worked on at once (default: 32)")
    p.add_argument("--max-output", type=_ranged_int(1024, 1 << 30), metavar="BYTES",
                   help="bytes one host may send before it is an error (default: 4 MiB)")
    p.add_argument("--local", action="store_true", default=None,
                   help="run bailey without SSH where a host is this machine's own name "
                   "(default: never; such a host is reached over SSH like any other)")
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
    w = max(map(len, SUBCOMMANDS))
    commands = "\n".join(f"  {name:<{w}} {what}" for name, (_, what) in SUBCOMMANDS.items())
    p = argparse.ArgumentParser(
        prog="barnum",
        usage="%(prog)s [options] [targets ...] [-- bailey args [-- circusctl args]]\n"
        "       %(prog)s [options] COMMAND [options] [targets ...]",
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
    p.add_argument("--group-by", choices=("host", "group"), default="host",
                   help="group: a section per users-file group (groups:)")
    p.add_argument("--version", action="version", version=f"barnum {__version__}")
    return p


def option_table(p: argparse.ArgumentParser) -> dict[str, bool]:
    """Each option string of ``p``: whether it takes a value (argsplit.find_command)."""
    return {o: a.nargs != 0 for a in p._actions for o in a.option_strings}


def split_command(argv: list[str]):
    """barnum's own arguments to (subcommand or None, its arguments): argsplit's rule
    with the overview's options, the ones that may stand before a subcommand."""
    from barnum.argsplit import find_command

    return find_command(argv, SUBCOMMANDS, option_table(build_parser()))


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
    """Seconds: finite, above 0, at most an hour (``inf``, ``nan``, ``1e10`` are mistakes)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < v <= 3600:  # also false for nan
        raise argparse.ArgumentTypeError(f"must be a number of seconds in (0, 3600]: {text!r}")
    return v


def _ranged_int(lo: int, hi: int):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be from {lo} to {hi}: {text!r}")
        return v

    parse.__name__ = "integer"
    return parse


class _Err:
    """stderr lines with the barnum prefix, one at a time across threads."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lock = threading.Lock()
        self.transient: ProgressLine | None = None  # to erase before each line

    def __call__(self, msg: str) -> None:
        from barnum.sanitize import clean

        line = PREFIX + clean(msg) + "\n"  # whatever a host put in it: one visible line
        with self.lock:
            if self.transient is not None:
                self.transient.erase()
            self.stream.write(line)
            self.stream.flush()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (the console script exits with it)."""
    if argv is None and "_ARGCOMPLETE" in os.environ:  # the shell asks what TAB should offer
        from barnum.completion import autocomplete

        autocomplete()  # answers and exits
    argv = sys.argv[1:] if argv is None else list(argv)
    err = _Err(sys.stderr)
    debug = "--debug" in argv[: argv.index("--")] if "--" in argv else "--debug" in argv
    for n, a in enumerate(argv, start=1):
        try:
            a.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes arrive as lone surrogates
            err(f"error: argument {n} is not valid UTF-8: {a!r}")
            return EXIT_USAGE
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
    except BrokenPipeError:  # `barnum | head` before the fleet's result was known
        _quiet_stdout()
        return EXIT_OK
    except Exception as e:
        if debug:
            raise
        err(f"internal error: {type(e).__name__}: {e} (rerun with --debug for a traceback)")
        return EXIT_HOST


def _quiet_stdout() -> None:
    """After a closed pipe: send the rest of stdout (and its final flush) nowhere."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


@dataclass
class Context:
    """What every command starts from: the users file, how to reach hosts, what was found."""

    args: argparse.Namespace
    config: Config
    options: Options
    discovery: Discovery
    err: _Err
    skipped: list[str] = field(default_factory=list)  # discovered, not allowed

    @property
    def targets(self) -> list[str]:
        """Positional targets plus ``-t`` ones."""
        return [*getattr(self.args, "targets", []), *self.args.explicit_targets]


def load_context(args: argparse.Namespace, err: _Err, early=None) -> Context:
    """Read the users file, merge flags over it, discover hosts; warnings go to ``err``.

    ``early(found, options, config)`` runs once the allowed hosts are known, before
    the ssh_config check imports paramiko (the overview opens TCP there).
    """
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
        max_output=args.max_output,
        local=args.local,
    )
    if options.ssh_config:
        options.ssh_config = os.path.expanduser(options.ssh_config)
    _check_bailey(options.bailey)
    found = discover(config.users, config.config_template)
    for w in found.warnings:
        err(f"warning: {w}")
    skipped = _allow(found, config, options, err)
    if early is not None and found.hosts:
        early(found, options, config)
    if found.hosts:
        from barnum.sshconfig import check_ssh_config

        check_ssh_config(options.ssh_config, list(found.hosts))
    if args.verbose and found.hosts:
        err(f"Circus is configured on the following hosts: {', '.join(found.hosts)}")
    if args.debug:
        from barnum.ssh import debug_logging

        debug_logging()
    return Context(args, config, options, found, err, skipped)


def _check_bailey(cmd: str) -> None:
    import shlex

    try:
        words = shlex.split(cmd)
    except ValueError as e:
        raise BarnumError(f"--bailey {cmd!r}: {e} (quote it as a shell would)", EXIT_USAGE) \
            from None
    if not words:
        raise BarnumError("--bailey is empty: give the bailey command on the hosts", EXIT_USAGE)


def _allow(found: Discovery, config: Config, options: Options, err: _Err) -> list[str]:
    """Keep in ``found`` only the hosts the operator allows (barnum.allow); warn once."""
    from barnum.allow import allow, read_ssh_config
    from barnum.hostsort import natural_sorted

    text = None if config.hosts is not None else read_ssh_config(options.ssh_config)
    a = allow(found.hosts, config.hosts, text)
    found.hosts = a.hosts
    if a.skipped:
        names = natural_sorted(a.skipped)
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        where = config.path or "the users file"
        err(f"warning: not connecting to {shown}: found in users' circus trees but not "
            f"allowed by {a.rule} (list allowed hosts under hosts: in {where})")
    return a.skipped


def parse_argv(argv: list[str]) -> argparse.Namespace:
    """The command line as a namespace: ``_command`` names the subcommand (None for the
    overview), ``passthrough`` holds the ``--`` split.  argparse's SystemExit on
    ``--help``, ``--version`` or a usage error (already printed)."""
    from barnum.argsplit import split_argv

    split = split_argv(argv)
    cmd = split_command(split.barnum)
    if cmd.name is not None:
        args = command_parser(cmd.name).parse_args(cmd.args)
    else:
        args = build_parser().parse_args(split.barnum)
        args._command = None
    args.passthrough = split
    return args


def _main(argv: list[str], err: _Err) -> int:
    try:
        args = parse_argv(argv)
    except SystemExit as e:  # --help, --version, or a usage error (already printed)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    split = args.passthrough
    if args._command is not None:
        if not getattr(args._module, "NEEDS_CONTEXT", True):
            return args._module.run(args, None)
        return args._module.run(args, load_context(args, err))

    from barnum.fleet import plan

    early = None if args.dry_run or os.environ.get("BARNUM_NO_PRECONNECT") else \
        lambda found, options, config: _preconnect(args, found, options, config)
    ctx = load_context(args, err, early)
    _refuse_skipped(ctx)
    p = plan(ctx.config, ctx.targets, split.bailey, split.circusctl, discovery=ctx.discovery,
             local=bool(ctx.options.local))
    options = ctx.options

    if args.dry_run:
        return _dry_run(p, options)

    if not args.json:  # import rich while the hosts work
        threading.Thread(target=__import__, args=("barnum.render",), daemon=True).start()

    result = _run_with_progress(p, options, err)
    if args.json:
        import json

        from barnum.fleet import error_lines

        try:
            sys.stdout.write(json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            _quiet_stdout()
        for line in error_lines(result):
            err(line)
    else:
        from barnum.render import render

        try:
            render(result, group_by=args.group_by)
            sys.stdout.flush()
        except BrokenPipeError:  # `barnum | head`: the reader had enough; not an error
            _quiet_stdout()
    return result.exit_code


def _preconnect(args: argparse.Namespace, found: Discovery, options: Options,
                config: Config) -> None:
    """Open the targets' TCP connections before paramiko is imported (barnum.preconnect)."""
    import socket

    from barnum.preconnect import MAX_EARLY, preconnect
    from barnum.sshconfig import SshConfigError, load_text
    from barnum.targets import TargetError, resolve

    try:
        hosts = list(resolve([*args.targets, *args.explicit_targets], found.hosts,
                             config.groups))
        text = load_text(options.ssh_config)
    except (TargetError, SshConfigError, OSError):
        return  # the same problem is reported, in its place, by what follows
    here = {"localhost", socket.gethostname().split(".")[0]} if options.local else set()
    options.preconnect = preconnect([h for h in hosts if h not in here], text,
                                    min(options.fanout, MAX_EARLY))


def _run_with_progress(p, options, err: _Err):
    """run_fleet, with the transient progress line when stderr is a terminal."""
    from barnum.fleet import run_fleet
    from barnum.progress import ProgressLine

    line = ProgressLine(err.stream, len(p.hosts), err.lock) \
        if ProgressLine.wanted(err.stream) else None
    err.transient = line
    try:
        return run_fleet(p, options, log=err, progress=line.update if line else None)
    finally:
        if line is not None:
            with err.lock:
                line.erase()
        err.transient = None
        if options.preconnect is not None:
            options.preconnect.close()  # sockets no host took (local ones, errors)


def _refuse_skipped(ctx: Context) -> None:
    """A target naming a discovered but not allowed host is a usage error, said plainly."""
    from barnum.nodeset import ExpressionError, parse

    for t in ctx.targets:
        try:
            hosts = [term.host for term in parse(t).terms if term.host is not None]
        except ExpressionError:
            continue  # resolve says what is wrong with it
        for host in hosts:
            if host not in ctx.skipped:
                continue
            raise BarnumError(f"{host} is not an allowed host (see the warning above)",
                              EXIT_USAGE)


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
