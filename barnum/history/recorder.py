"""The recorder: a live session's events into the history store, gaps told honestly.

    rec = Recorder(session, store).start()   # any long-lived process (barnum web, ...)
    rec.action("operator:ab12", "stop", items, "ok")
    rec.close()

It subscribes to the session (barnum.live.session ``subscribe``) and turns circus
events, unit state changes and host down/up into rows.  While no barnum was
connected to a host nothing was seen: when the host is reached again, the
time since it was last heard (kept in the store, so across restarts too) is
filled in from its circus units' journal, marked ``backfill``, and a ``gap``
row says from when to when the record is not live ("backfilled" when the
journal covered it, "unknown" where it could not).
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

from barnum.history.actions import action_rows
from barnum.history.store import SEEN_EVERY, HistoryStore, Row
from barnum.model.linkstate import LinkState, answers
from barnum.text.sanitize import clean

KINDS = {"host", "unit", "circus"}
BACKFILL_LINES = 5000  # journal lines per unit and gap at most
SKEW_MAX = 300.0  # a host's own time is believed only this close to when it arrived
DRAIN_EVERY = 2.0  # seconds between two reads of the subscription
RECENT = 256  # circus events remembered to drop a repeat


def host_time(stamp: Any, received: float) -> float | None:
    """The host's time of an event if it is a number near the receive time."""
    if isinstance(stamp, int | float) and not isinstance(stamp, bool) \
            and abs(float(stamp) - received) <= SKEW_MAX:
        return float(stamp)
    return None


def circus_row(host: str, data: dict[str, Any], received: float) -> Row | None:
    """A session ``circus`` event (fields already cleaned by barnum.live.wire) as a row."""
    watcher, action = data.get("watcher"), data.get("action")
    if not isinstance(watcher, str) or not isinstance(action, str):
        return None
    raw = data.get("data")
    inner: dict[str, Any] = raw if isinstance(raw, dict) else {}
    ht = host_time(inner.get("time"), received)
    detail = {k: v for k, v in inner.items() if k != "time"}
    return Row(t=ht if ht is not None else received, rt=received, ht=ht, host=host,
               kind="circus", action=action, user=data.get("user"), unit=data.get("unit"),
               watcher=watcher, detail=detail)


def unit_row(host: str, data: dict[str, Any], received: float) -> Row | None:
    if data.get("removed"):
        state = "removed"
    elif "active_state" in data:
        state = f"{data['active_state']}/{data.get('sub_state', '?')}"
    else:
        return None
    detail: dict[str, Any] = {k: data[k] for k in ("n_restarts", "main_pid", "unit_file_state")
                              if k in data}
    return Row(t=received, rt=received, host=host, kind="unit", action=state,
               user=data.get("user"), unit=data.get("unit"), detail=detail)


