"""The live fleet session: one SSH connection and one ``bailey --serve`` per host.

    from barnum.session import FleetSession
    with FleetSession(config, options, targets=["host1"]) as s:
        s.snapshot()                      # FleetResult, renderable by barnum.render
        s.circusctl(["stop", "ticker"])   # per instance, through the open channels
        sub = s.subscribe()               # SessionEvent stream: circus, unit, host...

Each host has a thread (:class:`_Link`) that connects with the same
host-key policy, timeouts and shipping as the one-shot CLI, starts
``bailey --serve``, subscribes, and keeps the host's report current from
pushed events.  It pings at the application level (every PING_EVERY, or
half the timeout if shorter): a host silent for ``--timeout`` is "stale",
for twice that "down" (a half-open TCP connection is noticed, unlike
Multivisor's); a lost channel is retried with backoff.
Lines are checked for order (seq) and restarts (epoch); either triggers a
fresh snapshot.  close() closes every channel: bailey sees EOF and exits,
so nothing stays on a host.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bailey.report import Report
from barnum.config import Config
from barnum.discovery import Discovery, discover
from barnum.fleet import FleetResult, HostResult, Options
from barnum.hostsort import natural_sorted
from barnum.remote import remote_command, shipped_argv
from barnum.sanitize import clean
from barnum.sessionstate import LineBuffer, LineTooLong, SeqCheck, apply_event, parse_line
from barnum.targets import Selection, exact, group_members, resolve
from barnum.validate import DocumentError, report_from_document

PING_EVERY = 5.0
BACKOFF = (1, 2, 4, 8, 10)
MAX_LINE = 16 * 1024 * 1024
QUEUE_MAX = 10000


@dataclass
class HostState:
    """What the session knows of one host now (a copy: safe to keep)."""

    host: str
    state: str = "connecting"  # connecting | up | stale | down | closed
    error: str | None = None
    report: Report | None = None
    stats: dict | None = None
    last_seen: float | None = None
    since: float = field(default_factory=time.time)
    epoch: str | None = None


@dataclass
class SessionEvent:
    """One thing that happened: ``kind`` is host, unit, circus, instance, resync,
    stats, log, gap or restart; ``data`` the protocol event's fields."""

    kind: str
    host: str
    data: dict[str, Any]
    t: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "host": self.host, "t": round(self.t, 3), **{
            k: v for k, v in self.data.items() if k not in ("seq", "epoch", "sub")}}


class Subscription:
    """A bounded, thread-safe queue of events: the oldest are dropped (and counted)."""

    def __init__(self, session: FleetSession | None, maxlen: int = QUEUE_MAX,
                 kinds: set[str] | None = None) -> None:
        self._q: collections.deque[SessionEvent] = collections.deque()
        self._cond = threading.Condition()
        self._session = session
        self.maxlen = maxlen
        self.kinds = kinds
        self.dropped = 0
        self.closed = False

    def put(self, ev: SessionEvent) -> None:
        if self.kinds is not None and ev.kind not in self.kinds:
            return
        with self._cond:
            if len(self._q) >= self.maxlen:
                self._q.popleft()
                self.dropped += 1
            self._q.append(ev)
            self._cond.notify()

    def get(self, timeout: float | None = None) -> SessionEvent | None:
        with self._cond:
            if not self._q and not self.closed:
                self._cond.wait(timeout)
            return self._q.popleft() if self._q else None

    def __iter__(self) -> Iterator[SessionEvent]:
        while True:
            ev = self.get(1.0)
            if ev is not None:
                yield ev
            elif self.closed:
                return

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
        if self._session is not None:
            self._session._unsubscribe(self)


class _Pending:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply: dict[str, Any] | None = None


