"""barnum's argument parsers: common options, subcommands, the -- split."""

from __future__ import annotations

import argparse
import functools
from typing import TYPE_CHECKING

from barnum import __version__

if TYPE_CHECKING:
    pass


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
    "watch": ("barnum.cli.commands.watch", "live view of the fleet"),
    "logs": ("barnum.cli.commands.logs", "journal lines of the circus units, merged"),
    "stats": ("barnum.cli.commands.stats", "cpu and memory per watcher and process"),
    "check": ("barnum.cli.commands.check", "compare the fleet with the users file's expect:"),
    "start": ("barnum.cli.commands.startstop", "start watchers (--ordered: dependencies first)"),
    "stop": ("barnum.cli.commands.startstop", "stop watchers (--ordered: dependents first)"),
    "drift": ("barnum.cli.commands.drift", "config folders, units and circusds that disagree"),
    "completion": ("barnum.cli.commands.completion", "shell code for TAB completion (bash, zsh)"),
    "web": ("barnum.web.command", "live web page of the fleet (barnum[web])"),
    "shell": ("barnum.shell.command", "interactive command line on the live session"),
    "unit": ("barnum.cli.commands.unit", "systemctl start|stop|restart|... on the circus units"),
    "history": ("barnum.cli.commands.history", "what barnum web recorded: events, gaps, flapping"),
    "session": ("barnum.warm.command", "the warm background session: status, stop"),
}


# Every common option: its dest -> how the operator spells it.
COMMON_OPTIONS: dict[str, str] = {
    "config": "--config", "ssh_config": "--ssh-config", "bailey": "--bailey",
    "timeout": "--timeout", "fanout": "--fanout", "max_output": "--max-output",
    "local": "--local", "ship": "--ship/--no-ship", "host_key_policy": "--host-key-policy",
    "explicit_targets": "-t/--target", "verbose": "--verbose", "debug": "--debug",
}
_UNSET: dict[str, object] = {"explicit_targets": [], "verbose": False, "debug": False}  # else None
_REACH = frozenset({"ssh_config", "bailey", "timeout", "fanout", "max_output", "local", "ship",
                    "host_key_policy", "verbose"})
# The common options a command would silently ignore, refused instead (a usage
# error, exit 2), with why.  Every other (command, option) pair is honoured: the
# overview and check run bailey once per host (barnum.oneshot), the session's
# commands through the same connector (barnum.live.session); both go through
# barnum.transport.connector.
REFUSED: dict[str, tuple[frozenset[str], str]] = {
    "completion": (frozenset(COMMON_OPTIONS) - {"debug"},
                   "it prints shell code and reads no users file"),
    "history": (_REACH, "it reads barnum web's record and contacts no host"),
    "unit": (frozenset({"bailey", "max_output", "local", "ship", "verbose"}),
             "it runs systemctl over SSH, not bailey"),
    "session": (frozenset(COMMON_OPTIONS) - {"config", "ssh_config", "bailey", "debug"},
                "it asks the background session that this users file, ssh_config and "
                "bailey command name, and contacts no host"),
}


def refuse_unused(args: argparse.Namespace) -> None:
    """A common option the command does not use is a usage error, not silence."""
    from barnum import EXIT_USAGE, BarnumError

    name = getattr(args, "_command", None)
    refused, why = REFUSED.get(name or "", (frozenset(), ""))
    for dest in COMMON_OPTIONS:  # in the table's order: the first one given is named
        unset = _UNSET.get(dest)
        if dest in refused and getattr(args, dest, unset) != unset:
            raise BarnumError(f"barnum {name} does not take {COMMON_OPTIONS[dest]}: {why}",
                              EXIT_USAGE)


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
                   help="unknown host keys: accept-new (default; appended to known_hosts), "
                   "strict (refused), off (accepted with a warning). "
                   "A changed key is always an error.")
    p.add_argument("-t", "--target", dest="explicit_targets", action="append", default=[],
                   metavar="TARGET",
                   help="a target, even one spelled like a subcommand (-t watch)")
    persist = p.add_mutually_exclusive_group()
    persist.add_argument("--persist", type=_duration, metavar="DURATION",
                         help="keep a warm background session this long after the last "
                         "call (default 10m; 0: none); later calls are answered from it")
    persist.add_argument("--no-persist", dest="persist", action="store_const", const=0.0,
                         help="no warm session: this call and its like run cold")
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
    from barnum.cli.argsplit import find_command

    return find_command(argv, SUBCOMMANDS, _overview_options())


@functools.cache
def _overview_options() -> dict[str, bool]:
    """The overview parser's option table: fixed by this code, so built once per process
    (the warm session splits every call's command line, some twice)."""
    return option_table(build_parser())


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


def _duration(text: str) -> float:
    from barnum.text.duration import parse_duration

    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


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


def parse_argv(argv: list[str]) -> argparse.Namespace:
    """The command line as a namespace: ``_command`` names the subcommand (None for the
    overview), ``passthrough`` holds the ``--`` split.  argparse's SystemExit on
    ``--help``, ``--version`` or a usage error (already printed)."""
    from barnum.cli.argsplit import split_argv

    split = split_argv(argv)
    cmd = split_command(split.barnum)
    if cmd.name is not None:
        args = command_parser(cmd.name).parse_args(cmd.args)
    else:
        args = build_parser().parse_args(split.barnum)
        args._command = None
    args.passthrough = split
    return args