class Recorder:
    """Subscribes to one FleetSession and writes what it sees into one store."""

    def __init__(self, session: Any, store: HistoryStore, backfill: bool = True) -> None:
        self.session = session
        self.store = store
        self.backfill = backfill
        self.closing = threading.Event()
        self._said: dict[str, tuple[str, str | None]] = {}  # host -> last recorded state
        self._lost: dict[str, float] = {}  # host -> last heard before it went away
        self._sub: Any = None
        self._thread: threading.Thread | None = None
        self.backfills: list[threading.Thread] = []
        # the last RECENT circus events by (host, unit, watcher, action, host time):
        # their details, compared only when that key comes again (rarely)
        self._recent: dict[tuple, list[dict[str, Any]]] = {}
        self._order: collections.deque[tuple] = collections.deque()
        self.cpu = 0.0

    def start(self) -> Recorder:
        self._sub = self.session.subscribe(kinds=KINDS | {"dropped"})
        now = time.time()
        for host, st in self.session.host_states().items():
            last = self.store.last_seen(host)
            if last is not None:
                self._lost[host] = last
            self._said[host] = (st.state, st.error)
            if st.state.answers:
                self._reached(host, now)
            elif st.state == LinkState.DOWN:
                self._host_row(host, LinkState.DOWN, st.error, now)
        self._thread = threading.Thread(target=self._run, daemon=True, name="history-recorder")
        self._thread.start()
        return self

    def close(self) -> None:
        self.closing.set()
        if self._sub is not None:
            self._sub.close()
        if self._thread is not None:
            self._thread.join(5.0)
        if self._sub is not None:
            self._drain()  # what came in since the last read
        for t in self.backfills:
            t.join(10.0)
        self._mark_seen(force=True)
        self.store.flush()

    # -- actions (from the web page's audit, or any front end) ----------------------------

    def action(self, who: str, action: str, items: list[dict[str, Any]], result: str,
               **extra: Any) -> None:
        """One audit entry: a row per host it touches (barnum.history.actions)."""
        for row in action_rows(who, action, items, result, **extra):
            self.store.add(row)

    # -- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        last_mark = time.monotonic()
        while not self.closing.wait(DRAIN_EVERY):  # a few wake-ups a second, not one an event
            self._drain()
            self.cpu = time.thread_time()  # this thread's CPU so far (the bench reads it)
            if time.monotonic() - last_mark >= SEEN_EVERY / 2:
                last_mark = time.monotonic()
                self._mark_seen()

    def _drain(self) -> None:
        """Everything the subscription holds, handed to the store as one batch (one
        queue item, one lock for the hosts' last contact): a flood costs per drain,
        not per event, outside the rows themselves."""
        rows: list[Row] = []
        heard: dict[str, float] = {}
        while (ev := self._sub.get(0)) is not None:
            try:
                row = self._note(ev)
            except Exception as e:  # one odd event never stops the record
                self.session.log(clean(f"history: an event not recorded ({e})"))
                continue
            if row is not None:
                rows.append(row)
                heard[ev.host] = ev.t
        if rows:
            self.store.add_many(rows)
        if heard:
            self.store.seen_many(heard)

    def _note(self, ev: Any) -> Row | None:
        """The row an event makes (None: not recorded, or a host's state handled)."""
        if ev.kind == "circus":
            row = circus_row(ev.host, ev.data, ev.t)
            if row is not None and self._again(row):
                return None
        elif ev.kind == "unit":
            row = unit_row(ev.host, ev.data, ev.t)
        elif ev.kind == "host":
            self._host(ev.host, ev.data.get("state"), ev.data.get("error"), ev.t)
            return None
        elif ev.kind == "dropped":
            row = Row(t=ev.t, rt=ev.t, host="", kind="gap", action="dropped", until=ev.t,
                      source="gap", detail={"count": ev.data.get("count"),
                                            "why": "the recorder fell behind the session"})
        else:
            return None
        return row

    def _again(self, row: Row) -> bool:
        """The same circus event twice (bailey's feed repeats some across a circusd
        restart): same host, unit, watcher, action, host time and fields."""
        if row.ht is None:
            return False
        key = (row.host, row.unit, row.watcher, row.action, row.ht)
        seen = self._recent.get(key)
        if seen is not None:
            if row.detail in seen:
                return True
            seen.append(row.detail)
        else:
            self._recent[key] = [row.detail]
        self._order.append(key)
        if len(self._order) > RECENT:
            old = self._order.popleft()
            kept = self._recent.get(old)
            if kept is not None:
                kept.pop(0)
                if not kept:
                    del self._recent[old]
        return False

    def _host(self, host: str, state: Any, error: Any, t: float) -> None:
        try:
            state = LinkState(state)
        except ValueError:
            return  # a state this barnum does not know: not recorded
        if state.quiet:
            return
        prev = self._said.get(host, (LinkState.CONNECTING, None))
        if (state, error) == prev or (state == LinkState.DOWN and prev[0] == LinkState.DOWN):
            self._said[host] = (state, error)
            return
        self._said[host] = (state, error)
        if state == LinkState.UP:
            if prev[0] != LinkState.STALE:
                self._reached(host, t)
            return
        if state == LinkState.DOWN and answers(prev[0]):
            st = self.session.host_states().get(host)
            self._lost[host] = (st.last_seen if st and st.last_seen else t)
        self._host_row(host, state, error, t)

    def _host_row(self, host: str, state: str, error: Any, t: float) -> None:
        self.store.add(Row(t=t, rt=t, host=host, kind="host", action=state,
                           detail={"reason": error} if error else {}))

    def _reached(self, host: str, t: float) -> None:
        """The host is up: a row, and the time since it was last heard filled in."""
        self._host_row(host, LinkState.UP, None, t)
        self.store.seen(host, t)
        since = self._lost.pop(host, None)
        if since is None or since >= t:
            return
        if not self.backfill:
            self.store.add(_gap(host, since, t, "unknown", {"why": "backfill is off"}))
            return
        th = threading.Thread(target=self._backfill, args=(host, since, t), daemon=True,
                              name=f"history-backfill-{host}")
        self.backfills = [b for b in self.backfills if b.is_alive()] + [th]
        th.start()

    def _backfill(self, host: str, since: float, until: float) -> None:
        """Journal lines of the host's circus units from ``since`` to ``until``."""
        lines, first, why = 0, until, None
        try:
            units = [(u, unit) for h, u, unit in self.session.units([host]) if h == host]
        except Exception as e:
            units, why = [], clean(str(e))
        for user, unit in units:
            try:
                recs = self.session.logs(unit, host, BACKFILL_LINES, since=since)
            except Exception as e:
                why = clean(f"{unit}: {e}")
                continue
            inside = [r for r in recs if isinstance(r.get("t"), int | float)
                      and since < r["t"] <= until]
            if len(recs) >= BACKFILL_LINES and inside:
                first = min(first, inside[0]["t"])  # older lines than these were cut
            for r in inside:
                self.store.add(journal_row(host, user, unit, r))
            lines += len(inside)
        if why is not None or not units:
            self.store.add(_gap(host, since, until, "unknown",
                                {"why": why or "no circus unit known on the host",
                                 "lines": lines}))
            return
        if first < until:
            self.store.add(_gap(host, since, first, "unknown",
                                {"why": f"more than {BACKFILL_LINES} journal lines"}))
        self.store.add(_gap(host, first if first < until else since, until, "backfilled",
                            {"lines": lines, "units": len(units)}))

    def _mark_seen(self, force: bool = False) -> None:
        for host, st in self.session.host_states().items():
            if st.state.answers and st.last_seen:
                self.store.seen(host, st.last_seen)
        if force:
            self.store.seen_all_due()


