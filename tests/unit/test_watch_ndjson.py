"""``barnum watch --json`` ends its stream with the subscription's ``end`` line, once:
when the session closes it, and when the operator interrupts it."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

from barnum.cli.commands.watch import _ndjson
from barnum.live.session import HostState, SessionEvent, Subscription


class _Session:
    """The part of a session ``_ndjson`` reads: its states, config and events."""

    def __init__(self, sub: Subscription) -> None:
        self.sub = sub
        self.config = SimpleNamespace(expect=None)

    def subscribe(self) -> Subscription:
        return self.sub

    def host_states(self) -> dict[str, HostState]:
        return {"host1": HostState("host1")}


def _lines(capsys) -> list[dict]:
    return [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]


def test_the_stream_closed_by_the_session_ends_with_one_end_line(capsys):
    sub = Subscription(None)
    sub.put(SessionEvent("circus", "host1", {"watcher": "ticker"}))
    threading.Timer(0.2, sub.close).start()
    assert _ndjson(_Session(sub)) == 0  # type: ignore[arg-type]
    lines = _lines(capsys)
    assert [ln["kind"] for ln in lines] == ["resync", "circus", "end"]
    assert lines[-1]["stream"] == "subscribe" and lines[-1]["host"] == ""


class _Interrupted(Subscription):
    """One event, then Ctrl-C while waiting for the next."""

    def __iter__(self):
        yield SessionEvent("unit", "host1", {"unit": "u"})
        raise KeyboardInterrupt


def test_an_interrupted_stream_still_ends_with_its_end_line(capsys):
    assert _ndjson(_Session(_Interrupted(None))) == 0  # type: ignore[arg-type]
    lines = _lines(capsys)
    assert [ln["kind"] for ln in lines] == ["resync", "unit", "end"]
    assert lines[-1]["reason"] == "closed"
