"""``barnum``: the entry point.  It parses the command line and hands it to the
overview (``barnum.cli.overview``) or to a command module (``cli.parser.SUBCOMMANDS``,
the shell's and web page's launchers included).

    barnum [options] [targets] [-- bailey args [-- circusctl args]]
    barnum [options] COMMAND [options] [targets]

Errors are one line on stderr (``--debug`` shows tracebacks); see
``barnum --help`` for exit codes.  Heavy imports (fabric, paramiko, rich) wait
until they are needed, so ``--help`` and ``--dry-run`` start fast.
"""

from __future__ import annotations

import os
import sys

from barnum import EXIT_HOST, EXIT_OK, EXIT_USAGE, BarnumError
from barnum.cli import overview
from barnum.cli.parser import parse_argv, refuse_unused
from barnum.context import Err, load_context


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (the console script exits with it)."""
    if argv is None and "_ARGCOMPLETE" in os.environ:  # the shell asks what TAB should offer
        from barnum.cli.completion import autocomplete

        autocomplete()  # answers and exits
    argv = sys.argv[1:] if argv is None else list(argv)
    err = Err(sys.stderr)
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
        overview.quiet_stdout()
        return EXIT_OK
    except Exception as e:
        if debug:
            raise
        err(f"internal error: {type(e).__name__}: {e} (rerun with --debug for a traceback)")
        return EXIT_HOST


def _main(argv: list[str], err: Err) -> int:
    try:
        args = parse_argv(argv)
    except SystemExit as e:  # --help, --version, or a usage error (already printed)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    refuse_unused(args)
    if args._command is None:
        return overview.run(args, err)
    if not getattr(args._module, "NEEDS_CONTEXT", True):
        return args._module.run(args, None)
    return args._module.run(args, load_context(args, err))


if __name__ == "__main__":
    sys.exit(main())
