"""``barnum watch [targets]``: the fleet, live, in the terminal.

On a terminal: a table redrawn when events arrive (at most 4 times a
second), rows that just changed highlighted for a few seconds, watchers
that keep restarting flagged, unreachable hosts with their reason; cpu and
memory refreshed every few seconds.  ``q`` or Ctrl-C leaves.  Piped, or with
``--json``: one JSON object per event and line (NDJSON), first the state of
each host as a ``resync`` line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from barnum import EXIT_OK
from barnum.live.flapping import Flapping
from barnum.model.circusd import NOT_ANSWERING, not_answering
from barnum.model.linkstate import LinkState
from barnum.spec.expect import check_session

if TYPE_CHECKING:
    from barnum.context import Context
    from barnum.live.session import FleetSession, SessionEvent

HIGHLIGHT = 3.0  # seconds a change stays highlighted
STATS_EVERY = 5.0


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("targets", nargs="*", help="hosts or user@host; globs allowed")
    p.add_argument("--json", action="store_true", help="NDJSON events, also on a terminal")


@dataclass
class Highlights:
    """When each unit and watcher last changed (what the table shows in reverse)."""

    changed: dict[tuple, float] = field(default_factory=dict)

    def note(self, ev: SessionEvent) -> None:
        d = ev.data
        self.changed[(ev.host, d.get("unit"), d.get("watcher"))] = ev.t
        self.changed[(ev.host, d.get("unit"), None)] = ev.t

    def recent(self, key: tuple, now: float) -> bool:
        return now - self.changed.get(key, 0.0) < HIGHLIGHT


def view(session: FleetSession, marks: Highlights, flaps: Flapping, stats: dict[str, Any],
         now: float):
    """One frame (rich renderable) from the session's state: ``barnum check``'s problems
    first when the users file expects anything, then the table."""
    from rich.table import Table
    from rich.text import Text

    t = Table(box=None, pad_edge=False, expand=False)
    for col in ("host", "unit / watcher", "state", "procs", "cpu%", "mem%"):
        t.add_column(col, justify="right" if col in ("procs", "cpu%", "mem%") else "left")
    per_watcher = _stats_index(stats)
    problems = unmet(session)
    head: list = []
    if getattr(session.config, "expect", None):  # problems first: barnum check's lines
        from barnum.views.check import finding_text, unmet_line

        head = [unmet_line(len(problems)), *(finding_text(f) for f in problems)]
    expected_bad = {(f.host, f.user) for f in problems if f.user}
    for host, st in session.host_states().items():
        if not st.state.answers or st.report is None:
            t.add_row(Text(host, style="bold red"), Text(st.error or st.state, style="red"),
                      Text(st.state, style="red"), "", "", "")
            continue
        age = f"stale: {st.error}" if st.state == LinkState.STALE else ""
        note = "; ".join(x for x in (age, st.rejected_text) if x)
        t.add_row(Text(host, style="bold"), Text(note, style="yellow"), "", "", "", "")
        for inst in st.report.instances:
            key = (host, inst.unit, None)
            style = "reverse" if marks.recent(key, now) else ""
            state = f"{inst.active_state} ({inst.sub_state})"
            bad = inst.active_state != "active" or (host, inst.user) in expected_bad
            if not_answering(inst.active_state, inst.state, inst.error, inst.stderr):
                state, bad = NOT_ANSWERING, True  # (the unit is active: that is the point)
            if (host, inst.user) in expected_bad:
                state += " NOT AS EXPECTED"
            t.add_row("", Text("  " + inst.unit, style=style),
                      Text(state, style="red" if bad else "green"), "", "", "")
            for name, status in sorted((inst.watchers or {}).items()):
                wkey = (host, inst.unit, name)
                flap = flaps.flapping((host, inst.user or "?", name), now)
                s = per_watcher.get((host, inst.user, name), {})
                procs = s.get("procs", "")
                label = status + (" FLAPPING" if flap else "")
                t.add_row(
                    "", Text("    " + name, style="reverse" if marks.recent(wkey, now) else ""),
                    Text(label, style="red" if flap or status != "active" else "green"),
                    Text(procs), Text(s.get("cpu", "")), Text(s.get("mem", "")))
    if not head:
        return t
    from rich.console import Group

    return Group(*head, t)


def unmet(session: FleetSession) -> list:
    """``barnum check``'s problems now (FleetSession.check: the CLI's own comparison);
    none when the users file expects nothing."""
    if not getattr(session.config, "expect", None):
        return []
    return check_session(session).problems


def check_line(session: FleetSession) -> dict | None:
    """The NDJSON line for the expectations (kind ``check``), or None: nothing expected."""
    if not getattr(session.config, "expect", None):
        return None
    c = check_session(session)
    return {"kind": "check", "exit": c.exit_code, "problems": len(c.problems),
            "findings": [asdict(f) for f in c.findings if f.severity != "note"]}


def _stats_index(stats: dict[str, Any]) -> dict[tuple, dict[str, str]]:
    """(host, user, watcher) -> the cells of its procs, cpu and mem columns."""
    from barnum.views.stats import rows

    return {(r["host"], r["user"], r["watcher"]): {
        "procs": f"{r['running']}/{r['wanted']}" if r["wanted"] is not None
        else str(r["running"]),
        "cpu": f"{r['cpu']:.1f}", "mem": f"{r['mem']:.2f}",
    } for r in rows(stats)}


def run(args: argparse.Namespace, ctx: Context) -> int:
    from barnum.context import open_live

    session = open_live(ctx)  # the warm session's, when one can be used
    try:
        if args.json or not sys.stdout.isatty():
            return _ndjson(session)
        return _live(session)
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        session.close()


def _ndjson(session: FleetSession) -> int:
    """NDJSON until the stream ends (the session closed, or Ctrl-C): its last line is
    the subscription's ``end`` event."""
    sub = session.subscribe()
    out = sys.stdout
    ended = False
    try:
        for host, st in session.host_states().items():
            line = {"kind": "resync", "host": host, "state": st.state, "error": st.error,
                    "report": st.report.to_dict() if st.report else None}
            out.write(json.dumps(line, sort_keys=True) + "\n")
        last = check_line(session)
        if last is not None:
            out.write(json.dumps(last, sort_keys=True) + "\n")
        out.flush()
        try:
            for ev in sub:
                ended = _is_end(ev)
                out.write(json.dumps(ev.to_dict(), sort_keys=True, default=str) + "\n")
                now = check_line(session) if last is not None else None
                if now is not None and now != last:  # a line only when the findings change
                    last = now
                    out.write(json.dumps(now, sort_keys=True) + "\n")
                out.flush()
        except KeyboardInterrupt:
            pass
        if not ended:  # interrupted: the subscription's own end, once
            sub.close()
            while (left := sub.get(0)) is not None:
                if _is_end(left):
                    out.write(json.dumps(left.to_dict(), sort_keys=True, default=str) + "\n")
            out.flush()
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        sub.close()
    return EXIT_OK


