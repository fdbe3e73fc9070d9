"""The warm session's process: ``python -m barnum.warm.server SOCKET PERSIST -- ARGV``.

Started detached by the first cold call (``barnum.warm.client``), one per key.
It takes the lock beside the socket (two first calls at once start one
session), opens a FleetSession over every allowed host with the first call's
options, records history as ``barnum web`` does, binds the socket (0600, in a
0700 folder, bound under a temporary name and renamed into place), serves the
same user only (SO_PEERCRED), and exits after PERSIST seconds without a call,
when its users file, ssh_config or bailey command changes, or on ``barnum
session stop``.  Closing the session ends every ``bailey --serve``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from barnum.warm import protocol, shared
from barnum.warm.paths import alive, check_private, ensure_dir, key_of

LOCK_WAIT = 30.0  # a retiring session may take this long to close its hosts
TICK = 1.0


def take_lock(path: Path, wait: float = LOCK_WAIT) -> Any:
    """The lock file, held (flock) until this process exits; None if not had in time."""
    f = open(path, "a")  # noqa: SIM115 - held for the process's life
    os.chmod(path, 0o600)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return f
        except BlockingIOError:
            if time.monotonic() >= deadline:
                f.close()
                return None
            time.sleep(0.1)


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Server:
    def __init__(self, path: Path, persist: float, argv: list[str]) -> None:
        self.path = path
        self.persist = persist
        self.argv = argv
        self.started = time.time()
        self.last = time.monotonic()
        self.served = 0
        self.clients = 0
        self.count_lock = threading.Lock()
        self.stop = threading.Event()
        self.retire_why: str | None = None
        self.ino: int | None = None
        self.runner: Any = None
        self.session: Any = None
        self.recorder: Any = None

    # -- life ------------------------------------------------------------------------

    def open(self) -> bool:
        """Read the users file as the first call did, open the session; False: nothing to
        keep warm (persist 0, no hosts)."""
        from barnum.cli.parser import parse_argv
        from barnum.context import Err, load_context
        from barnum.live.session import FleetSession
        from barnum.warm.runner import Runner

        args = parse_argv(self.argv)
        args.targets, args.explicit_targets = [], []
        err = Err(sys.stderr)
        ctx = load_context(args, err)
        if args.persist is None and ctx.config.persist is not None:
            self.persist = ctx.config.persist
        if self.persist <= 0 or not ctx.discovery.hosts:
            return False
        self.key = (args.config, args.ssh_config, args.bailey)
        self.session = FleetSession(ctx.config, ctx.options, [], ctx.discovery,
                                    log=lambda m: err(f"warning: {m}")).open()
        self.runner = Runner(self.session, ctx.options)
        self.runner.install()
        self._record(ctx)
        return True

    def _record(self, ctx: Any) -> None:
        """History, as barnum web keeps it, when the users file has it on."""
        from barnum.history.recorder import Recorder
        from barnum.history.store import open_store

        store = open_store(ctx.config.history, ctx.err)
        if store is not None:
            self.recorder = Recorder(self.session, store).start()

    def bind(self) -> socket.socket:
        tmp = self.path.with_name(f".t{os.getpid()}")  # short: sun_path holds 108 bytes
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            s.bind(str(tmp))
        finally:
            os.umask(old)
        os.chmod(tmp, 0o600)
        s.listen(16)
        os.rename(tmp, self.path)
        self.ino = os.lstat(self.path).st_ino
        s.settimeout(TICK)
        return s

    def close(self) -> None:
        """Remove the socket (if still ours), close the session: nothing stays on a host."""
        with contextlib.suppress(OSError):
            if self.ino is not None and os.lstat(self.path).st_ino == self.ino:
                self.path.unlink()
        if self.recorder is not None:
            with contextlib.suppress(Exception):
                self.recorder.close()
            with contextlib.suppress(Exception):
                self.recorder.store.close()
        if self.session is not None:
            self.session.close()

    def retire(self, why: str) -> None:
        """Stop taking calls now (the socket goes first), then close."""
        self.retire_why = why
        with contextlib.suppress(OSError):
            if self.ino is not None and os.lstat(self.path).st_ino == self.ino:
                self.path.unlink()
        self.stop.set()

    def loop(self, listener: socket.socket) -> None:
        user_key = self.path.name[2:-5]
        checked = time.monotonic()
        while not self.stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                conn = None
            now = time.monotonic()
            if conn is not None:
                self.last = now
                threading.Thread(target=self.handle, args=(conn,), daemon=True).start()
                continue
            if self.clients == 0 and now - self.last >= self.persist:
                self.retire("idle")
            elif now - checked >= 2 * TICK:
                checked = now
                if key_of(_users_file(self.key[0]), self.key[1], self.key[2]) != user_key:
                    self.retire("the users file changed")

    # -- one connection --------------------------------------------------------------

    def handle(self, conn: socket.socket) -> None:
        with self.count_lock:
            self.clients += 1
        try:
            with conn:
                if not protocol.peer_allowed(conn):
                    with contextlib.suppress(OSError):
                        protocol.send(conn, {"error": "refused: not the session's user"})
                    return
                conn.settimeout(30.0)
                req = protocol.recv(conn)
                conn.settimeout(None)
                if req.get("op") == "attach" and self._attachable(req) is None:
                    shared.stream(conn, self.session, self.stop.is_set)
                    return
                sender = _Sender(conn)
                with _watch_leaving(conn, sender.left):
                    answer = self.answer(req, sender)
                protocol.send(conn, answer)
        except (OSError, protocol.ProtocolError):
            pass
        finally:
            with self.count_lock:
                self.clients -= 1
            self.last = time.monotonic()

    def _attachable(self, req: dict[str, Any]) -> str | None:
        """Why a front end may not attach (another fleet, other options), or None."""
        if req.get("v") != protocol.VERSION:
            return "another barnum version"
        if self.stop.is_set():
            return "the session is closing"
        if req.get("ident") != shared.ident_text(self.runner.ident):
            return "the ssh_config, bailey command or connection options differ"
        hosts = req.get("hosts")
        if not isinstance(hosts, list) or not set(hosts) <= set(self.session.hosts):
            return "hosts the session does not hold"
        return None

    def answer(self, req: dict[str, Any], sender: Any = None) -> dict[str, Any]:
        op = req.get("op")
        if req.get("v") != protocol.VERSION:
            return {"cold": "another barnum version"}
        if op == "status":
            return {"status": self.status()}
        if op == "stop":
            self.retire("stopped")
            return {"stopped": True}
        if op == "attach":
            return {"cold": self._attachable(req) or "not served"}
        if self.stop.is_set():
            return {"cold": "not served"}
        if op == "call":
            return shared.call(self.session, req)
        if op not in ("run", "complete"):
            return {"cold": "not served"}
        try:
            out = self.runner.serve(req, sender.chunk if sender is not None else None,
                                    sender.left if sender is not None else None)
        except Exception as e:  # a bug answers cold, never wrong
            return {"cold": f"internal error: {type(e).__name__}: {e}"}
        with self.count_lock:
            self.served += 1
        if out.get("retire"):
            self.retire(out["cold"])
        if "chunks" in out:
            out["chunks"] = [[fd, protocol.pack(b)] for fd, b in out["chunks"]]
        return out

    def status(self) -> dict[str, Any]:
        states = self.session.host_states()
        return {"pid": os.getpid(), "socket": str(self.path), "started": self.started,
                "age": time.time() - self.started, "persist": self.persist,
                "idle": time.monotonic() - self.last, "rss": rss_bytes(),
                "threads": threading.active_count(), "served": self.served,
                "clients": self.clients - 1,  # not counting the one asking
                "history": self.recorder is not None,
                "hosts": {h: st.state for h, st in states.items()}}


class _Sender:
    """A call's output to its client as it is written (``{"chunk": [fd, base64]}``); a
    client that left gets nothing more, and the call runs to its end."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.gone = False
        self.left = threading.Event()  # the client closed its end (Ctrl-C, killed)

    def chunk(self, fd: int, data: bytes) -> None:
        if self.gone:
            return
        try:
            protocol.send(self.conn, {"chunk": [fd, protocol.pack(data)]})
        except OSError:
            self.gone = True


