"""Split barnum's argv at ``--`` before argparse sees it.

argparse treats ``--`` as "end of options" and swallows it, so
``barnum -- --help`` and ``barnum h -- -- stats`` cannot be expressed with it
alone.  The first ``--`` ends barnum's own arguments; the second ends bailey's
and starts circusctl's.  Anything after that (even another ``--``) belongs to
circusctl verbatim.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SplitArgs:
    """barnum's own arguments, bailey's, and circusctl's (None: no second ``--``)."""

    barnum: list[str] = field(default_factory=list)
    bailey: list[str] = field(default_factory=list)
    circusctl: list[str] | None = None


def split_argv(argv: list[str]) -> SplitArgs:
    """Pure: split ``[opts] [targets] [-- bailey args [-- circusctl args]]``."""
    argv = list(argv)
    if "--" not in argv:
        return SplitArgs(barnum=argv)
    i = argv.index("--")
    own, rest = argv[:i], argv[i + 1 :]
    if "--" not in rest:
        return SplitArgs(barnum=own, bailey=rest)
    j = rest.index("--")
    return SplitArgs(barnum=own, bailey=rest[:j], circusctl=rest[j + 1 :])


@dataclass(frozen=True)
class CommandSplit:
    """``name``: the subcommand (None: the overview); ``args``: everything else, in order.

    ``word``: whether any non-option word was typed (completion offers the
    subcommands only while none was).
    """

    name: str | None
    args: list[str]
    word: bool


def find_command(argv: list[str], commands: Collection[str],
                 options: Mapping[str, bool]) -> CommandSplit:
    """Pure: the subcommand is the first word that is neither an option nor an option's
    value, when it is one of ``commands``; the options before it are its own.

    ``options`` maps each option string to whether it takes a value
    (``--config``, ``-t``): a value is skipped, so ``barnum -t watch`` targets a
    host named ``watch`` while ``barnum --config F shell -c x`` runs ``shell``.
    Long options may be abbreviated, as argparse allows (``--conf F``), and
    short ones clustered (``-vt NAME``, ``-tNAME``).
    """
    longs = [o for o in options if o.startswith("--")]
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-" or not a.startswith("-"):
            if a in commands:
                return CommandSplit(a, [*argv[:i], *argv[i + 1 :]], True)
            return CommandSplit(None, list(argv), True)
        if a.startswith("--"):
            if "=" not in a and _takes_value(a, options, longs):
                i += 1
        else:
            for k in range(1, len(a)):
                if options.get("-" + a[k]):
                    if k == len(a) - 1:
                        i += 1  # -t NAME (else -tNAME: the value is attached)
                    break
        i += 1
    return CommandSplit(None, list(argv), False)


def _takes_value(option: str, options: Mapping[str, bool], longs: list[str]) -> bool:
    """``option``, or the one long option it abbreviates, takes a value."""
    if option in options:
        return options[option]
    matches = [o for o in longs if o.startswith(option)]
    return len(matches) == 1 and options[matches[0]]
