"""Running circusctl for one instance: as a subprocess, or natively.

The subprocess is the general path (any command).  For the commands whose
console output is simple (``status``, ``status <watcher>``, ``list``,
``list <watcher>``) bailey asks circusd itself over ZMTP (bailey.zmtp) and
prints what circusctl would print, with circusctl's exit code: the output of
``circus/commands/{status,list}.py`` ``console_msg`` and the return codes of
``circus/circusctl.py`` (0 ok, 1 timeout or connection error, 3 error reply).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CIRCUSCTL_DEFAULT_TIMEOUT = 5  # circusctl's own default for --timeout
# Extra seconds the subprocess gets beyond --timeout: circusctl's imports
# alone take a fraction of a second, more on a loaded host.
SUBPROCESS_GRACE = 10

# Printed by circusctl after "Timed out." (circus/circusctl.py TIMEOUT_MSG).
TIMEOUT_MSG = """
A time out usually happens in one of those cases:

#1 The Circus daemon could not be reached.
#2 The Circus daemon took too long to perform the operation

For #1, make sure you are hitting the right place
by checking your --endpoint option.

For #2, if you are not expecting a result to
come back, increase your timeout option value
(particularly with waiting switches)
"""

NATIVE_COMMANDS = ("status", "list")


@dataclass
class Outcome:
    """What one circusctl invocation (real or native) produced."""

    exit: int
    stdout: str
    stderr: str
    via: str  # "circusctl" or "native"
    error: str | None = None  # one line when it failed
    reply: dict[str, Any] | None = None  # circusd's reply (native only)
    seconds: float = 0.0


def find_circusctl(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """Which circusctl to run: --circusctl, $BAILEY_CIRCUSCTL, beside python, PATH.

    Beside ``sys.executable`` first because a venv holding bailey usually
    holds circus too, and a non-interactive SSH PATH does not include it.
    Returns the bare name ``circusctl`` when only PATH is left, so the
    command shown stays pasteable and the error says what was looked for.
    """
    environ = os.environ if environ is None else environ
    if explicit:
        return explicit
    if environ.get("BAILEY_CIRCUSCTL"):
        return environ["BAILEY_CIRCUSCTL"]
    beside = os.path.join(os.path.dirname(sys.executable), "circusctl")
    if os.access(beside, os.X_OK) and not os.path.isdir(beside):
        return beside
    return "circusctl"


def circusctl_argv(circusctl: str, endpoint: str, timeout: int, args: list[str]) -> list[str]:
    """The circusctl command line for ``args`` against ``endpoint``.

    ``--timeout`` is given only when it differs from circusctl's default, so
    the common command stays short; the meaning is the same.
    """
    argv = [circusctl, "--endpoint", endpoint]
    if timeout != CIRCUSCTL_DEFAULT_TIMEOUT:
        argv += ["--timeout", str(timeout)]
    return argv + list(args)


def native_message(args: list[str]) -> dict[str, Any] | None:
    """The ZMQ message for ``args`` when the native path can answer it, else None."""
    if not args or args[0] not in NATIVE_COMMANDS or len(args) > 2:
        return None
    if len(args) == 2:
        name = args[1]
        if not name or name.startswith("-"):
            return None  # an option for circusctl's parser, not a watcher
        return {"command": args[0], "properties": {"name": name}}
    return {"command": args[0], "properties": {}}


def render_reply(args: list[str], reply: dict[str, Any]) -> tuple[int, str, str]:
    """``(exit, stdout, stderr)`` exactly as ``circusctl <args>`` prints ``reply``."""
    retcode = 3 if reply.get("status") == "error" else 0
    if args[0] == "status":
        # Status.console_msg: its error branch is unreachable ("status" !=
        # "error" is always true), so an error reply prints "error".
        if "statuses" in reply:
            statuses = reply["statuses"]
            text = "\n".join(f"{w}: {statuses[w]}" for w in sorted(statuses))
        else:
            text = str(reply.get("status"))
    elif "pids" in reply:
        text = ",".join(str(p) for p in reply["pids"])
    elif "watchers" in reply:
        text = ",".join(reply["watchers"])
    else:
        reason = reply.get("reason", "Response doesn't contain 'pids' nor 'watchers'.")
        text = f"error: {reason}"
    if retcode:
        return retcode, "", text + "\n"
    return retcode, text + "\n", ""


def run_native(endpoint: str, args: list[str], timeout: int) -> Outcome:
    """Ask circusd directly; same stdout and exit code as circusctl."""
    from bailey import zmtp

    message = native_message(args)
    if message is None:
        raise ValueError(f"no native path for {args!r}")
    start = time.monotonic()
    try:
        reply = zmtp.call(endpoint, message, timeout)
    except zmtp.ZmtpTimeout as e:
        return Outcome(
            1, "", "Timed out." + TIMEOUT_MSG, "native",
            f"circusd did not answer on {endpoint} within {timeout}s ({e})",
            seconds=time.monotonic() - start,
        )
    except zmtp.ZmtpError as e:
        return Outcome(1, "", f"{e}\n", "native", str(e), seconds=time.monotonic() - start)
    code, out, err = render_reply(args, reply)
    error = None
    if code:
        error = f"circusd replied error: {reply.get('reason') or 'no reason given'}"
    return Outcome(code, out, err, "native", error, reply, time.monotonic() - start)


def _summary(stderr: str) -> str:
    """One line out of circusctl's stderr: a traceback's last line, else the first."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return ""
    if lines[0].startswith("Traceback"):
        return lines[-1]
    return lines[0]


def run_subprocess(argv: list[str], timeout: int) -> Outcome:
    """Run circusctl (an argument list, never a shell), keeping its outputs."""
    import subprocess  # only here: status and list are answered natively

    start = time.monotonic()
    limit = timeout + SUBPROCESS_GRACE
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, errors="replace",
            timeout=limit, stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        where = "" if os.sep in argv[0] else " on PATH"
        return Outcome(
            127, "", "", "circusctl",
            f"circusctl not found: {argv[0]}{where} (use --circusctl or $BAILEY_CIRCUSCTL)",
        )
    except PermissionError:
        return Outcome(126, "", "", "circusctl", f"circusctl not executable: {argv[0]}")
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr
        return Outcome(
            -9, out or "", err or "", "circusctl",
            f"circusctl still running after {limit}s; killed",
            seconds=time.monotonic() - start,
        )
    except OSError as e:
        return Outcome(126, "", "", "circusctl", f"cannot run {argv[0]}: {e.strerror or e}")
    error = None
    if proc.returncode != 0:
        why = _summary(proc.stderr) or _summary(proc.stdout) or "no output"
        error = f"circusctl exited {proc.returncode}: {why}"
    return Outcome(
        proc.returncode, proc.stdout, proc.stderr, "circusctl", error,
        seconds=time.monotonic() - start,
    )


def parse_watchers(args: list[str], stdout: str, exit_code: int) -> dict[str, str] | None:
    """Watcher statuses from a successful ``status`` output; None for other commands."""
    if exit_code != 0 or not args or args[0] != "status":
        return None
    if len(args) == 2:
        return {args[1]: stdout.strip()}
    if len(args) != 1:
        return None
    watchers = {}
    for line in stdout.splitlines():
        name, sep, status = line.rpartition(": ")
        if sep:
            watchers[name] = status.strip()
    return watchers
