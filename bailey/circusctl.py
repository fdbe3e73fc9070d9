"""Running circusctl for one instance: as a subprocess, or natively.

The subprocess is the general path (any command).  For the commands whose
console output is simple (``status``, ``list``, and the control verbs
``start``, ``stop``, ``restart``, ``reload``, each with or without a watcher)
bailey asks circusd itself over ZMTP (bailey.zmtp) and prints what circusctl
would print, with circusctl's exit code: the output of ``console_msg`` in
``circus/commands/*.py`` and the return codes of ``circus/circusctl.py`` (0
ok, 1 timeout or connection error, 3 error reply).  A circusctl start costs
a host ~300 ms of imports per instance; the native call about a millisecond.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Mapping
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
# The control verbs' options as circusctl's parser fills them in (circus/commands/
# {start,stop,restart}.py: waiting_options + match_options; reload.py: waiting,
# sequential, terminate).  Only these exact spellings are answered natively.
_MATCH_VERB = ("waiting", "match")
CONTROL_OPTIONS = {"start": _MATCH_VERB, "stop": _MATCH_VERB, "restart": _MATCH_VERB,
                   "reload": ("waiting", "sequential", "terminate")}
# What one instance may print (native or circusctl): circus's answers are a few KiB,
# and a bigger one must cost that instance, not push the host's report over barnum's cap.
MAX_OUTPUT = 256 * 1024


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


def control_message(args: list[str]) -> dict[str, Any] | None:
    """The message circusctl sends for a control verb (``Command.message`` with the
    options its argparse fills in), or None for anything but the plain forms:
    one watcher name at most, each known option at most once, spelled out."""
    names = CONTROL_OPTIONS[args[0]]
    opts: dict[str, Any] = {"waiting": False, "match": "glob", "sequential": False,
                            "terminate": False}
    seen: set[str] = set()
    name = None
    i = 1
    while i < len(args):
        a = args[i]
        key, eq, value = a[2:].partition("=")
        if a.startswith("--") and key in names and key not in seen:
            seen.add(key)
            if key != "match":
                if eq:
                    return None
                opts[key] = True
            else:
                if not eq:
                    i += 1
                    value = args[i] if i < len(args) else ""
                if not value or value.startswith("-"):
                    return None
                opts[key] = value
        elif a and not a.startswith("-") and name is None:
            name = a
        else:
            return None
        i += 1
    props: dict[str, Any] = {} if name is None else {"name": name}
    if args[0] == "reload":
        props.update(graceful=not opts["terminate"], waiting=opts["waiting"],
                     sequential=opts["sequential"])
    else:
        props.update(waiting=opts["waiting"], match=opts["match"])
    return {"command": args[0], "properties": props}


def native_message(args: list[str]) -> dict[str, Any] | None:
    """The ZMQ message for ``args`` when the native path can answer it, else None."""
    if args and args[0] in CONTROL_OPTIONS:
        return control_message(args)
    if not args or args[0] not in NATIVE_COMMANDS or len(args) > 2:
        return None
    if len(args) == 2:
        name = args[1]
        if not name or name.startswith("-"):
            return None  # an option for circusctl's parser, not a watcher
        return {"command": args[0], "properties": {"name": name}}
    return {"command": args[0], "properties": {}}


def check_reply(args: list[str], reply: dict[str, Any]) -> str | None:
    """Why ``reply`` is not a shape circusctl's console_msg could print; None when it is."""
    if args[0] in CONTROL_OPTIONS and not isinstance(reply.get("status"), str):
        return "'status' is not a string"  # circusctl: a KeyError traceback
    st, pids, names = reply.get("statuses"), reply.get("pids"), reply.get("watchers")
    if args[0] == "status" and "statuses" in reply and not (
            isinstance(st, dict) and all(isinstance(v, str) for v in st.values())):
        return "'statuses' is not an object of strings"
    if args[0] == "list" and "pids" in reply and not (isinstance(pids, list) and all(
            isinstance(p, int) and not isinstance(p, bool) for p in pids)):
        return "'pids' is not a list of numbers"
    if args[0] == "list" and "pids" not in reply and "watchers" in reply and not (
            isinstance(names, list) and all(isinstance(w, str) for w in names)):
        return "'watchers' is not a list of strings"
    return None


def render_reply(args: list[str], reply: dict[str, Any]) -> tuple[int, str, str]:
    """``(exit, stdout, stderr)`` exactly as ``circusctl <args>`` prints ``reply``."""
    retcode = 3 if reply.get("status") == "error" else 0
    if args[0] in CONTROL_OPTIONS:
        # Command.console_msg: "ok", else console_error's "error: %s" % reason
        ok = reply.get("status") == "ok"
        text = "ok" if ok else f"error: {reply.get('reason')}"
    elif args[0] == "status":
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


# circusd runs one exclusive command at a time and refuses another that comes meanwhile
# (circus.util.synchronized: ConflictError, nothing done); a restart answers before it ends.
BUSY = ("error: arbiter is already running", "error: arbiter is restarting")


def retry_busy(run: Callable[[int], Outcome], timeout: int) -> Outcome:
    """``run(timeout)`` again while circusd refuses it as busy, until ``timeout`` is spent.

    Safe to repeat: a refused command was not run.  Without this, a fast client's second
    command (the next watcher of a fleet-wide restart) lands while circusd still runs the
    first; circusctl's slow start-up used to hide that.
    """
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        out = run(timeout)
        left = deadline - time.monotonic()
        if not any(b in out.stderr for b in BUSY) or left <= pause:
            return out
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
        timeout = max(1, math.ceil(left - pause))


