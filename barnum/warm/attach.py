"""``barnum watch`` and ``barnum shell`` attached to the warm session.

:class:`Attached` stands in for a :class:`~barnum.live.session.FleetSession`
(the part of its API the two front ends use: host states, snapshot, events,
refresh, circusctl, stats, logs), so their code is the same attached or not.
It keeps a copy of every host's state from the session's stream
(barnum.warm.shared) and sends each request to the session, so attaching costs
a Unix socket connect instead of an SSH connect to every host.  When the
session ends, every host reads down ("the warm session closed") and each
subscription gets its ``end`` event: an old state is never shown as current.

:func:`attach` returns None whenever the session cannot be used (persistence
off, no session for this users file, other connection options, ``--verbose``):
the front end then opens its own session, as it always did.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from typing import Any

from barnum import EXIT_USAGE, BarnumError
from barnum.context import Context
from barnum.live.errors import SessionError
from barnum.live.session import FleetView, HostState, SessionEvent, Subscription
from barnum.model.hostsort import natural_sorted
from barnum.model.linkstate import LinkState
from barnum.model.results import FleetResult, HostResult
from barnum.model.targets import Selection, resolve
from barnum.warm import protocol
from barnum.warm.paths import (
    DEFAULT_PERSIST,
    ENV_PERSIST,
    WarmError,
    Where,
    check_private,
    find_users_file,
    key_of,
    runtime_dir,
    where,
)
from barnum.warm.shared import error_of, event_of, ident_text, result_of, state_of

ENDED = "the warm session closed"


class Gone(SessionError):
    """The warm session is no longer there: every host it served reads down."""
CALL_SLACK = 30.0  # seconds past a call's own timeout before the client gives up on it
SILENCE = 15.0  # seconds without a message (ticks come every second): the session is gone


def socket_for(ctx: Context) -> str | None:
    """The session's socket for this context, or None when persistence is off."""
    found = session_for(ctx)
    return None if found is None else found[0].socket


def session_for(ctx: Context) -> tuple[Where, float] | None:
    """The session's files and idle life for this context; None: persistence is off."""
    from barnum.text.duration import parse_duration

    args = ctx.args
    persist = getattr(args, "persist", None)
    if persist is None and os.environ.get(ENV_PERSIST):
        try:
            persist = parse_duration(os.environ[ENV_PERSIST])
        except ValueError:
            return None
    if persist is None:
        persist = ctx.config.persist
    if persist is None:
        persist = DEFAULT_PERSIST
    if persist <= 0:
        return None
    users = find_users_file(args.config)
    if users is None:
        return None
    return where(key_of(users, args.ssh_config, args.bailey), runtime_dir()), persist


def _connect(path: str, timeout: float | None = 5.0) -> socket.socket | None:
    """A connection to the session (its user checked), or None: none listens."""
    try:
        check_private(os.path.dirname(os.fspath(path)), "dir")
        check_private(path, "socket")
    except FileNotFoundError:
        return None
    except WarmError as e:
        raise BarnumError(f"warm session: {e} (or run with --no-persist)", EXIT_USAGE) from None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except OSError:
        s.close()
        return None
    if not protocol.peer_allowed(s):
        s.close()
        raise BarnumError(f"warm session: {path} is served by another user; refusing it "
                          "(or run with --no-persist)", EXIT_USAGE)
    return s


def attach(ctx: Context, targets: list[str] | None) -> Attached | None:
    """The warm session over ``targets`` (None: every allowed host), or None: open one."""
    from barnum.warm.runner import identity

    if ctx.args.verbose or ctx.args.debug:
        return None  # each layer's lines are the session's own: they need one here
    path = socket_for(ctx)
    if path is None:
        return None
    conn = _connect(path)
    if conn is None:
        return None
    req = protocol.request([], "attach")
    req["ident"] = ident_text(identity(ctx.options))
    req["hosts"] = natural_sorted(ctx.discovery.hosts)
    try:
        protocol.send(conn, req)
        first = protocol.recv(conn)
    except (OSError, protocol.ProtocolError):
        conn.close()
        return None
    if not isinstance(first.get("states"), dict):
        conn.close()
        return None  # {"cold": why}: another fleet or options; a session of our own
    a = Attached(ctx, targets, path, conn, first["states"])
    a.start()
    return a


