"""Pure: which session events the shell shows at the prompt, and as what line.

Shown: a watcher started, stopped, added or removed; a process that exited
(``reap``) while its watcher was not being stopped; a watcher that starts
flapping (barnum.live.flapping, the detector watch and the web page use); a unit whose state
changed; a host that went down, stale, or came back.  Not shown: snapshots,
stats, log lines, and the echo of the shell's own command (the answer
already said it): :class:`Echo` remembers what the shell just did.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from barnum.live.flapping import Flapping
from barnum.model.linkstate import LinkState
from barnum.text.sanitize import clean

if TYPE_CHECKING:
    from barnum.live.session import SessionEvent

ECHO_AFTER = 3.0  # seconds after a command its own events are still its echo
NEWS = (LinkState.DOWN, LinkState.STALE, LinkState.UP)  # host states said at the prompt
WATCHER_VERB = {"start": "started", "stop": "stopped", "add": "added", "remove": "removed"}


@dataclass
class Echo:
    """(host, watcher) pairs the shell is acting on, until a deadline (None: any watcher)."""

    until: dict[tuple[str, str | None], float] = field(default_factory=dict)

    def expect(self, hosts: list[str], watcher: str | None, until: float) -> None:
        for h in hosts:
            self.until[(h, watcher)] = until

    def explains(self, host: str, watcher: str | None, now: float) -> bool:
        return any(self.until.get((host, w), 0.0) >= now for w in (watcher, None))


@dataclass
class EventView:
    """The stateful part: the shell's echo, and each host's last shown state (so a
    host that keeps failing to reconnect is said down once, not every retry)."""

    echo: Echo = field(default_factory=Echo)
    hosts: dict[str, str] = field(default_factory=dict)
    flaps: Flapping = field(default_factory=Flapping)  # the one detector (barnum.live.flapping)

    def line(self, ev: SessionEvent, now: float | None = None) -> str | None:
        if ev.kind == "host":
            state = ev.data.get("state")
            if state not in NEWS or self.hosts.get(ev.host, LinkState.UP) == state:
                return None
            self.hosts[ev.host] = state
        text = event_line(ev, self.echo, now)
        if self.flaps.note_event(ev):  # said once per bout, even when the exit was our echo
            who = f"{clean(ev.host)} {clean(ev.data.get('user') or '?')}"
            flap = (f"{who}: {clean(ev.data.get('watcher'))} is FLAPPING ({self.flaps.exits} "
                    f"exits within {self.flaps.window:g}s)")
            return flap if text is None else f"{text}; {flap.split(': ', 1)[1]}"
        return text


def event_line(ev: SessionEvent, echo: Echo | None = None, now: float | None = None
               ) -> str | None:
    """``host1 user1: ticker stopped`` for an event worth showing, else None."""
    d = ev.data
    now = time.time() if now is None else now
    who = f"{clean(ev.host)} {clean(d.get('user') or '?')}"
    if ev.kind == "circus":
        watcher, action = d.get("watcher"), d.get("action")
        if not isinstance(watcher, str) or not isinstance(action, str):
            return None
        if echo is not None and echo.explains(ev.host, watcher, now):
            return None
        if action in WATCHER_VERB:
            return f"{who}: {clean(watcher)} {WATCHER_VERB[action]}"
        if action == "reap":
            body = b if isinstance(b := d.get("data"), dict) else {}
            pid, code = body.get("process_pid"), body.get("exit_code")
            how = (f"killed by signal {-code}" if isinstance(code, int) and code < 0
                   else f"exit code {code}" if isinstance(code, int) else "exited")
            return f"{who}: {clean(watcher)}: process {pid} exited ({how})"
        return None
    if ev.kind == "unit":
        if d.get("removed"):
            return f"{clean(ev.host)}: {clean(d.get('unit') or '?')} removed"
        state = d.get("active_state")
        if not isinstance(state, str):
            return None
        sub = d.get("sub_state")
        return (f"{clean(ev.host)}: {clean(d.get('unit') or '?')} is {clean(state)}"
                + (f" ({clean(sub)})" if isinstance(sub, str) and sub else ""))
    if ev.kind == "instance":
        inst = i if isinstance(i := d.get("instance"), dict) else {}
        return f"{clean(ev.host)}: new circus instance {clean(inst.get('unit') or '?')}"
    if ev.kind == "host":
        state = d.get("state")
        if state in (LinkState.DOWN, LinkState.STALE):
            return f"{clean(ev.host)}: {state}: {clean(d.get('error') or '')}".rstrip(": ")
        if state == LinkState.UP:
            return f"{clean(ev.host)}: up"
    if ev.kind == "rejected":  # at most one a second per host (barnum.live.session)
        return f"{clean(ev.host)}: bailey sent a bad message, dropped: {clean(d.get('reason'))}"
    if ev.kind == "dropped":
        return f"{d.get('count')} events dropped (the shell read too slowly)"
    return None