class _Link(threading.Thread):
    """One host's connection, reader and reconnect loop."""

    def __init__(self, session: FleetSession, host: str) -> None:
        super().__init__(daemon=True, name=f"link-{host}")
        self.s = session
        self.host = host
        self.state = HostState(host)
        self.lock = threading.Lock()
        self.send_lock = threading.Lock()
        self.chan = None
        self.conn = None
        self.pending: dict[int, _Pending] = {}
        self.ids = itertools.count(1)
        self.seq = SeqCheck()
        self.sub_id: int | None = None
        self.ready = threading.Event()  # first attempt finished (up or failed)
        self.wake = threading.Event()

    # -- state ----------------------------------------------------------------------------

    def set_state(self, state: str, error: str | None = None) -> None:
        with self.lock:
            if self.state.state == state and self.state.error == error:
                return
            self.state.state, self.state.error = state, clean(error) if error else None
            self.state.since = time.time()
        self.s._publish(SessionEvent("host", self.host, {"state": state, "error":
                                                         self.state.error}))

    def copy(self) -> HostState:
        with self.lock:
            return replace(self.state)

    # -- requests -------------------------------------------------------------------------

    def request(self, op: str, timeout: float, **args: Any) -> dict[str, Any]:
        """Send one request and wait for its response; raises RuntimeError (one line)."""
        return self.request_kept(op, timeout, **args)[1]

    def request_kept(self, op: str, timeout: float, **args: Any,
                     ) -> tuple[tuple[Any, int], dict[str, Any]]:
        """As request, also giving (connection, id): what a later ``cancel`` names, and
        on which connection the request lives (a reconnect ends it)."""
        chan = self.chan
        if chan is None or self.copy().state not in ("up", "stale"):
            raise RuntimeError(self.copy().error or f"not connected ({self.copy().state})")
        rid = next(self.ids)
        return (chan, rid), self._request(chan, rid, op, timeout, args)

    def _request(self, chan: Any, rid: int, op: str, timeout: float,
                 args: dict[str, Any]) -> dict[str, Any]:
        p = _Pending()
        self.pending[rid] = p
        try:
            data = json.dumps({"id": rid, "op": op, **args}).encode() + b"\n"
            with self.send_lock:
                chan.sendall(data)
            if not p.done.wait(timeout):
                raise RuntimeError(f"no answer within {timeout:g}s")
        except OSError as e:
            raise RuntimeError(f"connection lost: {e}") from None
        finally:
            self.pending.pop(rid, None)
        reply = p.reply or {}
        if not reply.get("ok"):
            raise RuntimeError(f"bailey: {clean(reply.get('error') or 'no answer')}")
        return reply.get("result")

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        attempt = 0
        while not self.s.closing.is_set():
            try:
                self._connect()
                attempt = 0
                self._read_loop()
            except Exception as e:
                self._fail(e)
            finally:
                self._drop()
                self.ready.set()
            if self.s.closing.is_set():
                break
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            attempt += 1
            self.wake.wait(delay)
            self.wake.clear()
        self.set_state("closed")

    def _fail(self, e: Exception) -> None:
        from barnum import ssh

        if isinstance(e, _LinkError):
            msg = str(e)
        else:
            msg = ssh.classify(e, self.conn, self.s.options.timeout)
        if not self.s.closing.is_set():
            self.set_state("down", msg)

    def _connect(self) -> None:
        from barnum import ssh

        o = self.s.options
        self.set_state("connecting", self.state.error)
        conn = ssh.make_connection(self.host, self.s.fab_config, o.timeout,
                                   o.host_key_policy, self.s._warn)
        self.conn = conn
        ssh.open_connection(conn)
        argv = self.s.argv()
        for shipped in ((False, True) if not o.ship else (True,)):
            cmd = shipped_argv(argv[len(self.s.bailey_cmd):]) if shipped else argv
            chan = conn.transport.open_session(timeout=o.timeout)
            chan.exec_command(remote_command(cmd))
            first = self._first_line(chan, o.timeout)
            if first is not None:
                break
            chan.status_event.wait(o.timeout)  # the exit status may trail the EOF
            status = chan.exit_status if chan.exit_status_ready() else None
            chan.close()
            if status not in (126, 127) or shipped or not o.auto_ship:
                raise _LinkError(f"bailey --serve did not start (exit {status})")
        self.chan = chan
        self._hello(first)
        rid = next(self.ids)
        self.sub_id = rid
        chan.sendall(json.dumps({"id": rid, "op": "subscribe"}).encode() + b"\n")

    def _first_line(self, chan, timeout: float) -> dict[str, Any] | None:
        """bailey's hello, or None when the command ended without one."""
        self.buf = LineBuffer(MAX_LINE)
        self.backlog: list[bytes] = []
        chan.settimeout(timeout)
        while True:
            try:
                data = chan.recv(65536)
            except TimeoutError:
                raise _LinkError(f"bailey --serve said nothing within {timeout:g}s") from None
            if not data:
                return None
            lines = self.buf.feed(data)
            if lines:
                self.backlog = lines[1:]
                return parse_line(lines[0])

    def _hello(self, hello: dict[str, Any]) -> None:
        if hello.get("event") != "hello" or hello.get("protocol") != "bailey-serve/1":
            raise _LinkError("not a bailey-serve/1 hello: " + clean(str(hello)[:80]))
        self.seq = SeqCheck()
        self.seq.check(hello.get("epoch"), hello.get("seq"))
        with self.lock:
            self.state.epoch = clean(hello.get("epoch"))
            self.state.last_seen = time.time()

    def _read_loop(self) -> None:
        chan = self.chan
        chan.settimeout(1.0)
        last_ping = time.monotonic()
        for raw in self.backlog:
            self._line(raw)
        while not self.s.closing.is_set():
            try:
                data = chan.recv(65536)
                if not data:
                    raise _LinkError("connection closed (bailey --serve ended)")
                for raw in self.buf.feed(data):
                    self._line(raw)
            except TimeoutError:
                pass
            except LineTooLong as e:
                raise _LinkError(str(e)) from None
            now = time.monotonic()
            if now - last_ping >= min(PING_EVERY, self.s.options.timeout / 2):
                last_ping = now
                with self.send_lock:
                    chan.sendall(b'{"id":0,"op":"ping"}\n')
            silent = time.time() - (self.copy().last_seen or time.time())
            if silent > 2 * self.s.options.timeout:
                raise _LinkError(f"no answer for {silent:.0f}s (connection half-open?)")
            if silent > self.s.options.timeout:
                self.set_state("stale", f"last heard {silent:.0f}s ago")

    def _line(self, raw: bytes) -> None:
        try:
            msg = parse_line(raw)
        except ValueError:
            raise _LinkError("bailey sent a line that is not JSON") from None
        with self.lock:
            self.state.last_seen = time.time()
        if self.copy().state in ("stale", "connecting"):
            self.set_state("up")
        order = self.seq.check(msg.get("epoch"), msg.get("seq"))
        if order in ("gap", "restart"):
            self.s._publish(SessionEvent(order, self.host, {}))
            threading.Thread(target=self.s._refresh_host, args=(self,), daemon=True).start()
        if "id" in msg:
            if msg["id"] == self.sub_id and msg.get("ok"):
                self._snapshot(msg.get("result", {}).get("snapshot"))
                return
            p = self.pending.get(msg["id"]) if isinstance(msg["id"], int) else None
            if p is not None:
                p.reply = msg
                p.done.set()
            elif msg["id"] == self.sub_id:
                raise _LinkError(f"subscribe refused: {msg.get('error')}")
            return
        kind = msg.get("event")
        if not isinstance(kind, str):
            return
        if kind == "stats":
            with self.lock:
                self.state.stats = msg.get("result")
        elif kind != "log":
            with self.lock:
                new = apply_event(self.state.report, msg, self.host)
                if new is not None:
                    self.state.report = new
            if new is None and kind in ("unit", "circus"):
                threading.Thread(target=self.s._refresh_host, args=(self,), daemon=True).start()
        self.s._publish(SessionEvent(kind, self.host, _clean_event(msg)))

    def _snapshot(self, doc: object) -> None:
        try:
            rep = report_from_document(doc, self.host)
        except DocumentError as e:
            raise _LinkError(f"bailey sent an invalid snapshot: {e}") from None
        with self.lock:
            self.state.report = rep
        self.set_state("up")
        self.ready.set()
        self.s._publish(SessionEvent("resync", self.host, {}))

    def _drop(self) -> None:
        chan, conn = self.chan, self.conn
        self.chan = self.conn = None
        for p in list(self.pending.values()):
            p.reply = {"ok": False, "error": "connection lost"}
            p.done.set()
        for c in (chan, conn):
            if c is not None:
                with contextlib.suppress(Exception):
                    c.close()


