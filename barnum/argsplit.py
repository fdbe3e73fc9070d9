"""Split barnum's argv at ``--`` before argparse sees it.

argparse treats ``--`` as "end of options" and swallows it, so
``barnum -- --help`` and ``barnum h -- -- stats`` cannot be expressed with it
alone.  The first ``--`` ends barnum's own arguments; the second ends bailey's
and starts circusctl's.  Anything after that (even another ``--``) belongs to
circusctl verbatim.
"""

from __future__ import annotations

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
