"""bailey's command line and the one rule for shipping it, for both paths.

The one-shot pool (``bailey --json``) and the live session (``bailey
--serve``) build bailey's argv here, so both pass the users file's
config_template and a circusctl ``--timeout`` that fits barnum's own, and
both decide the same way whether bailey is missing on a host (then barnum
ships its source to the host's python3).  Pure functions: no I/O.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

BAILEY_DEFAULT_TIMEOUT = 5  # bailey's own --timeout default (seconds per circusctl call)

# What a shell says on stderr when the command, or the interpreter its #! line
# names, does not exist: dash "not found", bash "command not found" / "No such
# file or directory" / "required file not found", zsh "no such file or directory".
_MISSING = ("not found", "no such file")


def command_words(bailey: str | Sequence[str]) -> list[str]:
    """The bailey command as words: a string is split like a shell would
    (``/opt/venv/bin/python3 -m bailey``); ValueError if it is empty."""
    words = shlex.split(bailey) if isinstance(bailey, str) else list(bailey)
    if not words:
        raise ValueError("empty bailey command")
    return words


def bailey_timeout(timeout: float) -> int:
    """bailey's per-instance circusctl timeout for a barnum ``--timeout``: at most
    half of it (connecting and starting take the rest), between 1 and bailey's 5."""
    return max(1, min(BAILEY_DEFAULT_TIMEOUT, int(timeout // 2)))


def has_option(args: Sequence[str], name: str) -> bool:
    """Whether ``args`` already give ``name`` (``--x V`` or ``--x=V``)."""
    return any(a == name or a.startswith(name + "=") for a in args)


def bailey_argv(
    bailey: str | Sequence[str],
    users: Sequence[str] = (),
    bailey_args: Sequence[str] = (),
    circusctl_args: Sequence[str] | None = None,
    *,
    serve: bool = False,
    timeout: float | None = None,
    config_template: str | None = None,
    verbose: bool = False,
) -> list[str]:
    """``bailey --json|--serve [user ...] [--config-template T] [--timeout N]
    [bailey args] [--verbose] [-- circusctl args]``.

    ``timeout`` is barnum's per-host timeout: bailey gets the circusctl
    timeout that fits it (:func:`bailey_timeout`; left out when it is
    bailey's default), so one hung circusd cannot make a host miss barnum's
    deadline.  What the operator passed after ``--`` wins over both
    additions.  ``--verbose`` is for ``--json`` only (``--serve`` answers
    on stdout and says nothing else).
    """
    args = list(bailey_args)
    extra: list[str] = []
    if config_template and not has_option(args, "--config-template"):
        extra += ["--config-template", config_template]
    if timeout is not None and not has_option(args, "--timeout"):
        t = bailey_timeout(timeout)
        if t != BAILEY_DEFAULT_TIMEOUT:
            extra += ["--timeout", str(t)]
    argv = [*command_words(bailey), "--serve" if serve else "--json", *users, *extra, *args]
    if verbose and not serve and not (has_option(args, "--verbose") or "-v" in args):
        argv.append("--verbose")
    if circusctl_args is not None:
        argv += ["--", *circusctl_args]
    return argv


def bailey_args_of(argv: Sequence[str], bailey: str | Sequence[str]) -> list[str]:
    """The arguments after the bailey command itself (what shipped mode passes on)."""
    return list(argv[len(command_words(bailey)):])


def not_installed(status: int | None, stderr: str) -> bool:
    """The ONE ship rule: bailey (or the interpreter it names) is not on the host.

    127 is the shell's "command not found".  126 is "found but cannot run":
    it counts only when the shell adds that a file is missing (an old bash's
    ``bad interpreter: No such file or directory`` for a bailey whose venv is
    gone); a bailey that exists but may not be executed ("Permission denied")
    is the operator's to fix, and shipping would hide it.
    """
    if status == 127:
        return True
    return status == 126 and any(m in stderr.lower() for m in _MISSING)