def run_native(endpoint: str, args: list[str], timeout: int) -> Outcome:
    """Ask circusd directly; same stdout and exit code as circusctl."""
    from bailey import zmtp

    message = native_message(args)
    if message is None:
        raise ValueError(f"no native path for {args!r}")
    control = args[0] in CONTROL_OPTIONS
    start = time.monotonic()
    try:
        # A control verb is not sent twice: a connection lost after sending is a
        # timeout, as with circusctl (libzmq does not resend what it wrote).
        reply = zmtp.call(endpoint, message, timeout, resend=not control)
    except zmtp.ZmtpTimeout as e:
        err = "Timed out." + TIMEOUT_MSG
        why = exit_error(1, "", err) if control else (
            f"circusd did not answer on {endpoint} within {timeout}s ({e})")
        return Outcome(1, "", err, "native", why, seconds=time.monotonic() - start)
    except zmtp.ZmtpError as e:
        return Outcome(1, "", f"{e}\n", "native", str(e), seconds=time.monotonic() - start)
    bad = check_reply(args, reply)
    if bad is None:
        code, out, err = render_reply(args, reply)
        if len(out) + len(err) > MAX_OUTPUT:
            bad = f"its answer prints over {MAX_OUTPUT // 1024} KiB"
    if bad is not None:
        why = f"circusd's reply is malformed: {bad}"
        return Outcome(1, "", "", "native", why, seconds=time.monotonic() - start)
    error = None
    if control:  # the control verbs' error line is circusctl's too: the same report
        error = exit_error(code, out, err)
    elif code:
        error = f"circusd replied error: {reply.get('reason') or 'no reason given'}"
    return Outcome(code, out, err, "native", error, reply, time.monotonic() - start)


def exit_error(code: int, stdout: str, stderr: str) -> str | None:
    """The one line bailey reports for a circusctl that exited ``code`` (None for 0)."""
    if code == 0:
        return None
    why = _summary(stderr) or _summary(stdout) or "no output"
    return f"circusctl exited {code}: {why}"


def _summary(stderr: str) -> str:
    """One line out of circusctl's stderr: a traceback's last line, else the first."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return ""
    if lines[0].startswith("Traceback"):
        return lines[-1]
    return lines[0]


def _text(raw: bytes) -> str:
    """As ``subprocess.run(text=True, errors="replace")`` decodes: universal newlines."""
    return raw.decode(errors="replace").replace("\r\n", "\n").replace("\r", "\n")


class _Overflow(Exception):
    """circusctl printed more than MAX_OUTPUT bytes."""


def _communicate(proc, limit: float) -> tuple[bytes, bytes]:
    """stdout and stderr of ``proc`` until EOF, at most MAX_OUTPUT bytes in all.

    Raises subprocess.TimeoutExpired after ``limit`` seconds and _Overflow
    beyond the cap (the caller kills the process): a circusd answering
    gigabytes costs circusctl's memory, never bailey's.
    """
    import selectors
    import subprocess

    deadline = time.monotonic() + limit
    bufs = {proc.stdout: bytearray(), proc.stderr: bytearray()}
    with selectors.DefaultSelector() as sel:
        for f in bufs:
            sel.register(f, selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(proc.args, limit, bytes(bufs[proc.stdout]),
                                                bytes(bufs[proc.stderr]))
            for key, _ in sel.select(left):
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                bufs[key.fileobj] += data
                if sum(map(len, bufs.values())) > MAX_OUTPUT:
                    raise _Overflow
    proc.wait(max(0.1, deadline - time.monotonic()))
    return bytes(bufs[proc.stdout]), bytes(bufs[proc.stderr])


def run_subprocess(argv: list[str], timeout: int) -> Outcome:
    """Run circusctl (an argument list, never a shell), keeping its outputs (bounded)."""
    import subprocess  # only here: status and list are answered natively

    start = time.monotonic()
    limit = timeout + SUBPROCESS_GRACE
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    except FileNotFoundError:
        where = "" if os.sep in argv[0] else " on PATH"
        return Outcome(
            127, "", "", "circusctl",
            f"circusctl not found: {argv[0]}{where} (use --circusctl or $BAILEY_CIRCUSCTL)",
        )
    except PermissionError:
        return Outcome(126, "", "", "circusctl", f"circusctl not executable: {argv[0]}")
    except OSError as e:
        return Outcome(126, "", "", "circusctl", f"cannot run {argv[0]}: {e.strerror or e}")
    with proc:
        try:
            raw_out, raw_err = _communicate(proc, limit)
        except subprocess.TimeoutExpired as e:
            proc.kill()
            return Outcome(
                -9, _text(e.stdout or b""), _text(e.stderr or b""), "circusctl",
                f"circusctl still running after {limit}s; killed",
                seconds=time.monotonic() - start,
            )
        except _Overflow:
            proc.kill()
            return Outcome(
                -9, "", "", "circusctl",
                f"circusctl printed over {MAX_OUTPUT // 1024} KiB (circusd's answer is too "
                "large); killed", seconds=time.monotonic() - start,
            )
    stdout, stderr = _text(raw_out), _text(raw_err)
    return Outcome(
        proc.returncode, stdout, stderr, "circusctl", exit_error(proc.returncode, stdout, stderr),
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