def journal_row(host: str, user: str | None, unit: str, rec: dict[str, Any]) -> Row:
    """One journal line read to fill a gap (``rec`` as barnum.live.wire.log_line checked it)."""
    t = float(rec["t"])
    watcher, action = circus_message(rec.get("message") or "")
    return Row(t=t, rt=time.time(), ht=t, host=host, kind="journal", action=action,
               user=user, unit=unit, watcher=watcher, source="backfill",
               detail={"message": rec.get("message"), "pid": rec.get("pid")})


def circus_message(message: str) -> tuple[str | None, str | None]:
    """(watcher, what) from a circusd log line where it names one, else (None, None)."""
    import re

    for pat, what in _PATTERNS:
        m = re.search(pat, message.strip())
        if m and what is None:
            return m.group(1), {"stopped": "stop", "started": "start"}[m.group(2)]
        if m:
            return None, f"unit {m.group(1).lower()}"
    return None, None


_PATTERNS = (  # circusd's own INFO lines, and systemd's about the unit
    (r"\[INFO\] ([\w.-]+) (stopped|started)\Z", None),
    (r"\A(Started|Stopped|Deactivated successfully|Failed)\b.*?circus_", "unit"),
)


def _gap(host: str, since: float, until: float, action: str, detail: dict[str, Any]) -> Row:
    return Row(t=since, rt=time.time(), host=host, kind="gap", action=action, until=until,
               source="gap", detail=detail)