class _LinkError(Exception):
    """A host-level problem already worded for the operator."""


def _clean_event(msg: dict[str, Any]) -> dict[str, Any]:
    """An event's fields with every string cleaned (nested ones too)."""
    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return clean(v)
        if isinstance(v, dict):
            return {clean(k): walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v
    return walk(msg)


class FleetSession:
    """The fleet, live: see the module's docstring."""

    def __init__(self, config: Config, options: Options, targets: list[str] | None = None,
                 discovery: Discovery | None = None, log: Any = None) -> None:
        import shlex

        self.config = config
        self.options = options
        self.discovery = discovery or discover(config.users, config.config_template)
        self.chosen = resolve(list(targets or []), self.discovery.hosts, config.groups)
        self.hosts = natural_sorted(self.chosen)
        self.log = log or (lambda _m: None)
        self.closing = threading.Event()
        self.bailey_cmd = shlex.split(options.bailey)
        self.links = {h: _Link(self, h) for h in self.hosts}
        self._subs: list[Subscription] = []
        self._subs_lock = threading.Lock()
        self.fab_config = None

    def argv(self) -> list[str]:
        """``bailey --serve`` with the users file's config_template."""
        extra = ["--serve"]
        if self.options.config_template:
            extra += ["--config-template", self.options.config_template]
        return [*self.bailey_cmd, *extra]

    # -- life cycle -----------------------------------------------------------------------

    def open(self, wait: bool = True) -> FleetSession:
        from barnum import ssh

        self.fab_config = ssh.fabric_config(self.options.ssh_config)
        for link in self.links.values():
            link.start()
        if wait:
            deadline = time.monotonic() + self.options.timeout + 2
            for link in self.links.values():
                link.ready.wait(max(0.0, deadline - time.monotonic()))
        return self

    def close(self) -> None:
        self.closing.set()
        for link in self.links.values():
            link.wake.set()
            link._drop()
        for link in self.links.values():
            if link.is_alive():
                link.join(timeout=3)
        with self._subs_lock:
            subs = list(self._subs)
        for sub in subs:
            sub.close()

    def __enter__(self) -> FleetSession:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- state ----------------------------------------------------------------------------

    def host_states(self) -> dict[str, HostState]:
        return {h: self.links[h].copy() for h in self.hosts}

    def snapshot(self, targets: list[str] | None = None) -> FleetResult:
        """The latest known state, as the one-shot CLI's result type."""
        chosen = self.resolve(targets) if targets else self.chosen
        out = []
        for h in natural_sorted(chosen):
            st = self.links[h].copy()
            r = HostResult(h, chosen[h], [], report=_only(st.report, chosen[h]))
            if st.state not in ("up", "stale") or st.report is None:
                r.error = st.error or st.state
            out.append(r)
        return FleetResult(out, groups=self.groups())

    def resolve(self, targets: list[str] | Selection | None) -> dict[str, list[str]]:
        """host -> users (empty: all) for CLI target expressions, within the session's hosts.
        A mapping is that already (structured addressing): checked, never parsed."""
        if isinstance(targets, Mapping):
            return exact(targets, self.hosts)
        return resolve(list(targets or []), self._hosts(), self.config.groups)

    def _hosts(self) -> dict[str, list[str]]:
        return {h: self.discovery.hosts[h] for h in self.hosts}

    def groups(self) -> dict[str, dict[str, list[str]]]:
        """The users file's groups within the session's hosts: name -> {host: users}
        (an empty user list: the whole host; a group with no host here: {})."""
        return group_members(self._hosts(), self.config.groups)

    def check(self, targets: list[str] | None = None):
        """The latest state against the users file's ``expect:`` (barnum.expect.Check:
        findings, ``cells`` for a matrix, ``exit_code``), without a request."""
        from barnum.expect import check

        whole = not targets and set(self.hosts) == set(self.discovery.hosts)
        return check(self.snapshot(targets), self.config.expect, self.discovery.hosts,
                     self.config.groups, whole_fleet=whole)

    def users(self) -> dict[str, list[str]]:
        return {h: sorted({i.user for i in (s.report.instances if s.report else []) if i.user})
                for h, s in self.host_states().items()}

    def watchers(self) -> dict[str, set[str]]:
        return {h: {w for i in (s.report.instances if s.report else []) for w in
                    (i.watchers or {})} for h, s in self.host_states().items()}

    # -- requests -------------------------------------------------------------------------

    def _each(self, targets: list[str] | None, fn, timeout: float | None) -> dict[str, Any]:
        """``fn(link, users)`` on every targeted host in parallel: host -> result or error."""
        chosen = self.resolve(targets)
        results: dict[str, Any] = {}

        def one(h: str) -> None:
            try:
                results[h] = fn(self.links[h], chosen[h])
            except Exception as e:
                results[h] = _Failure(clean(str(e).splitlines()[0] if str(e) else e))

        threads = [threading.Thread(target=one, args=(h,), daemon=True) for h in chosen]
        for t in threads:
            t.start()
        deadline = time.monotonic() + (timeout or self.options.timeout) + 1
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        for h in chosen:
            results.setdefault(h, _Failure("no answer in time"))
        return results

    def _fleet_result(self, results: dict[str, Any], chosen: dict[str, list[str]],
                      args: list[str]) -> FleetResult:
        out = []
        for h in natural_sorted(results):
            r = HostResult(h, chosen[h], args)
            v = results[h]
            if isinstance(v, _Failure):
                r.error = v.msg
            else:
                try:
                    r.report = report_from_document(v, h)
                    r.document = v
                except DocumentError as e:
                    r.error = f"bailey sent an invalid document: {e}"
            out.append(r)
        return FleetResult(out, groups=self.groups())

    def refresh(self, targets: list[str] | None = None, timeout: float | None = None
                ) -> FleetResult:
        """A fresh ``status`` from each host (also stored as its current report)."""
        t = timeout or self.options.timeout
        chosen = self.resolve(targets)

        def fn(link: _Link, users: list[str]) -> Any:
            doc = link.request("status", t, **({"users": users} if users else {}))
            if not users:
                with contextlib.suppress(DocumentError):
                    rep = report_from_document(doc, link.host)
                    with link.lock:
                        link.state.report = rep
            return doc

        return self._fleet_result(self._each(targets, fn, t), chosen, ["status"])

    def circusctl(self, args: list[str], targets: list[str] | None = None,
                  timeout: float | None = None) -> FleetResult:
        """``circusctl ARGS`` on every targeted instance, through the open channels."""
        t = timeout or self.options.timeout
        chosen = self.resolve(targets)

        def fn(link: _Link, users: list[str]) -> Any:
            return link.request("circusctl", t, args=list(args),
                                **({"users": users} if users else {}))

        return self._fleet_result(self._each(targets, fn, t), chosen, list(args))

    def stats(self, targets: list[str] | None = None, timeout: float | None = None
              ) -> dict[str, dict | str]:
        t = timeout or self.options.timeout

        def fn(link: _Link, users: list[str]) -> Any:
            return _clean_event(link.request("stats", t, **({"users": users} if users else {})))

        return {h: (v.msg if isinstance(v, _Failure) else v)
                for h, v in self._each(targets, fn, t).items()}

    def logs(self, unit: str, host: str, n: int = 50) -> list[dict]:
        result = self.links[host].request("logs", self.options.timeout, unit=unit, n=n)
        return _clean_event(result)["lines"]

    def output(self, host: str, unit: str, watcher: str, stream: str, n: int = 200) -> dict:
        """A watcher's stdout/stderr file tail (bailey's ``output`` op), strings cleaned."""
        result = self.links[host].request("output", self.options.timeout, unit=unit,
                                          watcher=watcher, stream=stream, n=n)
        return _clean_event(result)

    def units(self, targets: list[str] | None = None) -> list[tuple[str, str, str]]:
        """(host, user, unit) of every targeted instance the session knows."""
        chosen = self.resolve(targets)
        out = []
        for h in natural_sorted(chosen):
            rep = self.links[h].copy().report
            for i in (rep.instances if rep else []):
                if not chosen[h] or i.user in chosen[h]:
                    out.append((h, i.user or "?", i.unit))
        return out

    def follow_unit(self, host: str, unit: str, n: int = 0) -> tuple[Any, int]:
        """Start bailey following one unit's journal (``log`` events); what cancel_on takes."""
        key, _ = self.links[host].request_kept("logs", self.options.timeout, unit=unit, n=n,
                                               follow=True)
        return key

    def cancel_on(self, host: str, key: tuple[Any, int]) -> bool:
        """Cancel a kept request if its connection still stands (else it died with it)."""
        link = self.links[host]
        if link.chan is not key[0]:
            return False
        return bool(link.request("cancel", self.options.timeout, sub=key[1]).get("cancelled"))

    def connection_of(self, host: str) -> Any:
        """The host's current connection (a new one after each reconnect), or None."""
        return self.links[host].chan

    def follow(self, targets: list[str] | None = None, n: int = 10) -> Subscription:
        """Log events of the targets' units, after their last ``n`` lines (as events too)."""
        sub = self.subscribe(kinds={"log"})
        for h, _user, unit in self.units(targets):
            link = self.links[h]
            with contextlib.suppress(Exception):
                link.request("logs", self.options.timeout, unit=unit, n=n, follow=True)
        return sub

    def subscribe(self, kinds: set[str] | None = None) -> Subscription:
        sub = Subscription(self, kinds=kinds)
        with self._subs_lock:
            self._subs.append(sub)
        return sub

    # -- internals ------------------------------------------------------------------------

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._subs_lock, contextlib.suppress(ValueError):
            self._subs.remove(sub)

    def _publish(self, ev: SessionEvent) -> None:
        with self._subs_lock:
            subs = list(self._subs)
        for s in subs:
            s.put(ev)

    def _refresh_host(self, link: _Link) -> None:
        with contextlib.suppress(Exception):
            self.refresh([link.host])

    def _warn(self, msg: str) -> None:
        self.log(clean(msg))


@dataclass
class _Failure:
    msg: str


def _only(report: Report | None, users: list[str]) -> Report | None:
    if report is None or not users:
        return report
    return replace(report, instances=[i for i in report.instances if i.user in users])
