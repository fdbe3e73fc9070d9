"""``bailey --serve``: one long-lived bailey per host, NDJSON over stdin/stdout.

Protocol ``bailey-serve/1`` (docs/bailey-serve.md; its ops and their
arguments are the table in bailey.protocol).  Every line written
carries ``seq`` (1, 2, ... per process), ``epoch`` (random, new on every
start) and ``t`` (host time), so the reader can tell lost lines from a
restart.  Requests ``{"id", "op", ...}`` get one response ``{"id", "ok",
"result" | "error", "code"}``; events are unsolicited lines with ``"event"``.
A stream (a followed ``logs``, a ``subscribe``) ends with an ``end`` event.

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
from bailey.protocol import (
    BAD_REQUEST,
    END_CANCELLED,
    END_ENDED,
    FAILED,
    NOT_FOUND,
    OPS,
    PROTOCOL,
    RequestError,
    check_args,
    check_request,
)
from bailey.report import Report

MAX_LINE = 64 * 1024  # a request is small; a longer line is refused, never buffered
OUTPUT_MAX_BYTES = 256 * 1024  # of a watcher's output file, from its end


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
        self.watched = Watched(options)

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

    def respond(self, rid: Any, result: Any = None, error: str | None = None,
                code: str = FAILED) -> None:
        if error is not None:
            self.emit({"id": rid, "ok": False, "error": " ".join(str(error).split()),
                       "code": code})
        else:
            self.emit({"id": rid, "ok": True, "result": result})

    # -- the loop -------------------------------------------------------------------------

    def serve(self, stdin: IO[bytes]) -> int:
        self.emit({"event": "hello", "protocol": PROTOCOL, "bailey_version": __version__,
                   "host": self.options.hostname or short_hostname(), "pid": os.getpid()})
        if not self.options.helpers:
            return self._loop(stdin)
        from bailey.opener import kept  # a user's files opened by a kept helper, not a fork

        with kept():
            return self._loop(stdin)

    def _loop(self, stdin: IO[bytes]) -> int:
        try:
            while not self.closing.is_set():
                line = stdin.readline(MAX_LINE + 1)
                if not line:
                    break  # EOF: the channel is gone
                if len(line) > MAX_LINE and not line.endswith(b"\n"):
                    self.respond(None, error=f"request longer than {MAX_LINE} bytes",
                                 code=BAD_REQUEST)
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
        rid = None
        try:
            req = json.loads(line)
        except ValueError:
            self.respond(None, error="not a JSON line", code=BAD_REQUEST)
            return
        try:
            rid, op = check_request(req)
            args = check_args(op, req)
        except RequestError as e:
            self.respond(rid if rid is not None else e.rid, error=str(e), code=e.code)
            return
        if op.inline:  # ping: never behind a slow op
            self.respond(rid, {"t": time.time()})
            return
        threading.Thread(target=self._run, args=(op.name, rid, args), daemon=True,
                         name=f"op-{op.name}").start()

    def _run(self, op: str, rid: Any, args: dict[str, Any]) -> None:
        try:
            result = getattr(self, f"op_{op}")(rid, args)
        except RequestError as e:
            self.respond(rid, error=str(e), code=e.code)
        except Exception as e:  # one op's failure is an answer, never the server's end
            self.respond(rid, error=f"internal error: {type(e).__name__}: {e}")
        else:
            if result is not _ALREADY:
                self.respond(rid, result)

    # -- ops ------------------------------------------------------------------------------

    def report(self, users: list[str] | None, args: list[str] | None = None,
               dry_run: bool = False, listed: Callable[[], list] | None = None) -> Report:
        opts = Options(**{**self.options.__dict__, "dry_run": dry_run, "verbose": None,
                          "listed": listed})
        return inspect_host(users, args or ["status"], opts)

    # Each op_NAME gets the arguments bailey.protocol.check_args checked, defaults filled.

    def op_status(self, rid: Any, a: dict[str, Any]) -> dict[str, Any]:
        return self.report(a["users"], listed=self.watched.get if a["watched"] else None
                           ).to_dict()

    def op_circusctl(self, rid: Any, a: dict[str, Any]) -> dict[str, Any]:
        return self.report(a["users"], a["args"]).to_dict()

    def op_stats(self, rid: Any, a: dict[str, Any]) -> dict[str, Any]:
        from bailey.stats import collect

        return collect(self.report(a["users"], dry_run=True), self.options.timeout)

    def op_output(self, rid: Any, a: dict[str, Any]) -> dict[str, Any]:
        """The last lines of a watcher's stdout/stderr file, as its circus.ini names it.

        The path never comes from the request: only a file circus.ini gives
        for that stream, read if the circus user could read it (bailey.safefile).
        """
        from bailey.safefile import Reader, UnsafeFile, tail_lines

        unit, watcher, stream, n = a["unit"], a["watcher"], a["stream"], a["n"]
        inst = next((i for i in self.report(None, dry_run=True).instances if i.unit == unit),
                    None)
        if inst is None:
            raise RequestError(f"no circus unit {unit[:80]!r} on this host", NOT_FOUND)
        path = inst.stream_files.get(f"{stream}:{watcher}")
        if path is None:
            raise RequestError(f"circus.ini writes {watcher[:80]!r}'s {stream} to no file",
                               NOT_FOUND)
        try:
            lines, truncated = tail_lines(path, Reader.for_user(inst.user), n,
                                          OUTPUT_MAX_BYTES)
        except FileNotFoundError:
            raise RequestError(f"{path}: no such file (yet)", NOT_FOUND) from None
        except UnsafeFile as e:
            raise RequestError(str(e), FAILED) from None
        except OSError as e:
            raise RequestError(f"{path}: {e.strerror or e}", FAILED) from None
        return {"unit": unit, "watcher": watcher, "stream": stream, "path": path,
                "lines": lines, "truncated": truncated}

    def op_logs(self, rid: Any, a: dict[str, Any]) -> Any:
        from bailey import journal

        try:
            unit = journal.check_unit(a["unit"])
        except ValueError as e:
            raise RequestError(str(e)) from None
        n, since = a["n"], a["since"]
        p = subprocess.run(journal.journal_argv(unit, n, False, since), capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=30)
        if p.returncode != 0 and not p.stdout:
            why = p.stderr.decode("utf-8", "replace").strip().splitlines()
            raise RequestError(f"journalctl failed: {why[-1] if why else p.returncode}", FAILED)
        lines = [x for x in map(journal.parse_line, p.stdout.decode("utf-8", "replace")
                                .splitlines()) if x is not None]
        if not a["follow"]:
            return {"unit": unit, "lines": lines}
        proc = self._start_follow(rid, unit)
        # the answer goes out only once a cancel for this rid is registered: a client
        # that cancels right after the answer must find it
        self.respond(rid, {"unit": unit, "lines": lines})
        self._follow(rid, unit, *proc)
        return _ALREADY

    def _start_follow(self, rid: Any, unit: str) -> tuple[subprocess.Popen[bytes],
                                                          threading.Event]:
        from bailey import journal

        proc = subprocess.Popen(journal.journal_argv(unit, 0, True), stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self.children.add(proc)
        cancelled = threading.Event()

        def cancel() -> None:
            cancelled.set()
            _kill(proc)

        self.cancels[rid] = cancel
        return proc, cancelled

    def _follow(self, rid: Any, unit: str, proc: subprocess.Popen[bytes],
                cancelled: threading.Event) -> None:
        from bailey import journal

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
            # the stream's last line: nothing with this sub follows it
            self.emit({"event": "end", "sub": rid, "unit": unit,
                       "reason": END_CANCELLED if cancelled.is_set() else END_ENDED})

    def op_subscribe(self, rid: Any, a: dict[str, Any]) -> Any:
        from bailey.watch import Watcher

        w = Watcher(self, rid, float(a["stats_interval"]), float(a["safety_poll"]))
        self.cancels[rid] = w.stop
        w.start()
        return _ALREADY

    def op_cancel(self, rid: Any, a: dict[str, Any]) -> dict[str, Any]:
        cancel = self.cancels.pop(a["sub"], None)
        if cancel is not None:
            cancel()
        return {"cancelled": cancel is not None}


_ALREADY = object()  # the op answered by itself (follow, subscribe)
KEEP = 60.0  # seconds the watch of systemd outlives the last watched status
_SD = ("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager")
_RULE = "type='signal',sender='org.freedesktop.systemd1',"
RULES = [_RULE + "path_namespace='/org/freedesktop/systemd1/unit',member='PropertiesChanged'"] \
    + [_RULE + f"path='/org/freedesktop/systemd1',member='{m}'" for m in ("Reloading",
                                                                             "UnitFilesChanged")]
# a call systemd itself answers (sd-bus, in order with its signals), at no cost to it
_PING: tuple[str, str, str, str, list] = ("/org/freedesktop/systemd1",
                                          "org.freedesktop.DBus.Peer", "Ping",
                                          "org.freedesktop.systemd1", [])


class Watched:
    """The circus units of a ``status`` with ``watched``, kept while nothing says they
    changed, so that a warm overview spares systemd its costly asks (a GetAll per unit,
    the unit-file list).

    Each request first sends, in one write, a Ping and each running unit's
    MemoryCurrent: systemd answers them after the signals of all it did before, so a
    signal read on the way (a kept unit's properties, a reload, enable or disable)
    means the units are read again in full; so does a word from the inotify watch of
    the folders systemd reads unit files from (a file added, removed or changed, even
    with no daemon-reload), one of those folders replaced, or a changed unit file.
    Without inotify the unit-file list is asked instead of the Ping and compared.  Any
    fault: read in full, watch anew.  KEEP seconds after the last request the watch
    ends (docs/bailey-serve.md, watched status).
    """

    def __init__(self, options: Options) -> None:
        self.options = options
        self.lock = threading.Lock()
        self.bus: Any = None
        self.units: list = []
        self.files: dict[str, Any] = {}  # unit -> its file's (mtime, size, inode) when read
        self.timer: threading.Timer | None = None
        self.used = 0.0  # monotonic time of the last request
        self.folders: dict[str, Any] = {}  # systemd's unit path -> (dev, inode) when watched
        self.inotify: Any = None

    def drop(self) -> None:
        with self.lock:
            self.timer = None
            left = self.used + KEEP - time.monotonic()
            if left > 0:  # used since the timer was set: wait the rest of KEEP
                self._arm(left)
            else:
                self._close()

    def _arm(self, delay: float) -> None:
        self.timer = threading.Timer(delay, self.drop)
        self.timer.daemon = True
        self.timer.start()

    def _close(self) -> None:
        if self.bus is not None:
            self.bus.close()
        if self.inotify is not None:
            self.inotify.close()
        self.bus = self.inotify = None

    def get(self) -> list:
        from bailey.units import list_units

        o = self.options
        with self.lock:
            self.used = time.monotonic()
            if self.timer is None:  # one timer per KEEP, not one per request
                self._arm(KEEP)
            try:
                if o.systemctl == "systemctl" and not os.environ.get("BAILEY_NO_DBUS"):
                    return self._get()
            except Exception:  # the bus broke or stalled: ask afresh, watch anew
                self._close()
            return list_units(o.units, o.systemctl)

    def _subscribe(self) -> None:
        """Open the bus, hear systemd's signals, and watch the folders of its unit path."""
        from bailey import sdbus
        from bailey.inotify import open_watch

        self.bus = sdbus.Bus(min(self.options.timeout, 5.0))
        asked = self.bus.calls([("/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch",
                                 "org.freedesktop.DBus", [("s", r)]) for r in RULES]
                               + [(*_SD, "Subscribe", sdbus.SYSTEMD, []),
                                  ("/org/freedesktop/systemd1", "org.freedesktop.DBus"
                                   ".Properties", "Get", sdbus.SYSTEMD,
                                   [("s", _SD[1]), ("s", "UnitPath")])])
        if not all(ok for ok, _ in asked):
            raise sdbus.DBusError("systemd's signals not subscribed")
        paths = asked[-1][1]
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise sdbus.DBusError("systemd's UnitPath is not a list of folders")
        self.folders = {p: _ident(p) for p in paths}
        self.inotify = open_watch(paths, every=True)  # None: the unit-file list instead

    def _get(self) -> list:
        from bailey import sdbus
        from bailey.units import list_units, memory_bytes

        fresh = self.bus is None
        if fresh:
            self._subscribe()
        old = self.units
        live = [u for u in old if u.active_state not in ("inactive", "failed")]
        watch = self.inotify
        barrier = _PING if watch is not None else (
            *_SD, "ListUnitFilesByPatterns", sdbus.SYSTEMD, [("as", []),
                                                             ("as", [self.options.units])])
        (ok, listed), *mem = self.bus.calls(
            [barrier] + [(sdbus.unit_path(u.name), "org.freedesktop.DBus.Properties", "Get",
                          sdbus.SYSTEMD, [("s", sdbus.SERVICE_IFACE), ("s", "MemoryCurrent")])
                         for u in live])
        if not ok:
            raise sdbus.DBusError(str(listed))
        if watch is not None:  # after the answers: the later the look, the safer
            moved = watch.wait(0) or any(_ident(p) != i for p, i in self.folders.items())
        else:
            if not isinstance(listed, list):
                raise sdbus.DBusError(str(listed))
            moved = sorted({n for n in (os.path.basename(p) for p, _ in listed)
                            if "." in n and not n.endswith("@.service")}  # as list_units
                           ) != [u.name for u in old]
        seen, self.bus.signals = self.bus.signals, []
        kept = {sdbus.unit_path(u.name) for u in old}
        if fresh or moved or not all(m[0] for m in mem) or any(
                m != "PropertiesChanged" or p in kept for p, m in seen) or any(
                _stat(u.fragment_path) != self.files.get(u.name) for u in old):
            self.units = []  # a failure on the way leaves nothing to trust
            if watch is not None and not fresh:
                self._rewatch()
            units = list_units(self.options.units)
            self.files = {u.name: _stat(u.fragment_path) for u in units}
            self.units = units
        else:
            for u, (_ok, v) in zip(live, mem, strict=True):
                u.memory_current = memory_bytes(str(v))
        return list(self.units)

    def _rewatch(self) -> None:
        """Watch again a unit folder made, replaced or mounted over since it was watched."""
        for path, was in self.folders.items():
            now = _ident(path)
            if now != was:
                self.folders[path] = now
                if now is not None and not self.inotify.add(path):
                    raise OSError(f"cannot watch {path}")  # read in full, watch anew


def _ident(path: str) -> tuple[int, int] | None:
    """Which folder ``path`` is now: (device, inode), None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def _kill(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        p.wait(timeout=2)


def run_server(options: Options) -> int:
    """The ``bailey --serve`` entry point."""
    server = Server(options)
    return server.serve(sys.stdin.buffer)


__all__ = ["OPS", "PROTOCOL", "RequestError", "Server", "run_server"]
