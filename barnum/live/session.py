"""The live fleet session: one SSH connection and one ``bailey --serve`` per host.

    from barnum.live.session import FleetSession
    with FleetSession(config, options, targets=["host1"]) as s:
        s.snapshot()                      # FleetResult, renderable by barnum.views.render
        s.circusctl(["stop", "ticker"])   # per instance, through the open channels
        sub = s.subscribe()               # SessionEvent stream: circus, unit, host...

Each host has a thread (:class:`_Link`) that connects through the one-shot
CLI's own :class:`~barnum.transport.connector.Connector` (host keys,
``--local``, bailey's ``--timeout``, the ship rule, ``max_output`` as the
longest line), at most ``--fanout`` hosts connecting at once, starts
``bailey --serve``, subscribes, and keeps the host's report current from
pushed events.  It pings at the application level a host it has not heard
from for a while (barnum.live.liveness: pushes count, so an idle session
costs next to nothing): a ping unanswered for ``--timeout`` makes the host
"stale", for twice that "down" (a half-open TCP connection is noticed, unlike
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
from barnum.live import cancel
from barnum.live.errors import BadRequest, HostFailed, NotFound, SessionError, from_refusal
from barnum.live.liveness import DEFAULT, Liveness, Polling, spread
from barnum.live.state import (
    LineBuffer,
    LineTooLong,
    RefreshGate,
    SeqCheck,
    apply_event,
    parse_line,
    with_status_name,
)
from barnum.live.wire import EVENTS, Checked, WireError, check_event, check_result
from barnum.model.config import Config
from barnum.model.discovery import Discovery, discover
from barnum.model.hostsort import natural_sorted
from barnum.model.linkstate import LinkState
from barnum.model.results import FleetResult, HostResult
from barnum.model.targets import Selection, exact, group_members, resolve
from barnum.text.sanitize import clean
from barnum.transport.connector import Connector, HostError, Serve
from barnum.transport.options import Options
from barnum.transport.quiet import quiet, shut

BACKOFF = (1, 2, 4, 8, 10)
QUEUE_MAX = 10000
QUEUE_BYTES = 32 * 1024 * 1024  # per subscription: a slow reader drops the oldest beyond
REFRESH_GAP = 1.0  # seconds between two refreshes of one host asked for by its events
NOTE_EVERY = 1.0  # at most one "rejected" event per host and second
MAX_LINES = 10000  # bailey's bound on a logs/output request's n


@dataclass
class HostState:
    """What the session knows of one host now (a copy: safe to keep)."""

    host: str
    state: LinkState = LinkState.CONNECTING
    error: str | None = None
    report: Report | None = None
    stats: dict | None = None
    last_seen: float | None = None
    since: float = field(default_factory=time.time)
    epoch: str | None = None
    rejected: int = 0  # results and events from the host dropped for their shape
    note: str | None = None  # why the last one was dropped (one clean line)

    def __post_init__(self) -> None:
        self.state = LinkState(self.state)  # a word (a recording, a test) becomes the type

    @property
    def rejected_text(self) -> str | None:
        """``N bad messages from bailey dropped (last: why)``, or None."""
        if not self.rejected:
            return None
        return (f"{self.rejected} bad message{'s' if self.rejected != 1 else ''} from bailey "
                f"dropped (last: {self.note})")


@dataclass
class SessionEvent:
    """One thing that happened: ``kind`` is host, unit, circus, instance, resync,
    stats, log, gap, restart, rejected (a host's message dropped for its shape),
    dropped (a slow reader lost ``count`` events; host "") or end (a stream's last
    event: a followed unit's log, ``stream`` "logs", ``unit`` and ``reason``; or
    this subscription, ``stream`` "subscribe", host "", when it closes); ``data`` the checked
    fields (barnum.live.wire).  ``t`` is the session's own receive time, never the host's."""

    kind: str
    host: str
    data: dict[str, Any]
    t: float = field(default_factory=time.time)
    size: int = 200  # about what it costs in memory (the line it came in)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "host": self.host, "t": round(self.t, 3), **{
            k: v for k, v in self.data.items() if k not in ("seq", "epoch", "sub")}}


class Subscription:
    """A bounded, thread-safe queue of events, by count and by bytes: the oldest are
    dropped, and the reader's next ``get`` is a ``dropped`` event with their count
    (if its kinds take ``dropped``, or it takes every kind)."""

    def __init__(self, session: FleetSession | None, maxlen: int = QUEUE_MAX,
                 kinds: set[str] | None = None, max_bytes: int = QUEUE_BYTES) -> None:
        self._q: collections.deque[SessionEvent] = collections.deque()
        self._cond = threading.Condition()
        self._session = session
        self.maxlen = maxlen
        self.max_bytes = max_bytes
        self.kinds = kinds
        self.dropped = 0
        self._told = 0  # drops already reported to the reader
        self.bytes = 0
        self.closed = False

    def put(self, ev: SessionEvent) -> None:
        if self.kinds is not None and ev.kind not in self.kinds:
            return
        with self._cond:
            while self._q and (len(self._q) >= self.maxlen
                               or self.bytes + ev.size > self.max_bytes):
                self.bytes -= self._q.popleft().size
                self.dropped += 1
            self._q.append(ev)
            self.bytes += ev.size
            self._cond.notify()

    def get(self, timeout: float | None = None) -> SessionEvent | None:
        with self._cond:
            if self.dropped > self._told and (self.kinds is None or "dropped" in self.kinds):
                n, self._told = self.dropped - self._told, self.dropped
                return SessionEvent("dropped", "", {"count": n, "why": "the reader was slow"})
            if not self._q and not self.closed:
                self._cond.wait(timeout)
            if not self._q:
                return None
            ev = self._q.popleft()
            self.bytes -= ev.size
            return ev

    def __iter__(self) -> Iterator[SessionEvent]:
        while True:
            ev = self.get(1.0)
            if ev is not None:
                yield ev
            elif self.closed:
                return

    def close(self) -> None:
        with self._cond:
            if not self.closed and (self.kinds is None or "end" in self.kinds):
                self._q.append(SessionEvent("end", "", {"stream": "subscribe",
                                                        "reason": "closed"}))
            self.closed = True
            self._cond.notify_all()
        if self._session is not None:
            self._session._unsubscribe(self)


class Following(Subscription):
    """The log events of the follows it started (``FleetSession.follow``), and theirs
    only (another reader's follows of the same units are not its lines); closing it
    cancels every follow it started that still runs, so none stays on a host."""

    def __init__(self, session: FleetSession) -> None:
        super().__init__(session, kinds={"log", "dropped", "end"})
        self.keys: dict[tuple[str, int], tuple[Any, int]] = {}  # (host, id) -> cancel key
        self._keys_lock = threading.Lock()

    def claim(self, host: str, key: tuple[Any, int]) -> None:
        with self._keys_lock:
            self.keys[(host, key[1])] = key

    def unclaim(self, host: str, key: tuple[Any, int]) -> None:
        with self._keys_lock:
            self.keys.pop((host, key[1]), None)

    def put(self, ev: SessionEvent) -> None:
        if ev.host:  # a follow's line or end: this reader's own follows only
            sub = ev.data.get("sub")
            key = (ev.host, sub if isinstance(sub, int) else -1)
            with self._keys_lock:
                mine = key in self.keys
                if mine and ev.kind == "end":
                    del self.keys[key]  # it ended: nothing left to cancel
            if not mine:
                return
        super().put(ev)

    def close(self) -> None:
        """End the stream, then cancel its follows (in parallel: a dead host costs one
        ``--timeout``, not one per unit).  A follow whose connection dropped died with
        it (bailey ends on EOF): nothing is sent for it."""
        super().close()
        with self._keys_lock:
            keys, self.keys = list(self.keys.items()), {}
        s = self._session
        if s is None or not keys:
            return

        def cancel(host: str, key: tuple[Any, int]) -> None:
            with contextlib.suppress(Exception):
                s.cancel_on(host, key)

        threads = [threading.Thread(target=cancel, args=(h, key), daemon=True,
                                    name=f"unfollow-{h}") for (h, _rid), key in keys]
        for t in threads:
            t.start()
        deadline = time.monotonic() + s.options.timeout + 1
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))


class _Pending:
    def __init__(self, op: str) -> None:
        self.op = op
        self.done = threading.Event()
        self.reply: dict[str, Any] | None = None
        self.value: Any = None  # the result, checked by barnum.live.wire


class _Link(threading.Thread):
    """One host's connection, reader and reconnect loop."""

    def __init__(self, session: FleetSession, host: str) -> None:
        super().__init__(daemon=True, name=f"link-{host}")
        self.s = session
        self.host = host
        self.state = HostState(host)
        self.lock = threading.Lock()
        self.send_lock = threading.Lock()
        self.chan: Any = None  # the bailey --serve stream (connector.Serve), once up
        self.conn: Any = None  # what to close to abort a connect: connection, then stream
        self.pending: dict[int, _Pending] = {}
        self.ids = itertools.count(1)
        self.seq = SeqCheck()
        self.sub_id: int | None = None
        self.follows: dict[int, str] = {}  # request id -> unit, of logs followed on chan
        self.orphans: set[int] = set()  # follows given up waiting for: cancelled on answer
        self.ready = threading.Event()  # first attempt finished (up or failed)
        self.wake = threading.Event()
        self.gate = RefreshGate(REFRESH_GAP)
        self._noted = -NOTE_EVERY
        self.max_line = session.connector.max_output  # one line, as one one-shot answer
        self.slot = False  # holds one of the session's --fanout slots
        self.live = Liveness(session.polling.ping_idle, session.options.timeout)
        self.shipped = False  # as the one-shot result says it (barnum.warm answers with it)

    # -- state ----------------------------------------------------------------------------

    def set_state(self, state: LinkState, error: str | None = None) -> None:
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

    def request(self, op: str, timeout: float, **args: Any) -> Any:
        """Send one request and wait for its response; raises a SessionError (one line)."""
        return self.request_kept(op, timeout, **args)[1]

    def request_kept(self, op: str, timeout: float, claim: Any = None, **args: Any,
                     ) -> tuple[tuple[Any, int], Any]:
        """As request, also giving (connection, id): what a later ``cancel`` names, and
        on which connection the request lives (a reconnect ends it).  ``claim(key)``
        runs before the request goes out (its stream's events may beat its answer)."""
        chan = self.chan
        if chan is None or not self.copy().state.answers:
            raise HostFailed(self.copy().error or f"not connected ({self.copy().state})")
        rid = next(self.ids)
        follow = op == "logs" and bool(args.get("follow"))
        if follow:
            self.follows[rid] = str(args.get("unit"))
        if claim is not None:
            claim((chan, rid))
        try:
            return (chan, rid), self._request(chan, rid, op, timeout, args, follow)
        except SessionError:
            self.follows.pop(rid, None)  # refused: no stream, so no end to wait for
            raise

    def _request(self, chan: Any, rid: int, op: str, timeout: float,
                 args: dict[str, Any], stream: bool = False) -> Any:
        """``stream``: the request starts a stream (a follow) that bailey may yet start
        after we gave up waiting: then cancelled when its answer comes."""
        p = _Pending(op)
        self.pending[rid] = p
        try:
            data = json.dumps({"id": rid, "op": op, **args}).encode() + b"\n"
            with self.send_lock:
                chan.sendall(data)
            if not p.done.wait(timeout):
                if stream:
                    self.orphans.add(rid)
                    self.pending.pop(rid, None)
                    if p.done.is_set() and (p.reply or {}).get("ok"):  # came just now
                        self._cancel_unread(chan, rid)
                raise HostFailed(f"no answer within {timeout:g}s")
        except OSError as e:
            raise HostFailed(f"connection lost: {e}") from None
        finally:
            self.pending.pop(rid, None)
        reply = p.reply or {}
        if not reply.get("ok"):
            raise from_refusal(reply.get("code"),
                               f"bailey: {clean(reply.get('error') or 'no answer')}")
        return p.value

    def _cancel_unread(self, chan: Any, rid: int) -> None:
        """Cancel a stream nobody reads (id 0: its answer is read as a ping's)."""
        self.orphans.discard(rid)
        with contextlib.suppress(OSError, AttributeError), self.send_lock:
            chan.sendall(json.dumps({"id": 0, "op": "cancel", "sub": rid}).encode() + b"\n")

    def want_refresh(self) -> None:
        """A fresh snapshot is due (gap, restart, an event about something unknown):
        at most one refresh runs per host, one more waits, REFRESH_GAP apart."""
        with self.lock:
            start = self.gate.want()
        if start:
            threading.Thread(target=self._refresher, daemon=True,
                             name=f"refresh-{self.host}").start()

    def _refresher(self) -> None:
        while not self.s.closing.is_set():
            with self.lock:
                delay = self.gate.delay(time.monotonic())
            if delay and self.s.closing.wait(delay):
                break
            with self.lock:
                self.gate.started(time.monotonic())
            self.s._refresh_host(self)
            with self.lock:
                if not self.gate.finished():
                    return
        with self.lock:
            self.gate.finished(cancel=True)

    def reject(self, why: str) -> None:
        """A message of the wrong shape from this host: dropped, counted, noted."""
        now = time.monotonic()
        with self.lock:
            self.state.rejected += 1
            self.state.note = clean(" ".join(str(why).split()))[:300]
            tell = now - self._noted >= NOTE_EVERY
            if tell:
                self._noted = now
            data = {"count": self.state.rejected, "reason": self.state.note}
        if tell:
            self.s._publish(SessionEvent("rejected", self.host, data))

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> None:
        attempt = 0
        while not self.s.closing.is_set():
            try:
                self._take_slot()
                self._connect()
                attempt = 0
                self._read_loop()
            except Exception as e:
                self._fail(e)
            finally:
                self._drop()
                st = self.copy()
                self._free_slot(f"not up ({st.error or st.state})")
                self.ready.set()
            if self.s.closing.is_set():
                break
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            attempt += 1
            self.wake.wait(delay)
            self.wake.clear()
        self.set_state(LinkState.CLOSED)

    def _fail(self, e: Exception) -> None:
        from barnum.transport import ssh

        if isinstance(e, _LinkError | HostError):
            msg = str(e)
        else:  # words it from the SSH connection's address and user (None: local)
            conn = self.conn.conn if isinstance(self.conn, Serve) else self.conn
            msg = ssh.classify(e, conn, self.s.options.timeout)
        if not self.s.closing.is_set():
            self.set_state(LinkState.DOWN, msg)

    def _take_slot(self) -> None:
        """Wait for one of the session's ``--fanout`` slots (connecting, up to the first
        snapshot or a failure); closing the session ends the wait."""
        while not self.s.slots.acquire(timeout=0.2):
            if self.s.closing.is_set():
                raise _LinkError("session closed")
        self.slot = True
        self.s._debug(f"Processing {self.host}")

    def _free_slot(self, how: str | None = None) -> None:
        if self.slot:
            self.slot = False
            self.s.slots.release()
            self.s._debug(f"{self.host}: {how or 'connection attempt over'}")

    def _connect(self) -> None:
        self.set_state(LinkState.CONNECTING, self.state.error)
        chan, first = self.s.connector.start_serve(
            self.host, lambda c: self._first_line(c, self.s.options.timeout),
            hold=lambda c: setattr(self, "conn", c))
        self.chan = chan
        self.shipped = chan.shipped
        self._hello(first)
        rid = next(self.ids)
        self.sub_id = rid
        try:
            chan.sendall(json.dumps({"id": rid, "op": "subscribe", **self.s.subscribe_args()})
                         .encode() + b"\n")
        except OSError:  # bailey ended right after its hello: the stream is gone
            raise _LinkError("connection closed (bailey --serve ended)") from None

    def _first_line(self, chan: Serve, timeout: float) -> dict[str, Any] | None:
        """bailey's hello, or None when the command ended without one.

        One deadline for the whole hello: a host that trickles a byte now and
        then never keeps the link "connecting".
        """
        self.buf = LineBuffer(self.max_line)
        self.backlog: list[bytes] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _LinkError(f"bailey --serve sent no hello within {timeout:g}s")
            chan.settimeout(left)
            try:
                data = chan.recv(65536)
            except TimeoutError:
                continue  # the deadline check above words it
            if not data:
                return None
            try:
                lines = self.buf.feed(data)
            except LineTooLong as e:
                raise _LinkError(f"bailey --serve sent {e} before its hello") from None
            if lines:
                self.backlog = lines[1:]
                return _parse(lines[0])

    def _hello(self, hello: dict[str, Any]) -> None:
        if hello.get("event") != "hello" or hello.get("protocol") != "bailey-serve/1":
            raise _LinkError("not a bailey-serve/1 hello: " + clean(str(hello)[:80]))
        self.seq = SeqCheck()
        self.seq.check(hello.get("epoch"), hello.get("seq"))
        with self.lock:
            self.state.epoch = clean(hello.get("epoch"))
            self.state.last_seen = time.time()

    def _read_loop(self) -> None:
        """Block on the channel until a line comes or the next ping or verdict is due
        (barnum.live.liveness): no polling while the host is quiet."""
        chan = self.chan
        polling, timeout = self.s.polling, self.s.options.timeout
        transport = _transport_of(chan)
        if transport is not None:  # SSH: paramiko's reader asleep too (--local has none)
            quiet(transport, polling.transport_poll, polling.keepalive)
        live = self.live = Liveness(
            polling.ping_every(timeout) * (1 - spread(self.host, polling.jitter)), timeout,
            polling.max_wait, heard_at=time.monotonic())
        for raw in self.backlog:
            self._line(raw)
        while not self.s.closing.is_set():
            now = time.monotonic()
            verdict = live.verdict(now)
            if verdict == "down":
                raise _LinkError(f"no answer for {live.silent(now):.0f}s (connection half-open?)")
            if verdict == "stale":
                self.set_state(LinkState.STALE, f"last heard {live.silent(now):.0f}s ago")
            if live.due_ping(now):
                live.pinged(now)
                with self.send_lock:
                    chan.sendall(b'{"id":0,"op":"ping"}\n')
            chan.settimeout(live.wait(time.monotonic()))
            try:
                data = chan.recv(65536)
            except TimeoutError:
                continue
            if not data:
                raise _LinkError("connection closed (bailey --serve ended)")
            try:
                for raw in self.buf.feed(data):
                    self._line(raw)
            except LineTooLong as e:
                raise _LinkError(f"bailey sent {e} (raise max_output in the users file if "
                                 "this host is right)") from None

    def _line(self, raw: bytes) -> None:
        msg = _parse(raw)
        self.live.heard(time.monotonic())
        with self.lock:
            self.state.last_seen = time.time()
        if self.copy().state in (LinkState.STALE, LinkState.CONNECTING):
            self.set_state(LinkState.UP)
        order = self.seq.check(msg.get("epoch"), msg.get("seq"))
        if order in ("gap", "restart"):
            self.s._publish(SessionEvent(order, self.host, {}))
            self.want_refresh()
        try:
            if "id" in msg:
                self._answer(msg)
            else:
                self._event(msg, len(raw))
        except WireError as e:
            self.reject(str(e))
        except _LinkError:
            raise
        except Exception as e:  # a shape no check foresaw: still only this message
            self.reject(f"a message barnum could not use ({type(e).__name__})")

    def _answer(self, msg: dict[str, Any]) -> None:
        """A response: to the subscription, to a waiting request, or to a ping."""
        rid = msg["id"]
        if isinstance(rid, bool) or not isinstance(rid, int):
            raise WireError(f"an answer whose id is a {type(rid).__name__}, not a number")
        now = time.time()
        if rid == self.sub_id:
            if not msg.get("ok"):
                raise _LinkError(f"subscribe refused: {clean(str(msg.get('error'))[:200])}")
            self._snapshot(check_result("subscribe", msg.get("result"), now, self.host))
            return
        if rid == 0:
            return  # our pings' answers: that the line came is all they say
        p = self.pending.get(rid)
        if p is None and rid in self.orphans:  # a follow answered after its asker gave up
            self.orphans.discard(rid)
            if msg.get("ok") is True:  # bailey follows it: cancelled, the answer unread
                self._cancel_unread(self.chan, rid)
            return
        if p is None:
            raise WireError(f"an answer to a request never made (id {rid})")
        if msg.get("ok") is True:
            try:
                p.value = check_result(p.op, msg.get("result"), now, self.host)
                p.reply = msg
            except WireError as e:
                p.reply = {"ok": False, "error": f"sent an invalid {p.op} answer: {e}"}
                p.done.set()
                raise
        else:
            err = msg.get("error")
            p.reply = {"ok": False, "error": err if isinstance(err, str) else "refused",
                       "code": msg.get("code")}
        p.done.set()

    def _event(self, msg: dict[str, Any], size: int) -> None:
        kind = msg.get("event")
        if kind == "hello":
            raise WireError("a second hello")
        if kind not in EVENTS:
            return  # a later bailey's event this barnum does not know: ignored
        data = check_event(msg, time.time(), self.host)
        if kind == "log" and isinstance(msg.get("sub"), int) \
                and not isinstance(msg.get("sub"), bool):
            data["sub"] = msg["sub"]  # whose follow it is (a Following takes its own only)
        if kind == "stats":
            with self.lock:
                self.state.stats = data["result"]
        elif kind == "resync":
            report = data.pop("report")
            with self.lock:
                self.state.report = report
        elif kind == "end":
            if data["sub"] == self.sub_id:
                raise _LinkError("bailey ended the subscription")  # reconnect: a new one
            data = {"stream": "logs", "unit": self.follows.pop(data["sub"], data.get("unit")),
                    "reason": data["reason"], "sub": data["sub"]}
        elif kind != "log":
            with self.lock:
                data = with_status_name(self.state.report, data)  # once, for every reader
                new = apply_event(self.state.report, data, self.host)
                if new is not None:
                    self.state.report = new
            if new is None and kind in ("unit", "circus"):
                self.want_refresh()
        data.pop("event", None)
        self.s._publish(SessionEvent(kind, self.host, data, size=size))

    def _snapshot(self, checked: Checked) -> None:
        with self.lock:
            self.state.report = checked.report
        self.set_state(LinkState.UP)
        self._free_slot("up")
        self.ready.set()
        self.s._publish(SessionEvent("resync", self.host, {}))

    def _drop(self) -> None:
        chan, conn = self.chan, self.conn
        self.chan = self.conn = None
        follows, self.follows = self.follows, {}
        self.orphans = set()  # their follows died with the connection
        for rid, unit in follows.items():  # bailey's follows died with its connection
            self.s._publish(SessionEvent("end", self.host, {
                "stream": "logs", "unit": unit, "reason": "lost", "sub": rid}))
        for p in list(self.pending.values()):
            p.reply = {"ok": False, "error": "connection lost"}
            p.done.set()
        for c in (chan, conn):
            if c is not None:
                if c is conn:  # after the channel's close went out
                    shut(_transport_of(conn))
                with contextlib.suppress(Exception):
                    c.close()


def _transport_of(x: Any) -> Any:
    """The paramiko transport under a connection or a serve stream (None: --local)."""
    return getattr(x, "transport", None) or getattr(getattr(x, "conn", None), "transport", None)


class _LinkError(Exception):
    """A host-level problem already worded for the operator."""


def _parse(raw: bytes) -> dict[str, Any]:
    """One line as a JSON object, or the host's error in plain words."""
    try:
        return parse_line(raw)
    except RecursionError:
        raise _LinkError("bailey sent JSON nested too deeply to read") from None
    except MemoryError:
        raise _LinkError(f"bailey sent a line too big to read ({len(raw)} bytes)") from None
    except json.JSONDecodeError:
        raise _LinkError("bailey sent a line that is not JSON") from None
    except ValueError as e:
        raise _LinkError(f"bailey sent {e}") from None


class FleetView:
    """What a live session derives from the users file, the discovery and each host's
    latest state: targets, groups, the snapshot, users, watchers and units.

    FleetSession and the warm session's stand-in (``barnum.warm.attach.Attached``) hold
    their states differently (links here, a stream there) and give them by ``state_of``;
    everything read from them is this one code.
    """

    config: Config
    discovery: Discovery
    hosts: list[str]
    chosen: dict[str, list[str]]

    def state_of(self, host: str) -> HostState:
        raise NotImplementedError

    def host_states(self) -> dict[str, HostState]:
        return {h: self.state_of(h) for h in self.hosts}

    def snapshot(self, targets: list[str] | Selection | None = None) -> FleetResult:
        """The latest known state, as the one-shot CLI's result type."""
        chosen = self.resolve(targets) if targets else self.chosen
        out = []
        for h in natural_sorted(chosen):
            st = self.state_of(h)
            r = HostResult(h, chosen[h], [], report=_only(st.report, chosen[h]))
            if not st.state.answers or st.report is None:
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

    def users(self) -> dict[str, list[str]]:
        return {h: sorted({i.user for i in (s.report.instances if s.report else []) if i.user})
                for h, s in self.host_states().items()}

    def watchers(self) -> dict[str, set[str]]:
        return {h: {w for i in (s.report.instances if s.report else []) for w in
                    (i.watchers or {})} for h, s in self.host_states().items()}

    def units(self, targets: list[str] | Selection | None = None) -> list[tuple[str, str, str]]:
        """(host, user, unit) of every targeted instance the session knows."""
        chosen = self.resolve(targets)
        out = []
        for h in natural_sorted(chosen):
            rep = self.state_of(h).report
            for i in (rep.instances if rep else []):
                if not chosen[h] or i.user in chosen[h]:
                    out.append((h, i.user or "?", i.unit))
        return out


class FleetSession(FleetView):
    """The fleet, live: see the module's docstring."""

    def __init__(self, config: Config, options: Options, targets: list[str] | None = None,
                 discovery: Discovery | None = None, log: Any = None,
                 debug: Any = None, polling: Polling = DEFAULT) -> None:
        self.config = config
        self.options = options
        self.polling = polling  # how often it wakes when idle (barnum.live.liveness)
        self.discovery = discovery or discover(config.users, config.config_template)
        self.chosen = resolve(list(targets or []), self.discovery.hosts, config.groups)
        self.hosts = natural_sorted(self.chosen)
        self.log = log or (lambda _m: None)
        self.debug = debug if options.verbose else None  # --verbose: each layer's lines
        self.connector = Connector(options, warn=self._warn, debug=self._debug)
        self.slots = threading.BoundedSemaphore(max(1, options.fanout))
        self.closing = threading.Event()
        self.links = {h: _Link(self, h) for h in self.hosts}
        self._subs: list[Subscription] = []
        self._subs_lock = threading.Lock()

    def argv(self) -> list[str]:
        """``bailey --serve`` as the connector builds it: the users file's
        config_template and the one-shot path's circusctl ``--timeout``
        (barnum.transport.bailey), so a hung circusd cannot outlive a request."""
        return self.connector.argv(serve=True)

    @property
    def down_within(self) -> float:
        """Seconds after its last line by which a host that died silently reads down
        (a closed channel reads down at once)."""
        return self.polling.down_within(self.options.timeout)

    def subscribe_args(self) -> dict[str, Any]:
        """bailey's ``subscribe`` options: its systemd safety poll, when not its default."""
        from bailey.watch import SAFETY_POLL

        p = self.polling.safety_poll
        return {} if p == SAFETY_POLL else {"safety_poll": p}

    # -- life cycle -----------------------------------------------------------------------

    def open(self, wait: bool = True) -> FleetSession:
        self.connector.prepare(any(not self.connector.is_local(h) for h in self.hosts))
        for link in self.links.values():
            link.start()
        if wait:  # --fanout at a time: each wave of hosts has its own timeout
            waves = -(-len(self.links) // max(1, self.options.fanout))
            deadline = time.monotonic() + waves * self.options.timeout + 2
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

    def state_of(self, host: str) -> HostState:
        return self.links[host].copy()

    # -- requests -------------------------------------------------------------------------

    def _each(self, targets: list[str] | Selection | None, fn, timeout: float | None,
              ) -> dict[str, Any]:
        """``fn(link, users)`` on every targeted host in parallel: host -> result or error."""
        chosen = self.resolve(targets)
        cancel.check()
        results: dict[str, Any] = {}
        pending = [len(chosen)]
        lock, done = threading.Lock(), threading.Event()

        def one(h: str) -> None:
            try:
                results[h] = fn(self.links[h], chosen[h])
            except Exception as e:
                results[h] = _Failure(clean(str(e).splitlines()[0] if str(e) else e))
            finally:
                with lock:
                    pending[0] -= 1
                    if not pending[0]:
                        done.set()

        if not chosen:
            done.set()
        for h in chosen:
            threading.Thread(target=one, args=(h,), daemon=True).start()
        cancel.wait(done, (timeout or self.options.timeout) + 1)  # the caller may leave
        # a snapshot: a thread answering late writes to ``results``, never to this
        return {h: results.get(h, _Failure("no answer in time")) for h in chosen}

    def _fleet_result(self, results: dict[str, Any], chosen: dict[str, list[str]],
                      args: list[str]) -> FleetResult:
        out = []
        for h in natural_sorted(results):
            r = HostResult(h, chosen[h], args)
            v = results[h]
            if isinstance(v, _Failure):
                r.error = v.msg
            else:  # checked as it arrived (barnum.live.wire)
                r.report, r.document = v.report, v.document
            out.append(r)
        return FleetResult(out, groups=self.groups())

    def refresh(self, targets: list[str] | Selection | None = None, timeout: float | None = None,
                watched: bool = False) -> FleetResult:
        """A fresh ``status`` from each host (also stored as its current report).
        ``watched``: bailey takes systemd's part from its D-Bus watch, re-read on any
        change systemd signals (docs/bailey-serve.md, watched status); circusd is asked."""
        t = timeout or self.options.timeout
        chosen = self.resolve(targets)
        extra: dict[str, Any] = {"watched": True} if watched else {}

        def fn(link: _Link, users: list[str]) -> Any:
            doc = link.request("status", t, **extra, **({"users": users} if users else {}))
            if not users:
                with link.lock:
                    link.state.report = doc.report
            return doc

        return self._fleet_result(self._each(targets, fn, t), chosen, ["status"])

    def circusctl(self, args: list[str], targets: list[str] | Selection | None = None,
                  timeout: float | None = None) -> FleetResult:
        """``circusctl ARGS`` on every targeted instance, through the open channels."""
        t = timeout or self.options.timeout
        chosen = self.resolve(targets)

        def fn(link: _Link, users: list[str]) -> Any:
            return link.request("circusctl", t, args=list(args),
                                **({"users": users} if users else {}))

        return self._fleet_result(self._each(targets, fn, t), chosen, list(args))

    def stats(self, targets: list[str] | Selection | None = None, timeout: float | None = None
              ) -> dict[str, dict | str]:
        t = timeout or self.options.timeout

        def fn(link: _Link, users: list[str]) -> Any:
            return link.request("stats", t, **({"users": users} if users else {}))

        return {h: (v.msg if isinstance(v, _Failure) else v)
                for h, v in self._each(targets, fn, t).items()}

    def logs(self, unit: str, host: str, n: int = 50, since: float | None = None
             ) -> list[dict]:
        """The unit's last ``n`` journal lines (only those after ``since``, if given)."""
        extra = {"since": since} if since is not None else {}
        result = self._link(host, n).request("logs", self.options.timeout, unit=unit, n=n,
                                             **extra)
        return result["lines"]

    def output(self, host: str, unit: str, watcher: str, stream: str, n: int = 200) -> dict:
        """A watcher's stdout/stderr file tail (bailey's ``output`` op), strings cleaned."""
        if stream not in ("stdout", "stderr"):
            raise BadRequest("stream must be stdout or stderr")
        return self._link(host, n).request("output", self.options.timeout, unit=unit,
                                           watcher=watcher, stream=stream, n=n)

    def _link(self, host: str, n: int = 0) -> _Link:
        """The host's link for a request; NotFound / BadRequest before anything is sent."""
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_LINES:
            raise BadRequest(f"n must be an integer from 0 to {MAX_LINES}")
        link = self.links.get(host)
        if link is None:
            raise NotFound(f"{clean(host)[:80]!r} is not a host of this session")
        return link

    def follow_unit(self, host: str, unit: str, n: int = 0) -> tuple[Any, int]:
        """Start bailey following one unit's journal (``log`` events); what cancel_on takes."""
        key, _ = self._link(host).request_kept("logs", self.options.timeout, unit=unit, n=n,
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

    def follow(self, targets: list[str] | Selection | None = None, n: int = 0) -> Following:
        """Log events of the targets' units from now on (bailey's follow; ``n`` lines
        before it are read and not sent as events).  Close it when done: that cancels
        the follows on the hosts (a long-lived session must not keep them).  A unit
        that cannot be followed (host not up, refused) is left out."""
        sub = Following(self)
        with self._subs_lock:
            self._subs.append(sub)
        for h, _user, unit in self.units(targets):
            if sub.closed:
                break  # closed while starting: what was started is cancelled below
            link = self.links[h]
            claimed: list[tuple[Any, int]] = []

            def claim(key: tuple[Any, int], h: str = h, claimed: list = claimed) -> None:
                claimed.append(key)
                sub.claim(h, key)

            try:
                link.request_kept("logs", self.options.timeout, claim=claim, unit=unit, n=n,
                                  follow=True)
            except Exception:
                for key in claimed:  # no follow to cancel (or an orphan: cancelled on answer)
                    sub.unclaim(h, key)
        if sub.closed:
            sub.close()  # the follows started after it closed
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

    def _debug(self, msg: str) -> None:
        if self.debug is not None:
            self.debug(clean(msg))


@dataclass
class _Failure:
    msg: str


def _only(report: Report | None, users: list[str]) -> Report | None:
    if report is None or not users:
        return report
    return replace(report, instances=[i for i in report.instances if i.user in users])
