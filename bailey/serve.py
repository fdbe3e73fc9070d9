"""``bailey --serve``: one long-lived bailey per host, NDJSON over stdin/stdout.

Protocol ``bailey-serve/1`` (docs/bailey-serve.md).  Every line written
carries ``seq`` (1, 2, ... per process), ``epoch`` (random, new on every
start) and ``t`` (host time), so the reader can tell lost lines from a
restart.  Requests ``{"id", "op", ...}`` get one response ``{"id", "ok",
"result" | "error"}``; events are unsolicited lines with ``"event"``.

Each request runs in its own thread, so a slow circusd never delays a
``ping``.  stdin closing (the SSH channel went away) ends the process at
once, with every child it started (journalctl) killed: nothing is left on
the host.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from bailey import __version__
from bailey.host import Options, inspect_host, short_hostname
from bailey.report import Report

PROTOCOL = "bailey-serve/1"
MAX_LINE = 64 * 1024  # a request is small; a longer line is refused, never buffered
OPS = ("ping", "status", "circusctl", "stats", "logs", "output", "subscribe", "cancel")
OUTPUT_MAX_BYTES = 256 * 1024  # of a watcher's output file, from its end


class RequestError(Exception):
    """A bad request: answered with ``ok: false`` and this one-line message."""


class Server:
    """The request loop and the one writer of stdout."""

    def __init__(self, options: Options, out: IO[bytes] | None = None) -> None:
        self.options = options
        self.out = out or sys.stdout.buffer
        self.epoch = os.urandom(8).hex()
        self.seq = 0
        self._lock = threading.Lock()
        self.closing = threading.Event()
        self.cancels: dict[Any, Callable[[], None]] = {}
        self.children: set[subprocess.Popen] = set()

    # -- output ---------------------------------------------------------------------------

    def emit(self, obj: dict[str, Any]) -> None:
        """Write one line (seq, epoch and t added); a dead stdout ends the server."""
        with self._lock:
            if self.closing.is_set():
                return
            self.seq += 1
            line = {**obj, "seq": self.seq, "epoch": self.epoch, "t": time.time()}
            data = json.dumps(line, separators=(",", ":"), ensure_ascii=True,
                              default=str).encode() + b"\n"
            try:
                self.out.write(data)
                self.out.flush()
            except (BrokenPipeError, OSError, ValueError):
                self.closing.set()

    def respond(self, rid: Any, result: Any = None, error: str | None = None) -> None:
        if error is not None:
            self.emit({"id": rid, "ok": False, "error": " ".join(str(error).split())})
        else:
            self.emit({"id": rid, "ok": True, "result": result})

    # -- the loop -------------------------------------------------------------------------

    def serve(self, stdin: IO[bytes]) -> int:
        self.emit({"event": "hello", "protocol": PROTOCOL, "bailey_version": __version__,
                   "host": self.options.hostname or short_hostname(), "pid": os.getpid()})
        try:
            while not self.closing.is_set():
                line = stdin.readline(MAX_LINE + 1)
                if not line:
                    break  # EOF: the channel is gone
                if len(line) > MAX_LINE and not line.endswith(b"\n"):
                    self.respond(None, error=f"request longer than {MAX_LINE} bytes")
                    while line and not line.endswith(b"\n"):  # skip the rest of it
                        line = stdin.readline(MAX_LINE + 1)
                    continue
                if line.strip():
                    self.handle(line)
        finally:
            self.shutdown()
        return 0

    def shutdown(self) -> None:
        self.closing.set()
        for cancel in list(self.cancels.values()):
            cancel()
        for p in list(self.children):
            _kill(p)

    def handle(self, line: bytes) -> None:
        """Parse and dispatch one request line; a bad one gets an error response."""
        try:
            req = json.loads(line)
        except ValueError:
            self.respond(None, error="not a JSON line")
            return
        if not isinstance(req, dict):
            self.respond(None, error="a request is a JSON object")
            return
        rid = req.get("id")
        if not isinstance(rid, int | str) or isinstance(rid, bool):
            self.respond(None, error="a request needs an id (a number or a string)")
            return
        op = req.get("op")
        if op not in OPS:
            self.respond(rid, error=f"unknown op {str(op)[:40]!r}; known: {', '.join(OPS)}")
            return
        if op == "ping":
            self.respond(rid, {"t": time.time()})
            return
        threading.Thread(target=self._run, args=(op, rid, req), daemon=True,
                         name=f"op-{op}").start()

    def _run(self, op: str, rid: Any, req: dict[str, Any]) -> None:
        try:
            result = getattr(self, f"op_{op}")(rid, req)
        except RequestError as e:
            self.respond(rid, error=str(e))
        except Exception as e:  # one op's failure is an answer, never the server's end
            self.respond(rid, error=f"internal error: {type(e).__name__}: {e}")
        else:
            if result is not _ALREADY:
                self.respond(rid, result)

    # -- ops ------------------------------------------------------------------------------

    def _users(self, req: dict[str, Any]) -> list[str] | None:
        users = req.get("users")
        if users is None:
            return None
        if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
            raise RequestError("users must be a list of user names")
        return users

    def report(self, users: list[str] | None, args: list[str] | None = None,
               dry_run: bool = False) -> Report:
        opts = Options(**{**self.options.__dict__, "dry_run": dry_run, "verbose": None})
        return inspect_host(users, args or ["status"], opts)

    def op_status(self, rid: Any, req: dict[str, Any]) -> dict[str, Any]:
        return self.report(self._users(req)).to_dict()

    def op_circusctl(self, rid: Any, req: dict[str, Any]) -> dict[str, Any]:
        args = req.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            raise RequestError("args must be a non-empty list of strings")
        return self.report(self._users(req), args).to_dict()

    def op_stats(self, rid: Any, req: dict[str, Any]) -> dict[str, Any]:
        from bailey.stats import collect

        return collect(self.report(self._users(req), dry_run=True), self.options.timeout)

    def op_output(self, rid: Any, req: dict[str, Any]) -> dict[str, Any]:
        """The last lines of a watcher's stdout/stderr file, as its circus.ini names it.

        The path never comes from the request: only a file circus.ini gives
        for that stream, read if the circus user could read it (bailey.safefile).
        """
        from bailey.safefile import Reader, UnsafeFile, tail_lines

        unit, watcher, stream = req.get("unit"), req.get("watcher"), req.get("stream")
        if not isinstance(unit, str) or not isinstance(watcher, str):
            raise RequestError("unit and watcher must be strings")
        if stream not in ("stdout", "stderr"):
            raise RequestError("stream must be stdout or stderr")
        n = req.get("n", 200)
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 10000:
            raise RequestError("n must be an integer from 0 to 10000")
        inst = next((i for i in self.report(None, dry_run=True).instances if i.unit == unit),
                    None)
        if inst is None:
            raise RequestError(f"no circus unit {unit[:80]!r} on this host")
        path = inst.stream_files.get(f"{stream}:{watcher}")
        if path is None:
            raise RequestError(f"circus.ini writes {watcher[:80]!r}'s {stream} to no file")
        try:
            lines, truncated = tail_lines(path, Reader.for_user(inst.user), n,
                                          OUTPUT_MAX_BYTES)
        except FileNotFoundError:
            raise RequestError(f"{path}: no such file (yet)") from None
        except UnsafeFile as e:
            raise RequestError(str(e)) from None
        except OSError as e:
            raise RequestError(f"{path}: {e.strerror or e}") from None
        return {"unit": unit, "watcher": watcher, "stream": stream, "path": path,
                "lines": lines, "truncated": truncated}

    def op_logs(self, rid: Any, req: dict[str, Any]) -> Any:
        from bailey import journal

        try:
            unit = journal.check_unit(req.get("unit"))
        except ValueError as e:
            raise RequestError(str(e)) from None
        n = req.get("n", 50)
        if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 10000:
            raise RequestError("n must be an integer from 0 to 10000")
        since = req.get("since")
        if since is not None and (isinstance(since, bool) or not isinstance(since, int | float)
                                  or not 0 <= since < 1e11):
            raise RequestError("since must be seconds since the epoch")
        p = subprocess.run(journal.journal_argv(unit, n, False, since), capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=30)
        if p.returncode != 0 and not p.stdout:
            why = p.stderr.decode("utf-8", "replace").strip().splitlines()
            raise RequestError(f"journalctl failed: {why[-1] if why else p.returncode}")
        lines = [x for x in map(journal.parse_line, p.stdout.decode("utf-8", "replace")
                                .splitlines()) if x is not None]
        if not req.get("follow"):
            return {"unit": unit, "lines": lines}
        self.respond(rid, {"unit": unit, "lines": lines})
        self._follow(rid, unit)
        return _ALREADY

    def _follow(self, rid: Any, unit: str) -> None:
        from bailey import journal

        proc = subprocess.Popen(journal.journal_argv(unit, 0, True), stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self.children.add(proc)
        self.cancels[rid] = lambda: _kill(proc)
        assert proc.stdout is not None  # stdout=PIPE
        try:
            for raw in proc.stdout:
                rec = journal.parse_line(raw.decode("utf-8", "replace"))
                if rec is not None:
                    self.emit({"event": "log", "sub": rid, "unit": unit, "line": rec})
        finally:
            _kill(proc)
            self.children.discard(proc)
            self.cancels.pop(rid, None)

    def op_subscribe(self, rid: Any, req: dict[str, Any]) -> Any:
        from bailey.watch import SAFETY_POLL, Watcher

        interval = req.get("stats_interval", 0)
        if not isinstance(interval, int | float) or isinstance(interval, bool) \
                or not (interval == 0 or 1 <= interval <= 3600):
            raise RequestError("stats_interval must be 0 or from 1 to 3600 seconds")
        poll = req.get("safety_poll", SAFETY_POLL)
        if not isinstance(poll, int | float) or isinstance(poll, bool) or not 1 <= poll <= 3600:
            raise RequestError("safety_poll must be from 1 to 3600 seconds")
        w = Watcher(self, rid, float(interval), float(poll))
        self.cancels[rid] = w.stop
        w.start()
        return _ALREADY

    def op_cancel(self, rid: Any, req: dict[str, Any]) -> dict[str, Any]:
        cancel = self.cancels.pop(req.get("sub"), None)
        if cancel is not None:
            cancel()
        return {"cancelled": cancel is not None}


_ALREADY = object()  # the op answered by itself (follow, subscribe)


def _kill(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        p.wait(timeout=2)


def run_server(options: Options) -> int:
    """The ``bailey --serve`` entry point."""
    server = Server(options)
    return server.serve(sys.stdin.buffer)


__all__ = ["PROTOCOL", "Server", "run_server"]