@contextlib.contextmanager
def _watch_leaving(conn: socket.socket, left: threading.Event) -> Any:
    """While a call runs, ``left`` is set if the client closes its end (it sends nothing
    after its request, so the socket turning readable means it is gone)."""
    done = threading.Event()

    def watch() -> None:
        import select

        while not done.is_set():
            try:
                ready, _, _ = select.select([conn], [], [], TICK)
                if ready and not conn.recv(1, socket.MSG_PEEK):
                    left.set()
                    return
                if ready:  # bytes the protocol has no place for: not a leaving
                    done.wait(TICK)
            except (OSError, ValueError):
                left.set()
                return

    t = threading.Thread(target=watch, daemon=True, name="warm-leaving")
    t.start()
    try:
        yield
    finally:
        done.set()


def _users_file(explicit: str | None) -> str | None:
    from barnum.warm.paths import find_users_file

    return find_users_file(explicit)


def main(argv: list[str]) -> int:
    path, persist, rest = Path(argv[0]), float(argv[1]), argv[3:]
    os.environ["BARNUM_NO_PRECONNECT"] = "1"  # the one-shot fallback needs no early TCP
    ensure_dir(str(path.parent))
    lock = take_lock(path.with_suffix(".lock"))
    if lock is None or alive(path):
        return 0  # another session holds this key
    if path.exists() or path.is_symlink():
        check_private(path, "socket")  # a stale one of our own: replaced
        path.unlink()
    srv = Server(path, persist, rest)
    try:
        if not srv.open():
            return 0
        listener = srv.bind()
        sys.stderr.write(f"barnum session {os.getpid()}: serving {len(srv.session.hosts)} "
                         f"hosts on {path}\n")
        sys.stderr.flush()
        srv.loop(listener)
        listener.close()
    finally:
        srv.close()
        sys.stderr.write(f"barnum session {os.getpid()}: closed ({srv.retire_why})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