def _is_end(ev: SessionEvent) -> bool:
    """The subscription's last event (not a followed unit's ``end``)."""
    return ev.kind == "end" and ev.host == "" and ev.data.get("stream") == "subscribe"


def _live(session: FleetSession) -> int:
    from rich.live import Live

    from barnum.views.render import make_console

    marks, flaps = Highlights(), Flapping()
    stats: dict[str, Any] = {}
    sub = session.subscribe()
    stop = threading.Event()

    def refresh_stats() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                stats.update(session.stats())
            stop.wait(STATS_EVERY)

    threading.Thread(target=refresh_stats, daemon=True).start()
    console = make_console()
    with _cbreak(), Live(view(session, marks, flaps, stats, time.time()), console=console,
                         auto_refresh=False, screen=False) as live:
        last = 0.0
        while not _quit_pressed():
            ev = sub.get(0.25)
            if ev is not None:
                marks.note(ev)
                flaps.note_event(ev)
            elif sub.closed:  # the (warm) session ended: its hosts read down; no spinning
                stop.wait(0.25)
            now = time.time()
            if now - last >= 0.25:
                live.update(view(session, marks, flaps, stats, now), refresh=True)
                last = now
    stop.set()
    sub.close()
    return EXIT_OK


@contextlib.contextmanager
def _cbreak():
    """Single keys from the terminal (for ``q``), restored whatever happens."""
    if not sys.stdin.isatty():
        yield
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _quit_pressed() -> bool:
    if not sys.stdin.isatty():
        return False
    ready, _, _ = select.select([sys.stdin], [], [], 0)
    return bool(ready) and sys.stdin.read(1) in ("q", "Q")
