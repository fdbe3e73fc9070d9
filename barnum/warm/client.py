"""The ``barnum`` console entry point: try the warm session, else run cold.

Standard library only until it falls back: a warm call parses argv, connects
to the session's socket, sends the call and writes back the bytes the session
rendered (with this terminal's width, colour and ``NO_COLOR``), so it costs
about a Python start.  A call the session cannot serve, or a first call, runs
the normal CLI (``barnum.cli.main``); after a first call has answered, a
session is started detached for the next one.
"""

from __future__ import annotations

import _socket  # not socket: its enums cost each warm call ~3 ms
import errno
import os
import sys

from barnum.warm import protocol
from barnum.warm.paths import (
    DEFAULT_PERSIST,
    ENV_PERSIST,
    WarmError,
    Where,
    alive,
    check_private,
    find_users_file,
    key_of,
    persist_in_file,
    runtime_dir,
    where,
)

TYPE_CHECKING = False  # typing itself costs a warm call ~3 ms: see barnum.warm.paths
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from barnum.context import Context

EXIT_USAGE = 2
LEAVE_WAIT = 3.0  # seconds a Ctrl-C'd call has to end in the session
START_SLACK = 5.0  # seconds a started session may take beyond its hosts' connect time
START_POLL = 0.02  # seconds between two looks for the started session's socket
# Commands (and flags) the session never serves: the client does not ask, nor start one.
COLD_WORDS = {"watch", "shell", "web", "unit", "drift", "history", "session", "completion"}
COLD_FLAGS = {"--dry-run", "--verbose", "--debug", "--help", "--version"}
FILE_FLAGS = ("--config", "--ssh-config", "--bailey")


class Warm:
    """How this call may be warm: the session's files and idle life (a plain class,
    as Where is, for the console's start)."""

    __slots__ = ("persist", "where")

    def __init__(self, where: Where, persist: float) -> None:
        self.where, self.persist = where, persist

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Warm) and (self.where, self.persist) == (
            other.where, other.persist)

    def __hash__(self) -> int:
        return hash((self.where, self.persist))

    def __repr__(self) -> str:
        return f"Warm(where={self.where!r}, persist={self.persist!r})"


def _own_args(argv: list[str]) -> list[str]:
    return argv[: argv.index("--")] if "--" in argv else list(argv)


def plan(argv: list[str], environ: Mapping[str, str] | None = None) -> Warm | None:
    """Pure but for reading the users file: None when this call runs cold and starts no
    session (persist off, bailey's options after ``--``, a command or flag never served)."""
    env = os.environ if environ is None else environ
    own = _own_args(argv)
    if "--" in argv:
        rest = argv[argv.index("--") + 1:]
        if (rest.index("--") if "--" in rest else len(rest)) > 0:
            return None  # bailey's own arguments
    values: dict[str, str | None] = dict.fromkeys(FILE_FLAGS)
    persist: float | None = None
    i = 0
    while i < len(own):
        a = own[i]
        name, eq, val = a.partition("=")
        if a in COLD_WORDS or a in COLD_FLAGS or a == "--no-persist":
            return None
        if a.startswith("-") and not a.startswith("--") and any(c in a for c in "vh"):
            return None  # -v, -h (also in a cluster)
        if name in (*FILE_FLAGS, "--persist"):
            if not eq:
                i += 1
                if i >= len(own):
                    return None  # the CLI says what is missing
                val = own[i]
            if name == "--persist":
                try:
                    from barnum.text.duration import parse_duration

                    persist = parse_duration(val)
                except ValueError:
                    return None
            else:
                values[name] = val
        elif a.startswith("--") and any(f.startswith(name) for f in (*FILE_FLAGS, "--persist",
                                                                         "--no-persist")):
            return None  # an abbreviation: the CLI's parser knows what it means
        i += 1
    if persist is None and env.get(ENV_PERSIST):
        try:
            from barnum.text.duration import parse_duration

            persist = parse_duration(env[ENV_PERSIST])
        except ValueError:
            return None
    users = find_users_file(values["--config"], env)
    if users is None:
        return None
    if persist is None:
        persist = persist_in_file(users)
    if persist is None:
        persist = DEFAULT_PERSIST
    if persist <= 0:
        return None
    key = key_of(users, values["--ssh-config"], values["--bailey"])
    return Warm(where(key, runtime_dir(env)), persist)