class Attached(FleetView):
    """A FleetSession's face on the warm session (see the module's docstring)."""

    def __init__(self, ctx: Context, targets: list[str] | None, path: str,
                 conn: socket.socket, states: dict[str, Any]) -> None:
        self.config = ctx.config
        self.options = ctx.options
        self.discovery = ctx.discovery
        self.chosen = resolve(list(targets or []), self.discovery.hosts, self.config.groups)
        self.hosts = natural_sorted(self.chosen)
        self.path = path
        self.attached = True
        self._conn = conn
        conn.settimeout(SILENCE)
        self._lock = threading.Lock()
        self._states: dict[str, HostState] = {}
        for h in self.hosts:  # a host the session does not hold reads as such
            doc = states.get(h)
            self._states[h] = state_of(doc) if isinstance(doc, dict) else HostState(
                h, LinkState.DOWN, "not in the warm session")
        self._subs: list[Subscription] = []
        self._ended = threading.Event()
        self._leaving = False
        self._reader = threading.Thread(target=self._read, daemon=True, name="warm-attach")

    def start(self) -> None:
        self._reader.start()

    # -- the stream ---------------------------------------------------------------------

    def _read(self) -> None:
        try:
            while True:
                msg = protocol.recv(self._conn)
                if "end" in msg:
                    break
                st, ev = msg.get("state"), msg.get("ev")
                if isinstance(st, dict):
                    new = state_of(st)
                    with self._lock:
                        if new.host in self._states:
                            self._states[new.host] = new
                if isinstance(ev, dict):
                    e = event_of(ev)
                    if e.host == "" or e.host in self.chosen:
                        self._publish(e)
        except (OSError, protocol.ProtocolError, ValueError, KeyError, TypeError):
            pass
        if self._leaving:
            self._end_quietly()
        else:
            self._end()

    def _end(self) -> None:
        """The session is gone: every host down, every subscription ended."""
        if self._ended.is_set():
            return
        self._ended.set()
        now = time.time()
        with self._lock:
            for h in self._states:
                self._states[h] = HostState(h, LinkState.DOWN, ENDED, since=now)
        for h in self.hosts:
            self._publish(SessionEvent("host", h, {"state": LinkState.DOWN, "error": ENDED}))
        with self._lock:
            subs, self._subs = list(self._subs), []
        for s in subs:
            s.close()

    def _publish(self, ev: SessionEvent) -> None:
        with self._lock:
            subs = list(self._subs)
        for s in subs:
            s.put(ev)

    def subscribe(self, kinds: set[str] | None = None) -> Subscription:
        sub = Subscription(None, kinds=kinds)
        with self._lock:
            if not self._ended.is_set():
                self._subs.append(sub)
                return sub
        sub.close()
        return sub

    def close(self) -> None:
        """Leave the session (it stays open for the next call)."""
        self._leaving = True
        with contextlib.suppress(OSError):
            self._conn.shutdown(socket.SHUT_RDWR)
        self._conn.close()
        if self._reader.is_alive():
            self._reader.join(timeout=3)
        self._end_quietly()

    def _end_quietly(self) -> None:
        self._ended.set()
        with self._lock:
            subs, self._subs = list(self._subs), []
        for s in subs:
            s.close()

    def __enter__(self) -> Attached:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- state, as FleetSession keeps it --------------------------------------------------

    def state_of(self, host: str) -> HostState:
        with self._lock:
            return self._states[host]

    # -- requests, answered by the session ------------------------------------------------

    def _call(self, method: str, timeout: float | None, **args: Any) -> Any:
        if self._ended.is_set():
            raise Gone(ENDED)
        wait = (timeout or self.options.timeout) + CALL_SLACK
        conn = _connect(self.path, wait)
        if conn is None:
            raise Gone(ENDED)
        try:
            with conn:
                req = protocol.request([], "call")
                req.update(method=method, args={**args, "timeout": timeout})
                protocol.send(conn, req)
                answer = protocol.recv(conn)
        except (OSError, protocol.ProtocolError):
            raise Gone(ENDED) from None
        if "raise" in answer:
            raise error_of(answer)
        if "value" not in answer:
            raise Gone(ENDED)
        return answer["value"]

    def _where(self, targets: list[str] | Selection | None) -> dict[str, list[str]]:
        return self.resolve(targets) if targets else dict(self.chosen)

    def refresh(self, targets: list[str] | Selection | None = None,
                timeout: float | None = None) -> FleetResult:
        return self._failed_hosts(lambda w: result_of(
            self._call("refresh", timeout, targets=w)), targets, ["status"])

    def circusctl(self, args: list[str], targets: list[str] | Selection | None = None,
                  timeout: float | None = None) -> FleetResult:
        return self._failed_hosts(lambda w: result_of(
            self._call("circusctl", timeout, argv=list(args), targets=w)), targets, list(args))

    def _failed_hosts(self, ask: Any, targets: Any, argv: list[str]) -> FleetResult:
        """The session's answer; if the session is gone, each host failed with that."""
        where = self._where(targets)
        try:
            return ask(where)
        except Gone:
            out = []
            for h in natural_sorted(where):
                r = HostResult(h, where[h], argv)
                r.error = ENDED
                out.append(r)
            return FleetResult(out, groups=self.groups())

    def stats(self, targets: list[str] | Selection | None = None,
              timeout: float | None = None) -> dict[str, dict | str]:
        where = self._where(targets)
        try:
            return dict(self._call("stats", timeout, targets=where))
        except Gone:
            return dict.fromkeys(where, ENDED)

    def logs(self, unit: str, host: str, n: int = 50, since: float | None = None
             ) -> list[dict]:
        return list(self._call("logs", None, unit=unit, host=host, n=n, since=since))

