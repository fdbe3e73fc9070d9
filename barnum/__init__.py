"""barnum: run bailey (and through it circusctl) across a fleet of hosts over SSH.

Exit codes (also in ``barnum --help``):

- 0 ``EXIT_OK``: every host answered and every instance is healthy.
- 1 ``EXIT_INSTANCE``: some instance not running, or a command failed (from
  bailey's reports).
- 2 ``EXIT_USAGE``: usage or config error (bad arguments, bad users file,
  unknown target, no hosts found).
- 3 ``EXIT_HOST``: some host unreachable, a transport error, or bailey itself
  failed on a host.  Takes precedence over 1.
"""

__version__ = "0.1.0"

EXIT_OK = 0
EXIT_INSTANCE = 1
EXIT_USAGE = 2
EXIT_HOST = 3


class BarnumError(Exception):
    """A problem worth one line on stderr, never a traceback; carries an exit code."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