def ask(path: str | os.PathLike[str], req: dict,
        on_chunk: Callable[[dict], None] | None = None) -> dict | None:
    """The session's answer, or None when none listens (no socket, or a stale one);
    WarmError for a socket or folder that is not private to this user.  ``on_chunk``
    gets each ``chunk`` message that comes before the answer (output as it is written);
    None is never returned after one came: :class:`Broken` instead."""
    try:
        check_private(os.path.dirname(os.fspath(path)), "dir")
        check_private(path, "socket")
    except FileNotFoundError:
        return None
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    got = left = False
    try:
        s.connect(os.fspath(path))
        if not protocol.peer_allowed(s):
            raise WarmError(f"{path} is served by another user; refusing it")
        protocol.send(s, req)
        while True:
            try:
                msg = protocol.recv(s)
            except KeyboardInterrupt:
                if left:
                    raise
                left = True
                _leave(s)  # the call's own end follows (a followed log stops quietly)
                continue
            if left and "cold" in msg:
                raise KeyboardInterrupt  # never rerun cold what the user interrupted
            if "chunk" not in msg or on_chunk is None:
                return msg
            got = True
            on_chunk(msg)
    except (OSError, protocol.ProtocolError) as e:
        if left:  # the call did not end in time, or Ctrl-C cut a message: as before
            raise KeyboardInterrupt from None
        if isinstance(e, protocol.ProtocolError):
            if got:
                raise Broken(str(e)) from None
            return None  # the session died mid-answer
        if got:
            raise Broken(str(e)) from None
        if e.errno in (errno.ECONNREFUSED, errno.ENOENT, errno.ECONNRESET, errno.EPIPE):
            return None  # stale: the next session replaces it
        raise
    finally:
        s.close()


def _leave(s: _socket.socket) -> None:
    """Ctrl-C: tell the session (our end's EOF) and give the call LEAVE_WAIT to end
    as it would cold; past that (or a second Ctrl-C) the client says it is interrupted."""
    try:
        s.shutdown(_socket.SHUT_WR)
    except OSError:
        raise KeyboardInterrupt from None
    s.settimeout(LEAVE_WAIT)


class Broken(Exception):
    """The session died after part of the output was written: the call cannot be rerun."""


def start(w: Warm, argv: list[str]) -> Any:
    """The session for the next call, detached (it outlives this terminal); its
    process (a Popen), or None when it could not be started."""
    try:
        from barnum.warm.paths import ensure_dir

        ensure_dir(os.path.dirname(w.where.socket))
        log = open(w.where.log, "ab")  # noqa: SIM115 - the child's, closed below
    except (OSError, WarmError):
        return None
    import subprocess  # only here: a warm call does not pay for it

    with log:
        os.chmod(w.where.log, 0o600)
        return subprocess.Popen(
            [sys.executable, "-m", "barnum.warm.server", w.where.socket, str(w.persist),
             "--", *argv],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True,
            start_new_session=True)


def _terminal() -> tuple[bool, tuple[int, int] | None]:
    tty = sys.stdout.isatty()
    if not tty:
        return False, None
    try:
        sz = os.get_terminal_size(sys.stdout.fileno())
        return True, (sz.columns, sz.lines)
    except OSError:
        return True, None


def _write_completion(text: str) -> None:
    name = os.environ.get("_ARGCOMPLETE_STDOUT_FILENAME")
    if name:
        with open(name, "w") as f:
            f.write(text)
    else:
        with os.fdopen(8, "w") as f:
            f.write(text)


class _Writer:
    """Output bytes to this terminal as they come, each write flushed (so their order
    across stdout and stderr is kept).  A reader that went away (``barnum | head``)
    gets nothing more, and the call still ends normally."""

    def __init__(self) -> None:
        self.out, self.err = sys.stdout.buffer, sys.stderr.buffer
        self.closed = False

    def write(self, fd: int, data: bytes) -> None:
        if self.closed:
            return
        try:
            if fd == 1:
                self.out.write(data)
                self.out.flush()  # as the session wrote it: a step shows when it is done
            else:
                self.err.write(data)
                self.err.flush()
        except BrokenPipeError:
            self.closed = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())

    def chunk(self, msg: dict) -> None:
        fd, data = msg["chunk"]
        self.write(fd, protocol.unpack(data))

    def flush(self) -> None:
        if not self.closed:
            try:
                self.out.flush()
            except BrokenPipeError:
                self.write(1, b"")


def _replay(answer: dict, writer: _Writer) -> int:
    for fd, data in answer.get("chunks") or []:
        writer.write(fd, protocol.unpack(data))
    writer.flush()
    if writer.closed:
        return 0
    code = answer.get("code")
    return code if isinstance(code, int) else 3


def _attach(ctx: Context, targets: list[str] | None) -> Any:
    """barnum.warm.attach, imported only when a front end asks.  With no session
    running, one is started (as a first call leaves one) and attached to once it
    listens, so the next call is warm too; None (the front end opens its own) when
    that cannot be done."""
    from barnum.warm.attach import attach, session_for

    a = attach(ctx, targets)
    if a is not None or ctx.args.verbose or ctx.args.debug:
        return a
    found = session_for(ctx)
    if found is None:
        return None  # persistence off
    w = Warm(*found)
    early = _EARLY.get("where") == w.where
    if not early and alive(w.where.socket):
        return None  # a session that does not take this front end (other options)
    if targets and len(ctx.discovery.hosts) > 1 and not early:
        start(w, _own_args(sys.argv[1:]))  # for the next call; this watch of some hosts
        return None                        # does not wait for every host's connect
    return _started(ctx, targets, w)


def _started(ctx: Context, targets: list[str] | None, w: Warm) -> Any:
    """Start the session (unless main started it already) and attach to it once it
    listens (it opens every allowed host, as the front end's own would); None if it
    does not within the time its hosts get."""
    import time

    from barnum.warm.attach import attach

    proc = _EARLY.get("proc") if _EARLY.get("where") == w.where else None
    proc = proc or start(w, _own_args(sys.argv[1:]))
    if proc is None:
        return None
    o = ctx.options
    waves = -(-max(1, len(ctx.discovery.hosts)) // max(1, o.fanout))
    deadline = time.monotonic() + waves * o.timeout + START_SLACK
    while time.monotonic() < deadline:
        ended = proc.poll() is not None  # nothing to keep, or another took the lock
        if os.path.exists(w.where.socket) or ended:  # bound, listening, then renamed in place
            return attach(ctx, targets)
        time.sleep(START_POLL)
    return None


def _cli_main(argv: list[str] | None = None) -> int:
    """The command line itself, with ``watch`` and the shell able to attach."""
    import barnum.context
    from barnum.cli.main import main as cli_main

    barnum.context.ATTACH = _attach
    return cli_main(argv)


def cold(argv: list[str]) -> int:
    return _cli_main(argv)


FRONTS = ("watch", "shell")  # front ends that stay: they attach to the session
_EARLY: dict[str, Any] = {}  # the session main started for one of them: where, proc


def _start_early(argv: list[str]) -> None:
    """``watch`` or ``shell`` with no session running: start it now, so that it starts
    (Python, imports, SSH) while the front end starts; they attach to it."""
    own = _own_args(argv)
    front = next((a for a in own if a in FRONTS), None)
    if front is None:
        return
    after = own[own.index(front) + 1:]
    if front == "watch" and any(not a.startswith("-") for a in after):
        return  # (maybe) a watch of some hosts: it opens its own (see _attach)
    try:
        w = plan([a for a in own if a != front])
    except WarmError:
        return
    if w is None or alive(w.where.socket):
        return  # persistence off, or one runs (attach takes it, or says why not)
    _EARLY.update(where=w.where, proc=start(w, own))


def main() -> int:
    """Console entry point; returns the exit code."""
    argv = sys.argv[1:]
    completing = "_ARGCOMPLETE" in os.environ
    try:
        w = plan(argv) if not completing else plan(_comp_words())
    except WarmError:
        w = None
    if w is None:
        if completing:
            return _cli_main()
        _start_early(argv)
        return cold(argv)
    tty, size = _terminal()
    req = protocol.request(argv, "complete" if completing else "run", stdout_tty=tty, size=size)
    writer = _Writer()
    try:
        answer = ask(w.where.socket, req, writer.chunk)
    except KeyboardInterrupt:  # as the CLI says it; the session stops the call (it saw us go)
        writer.flush()
        sys.stderr.write("barnum: interrupted\n")
        return 130
    except Broken as e:
        writer.flush()
        sys.stderr.write(f"barnum: error: warm session: lost mid-call ({e}); what it was "
                         "doing may be done: check before running it again\n")
        return 3
    except WarmError as e:
        sys.stderr.write(f"barnum: error: warm session: {e} (or run with --no-persist)\n")
        return EXIT_USAGE
    except OSError as e:
        answer = {"cold": str(e)}
    if answer is not None and "completion" in answer:
        _write_completion(str(answer["completion"]))
        os._exit(0)
    if answer is not None and "chunks" in answer:
        code = _replay(answer, writer)
        sys.stderr.flush()
        os._exit(code)  # all written and flushed: Python's teardown is ~3 ms of CPU per call
    if answer is not None and "error" in answer:
        sys.stderr.write(f"barnum: error: warm session: {answer['error']}\n")
        return EXIT_USAGE
    started = answer is not None and not answer.get("retire")  # one listens (cold for this call)
    if completing:
        if not started:
            start(w, _own_args(_comp_words()))
        return _cli_main()
    code = cold(argv)
    if not started and code != EXIT_USAGE:
        sys.stdout.flush()
        sys.stderr.flush()
        start(w, _own_args(argv))
    return code


def _comp_words() -> list[str]:
    """The words typed before the cursor, as a plain split (enough to find the key)."""
    line = os.environ.get("COMP_LINE", "")
    point = int(os.environ.get("COMP_POINT", len(line)))
    return line[:point].split()[1:]


def console() -> None:
    sys.exit(main())
