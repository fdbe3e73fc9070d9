"""Session semantics on the real fleet: one watcher name, one flapping detector, typed
errors from bailey's codes, a structured config_error read by drift, explicit stream ends.

Changes are staged directly on a host (nsenter: circusctl as the user); the
session must learn of them by itself.  Each test puts the host back.
"""

from __future__ import annotations

import json
import time

import pytest

from barnum.live.errors import BadRequest, NotFound
from barnum.live.flapping import Flapping
from barnum.shell.events import EventView
from barnum.web.history import History
from tests.e2e.test_barnum_e2e import circusctl
from tests.integration.test_session import (
    HOST,
    UNIT,
    USER,
    _endpoint,
    _watchers,
    run_command,
)
from tests.waiting import until

pytestmark = pytest.mark.fleet

NAME = "BigFlapper"  # circus's events call it "bigflapper"


def test_capitalised_watcher_flapping_is_seen_by_the_one_detector(fleet, session):
    """A watcher with capitals that keeps exiting: the session publishes its events
    under the name ``status`` gives, so watch's, the page's and the shell's detector
    (barnum.live.flapping) all flag it, by the name they show."""
    sub = session.subscribe()
    flaps, page, shell = Flapping(), History(), EventView()
    ctl = [str(fleet.venv / "bin" / "circusctl"), "--endpoint", _endpoint(fleet)]
    p = fleet.exec(HOST, [*ctl, "add", "--start", NAME, "/bin/sh -c 'sleep 1; exit 3'"],
                   user=USER)
    assert p.returncode == 0, p.stderr
    try:
        assert until(lambda: NAME in (_watchers(session) or {}), within=15), _watchers(session)
        while sub.get(0) is not None:  # from before the session knew the name: circus's own
            pass
        key = (HOST, USER, NAME)
        said: list[str] = []
        names: set[str] = set()
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not (flaps.flapping(key) and page.flapping(key)
                                                   and said):
            ev = sub.get(0.5)
            if ev is None or ev.kind != "circus" or ev.data.get("watcher", "").lower() \
                    != NAME.lower():
                continue
            names.add(ev.data["watcher"])
            flaps.note_event(ev)
            page.note_circus(ev.host, ev.data, ev.t)
            line = shell.line(ev)
            if line and "FLAPPING" in line:
                said.append(line)
        assert flaps.flapping(key) and page.flapping(key), flaps.moments(key)
        assert said and said[0].startswith(f"{HOST} {USER}: {NAME}"), said
        assert names == {NAME}  # never circus's "bigflapper" once the report knows it
    finally:
        circusctl(fleet, HOST, _endpoint(fleet), "rm", NAME)
        sub.close()


def test_drift_reads_config_error_as_a_field(fleet):
    """host4's user2 unit failed and its circus.ini is missing: drift's finding gives
    the cause from bailey's config_error (bailey/1 minor 1)."""
    p = run_command(fleet, "drift", "host4", "--json")
    assert p.stdout, p.stderr
    doc = json.loads(p.stdout)
    (failed,) = [f for f in doc["findings"] if f["kind"] == "unit-failed" and f["user"] == "user2"]
    ini = fleet.homes / "user2" / "circus" / "host4" / "circus.ini"
    assert failed["detail"] == f"systemd: failed/failed; config: {ini}: no such file"


def test_bailey_refusals_arrive_typed(fleet, session):
    """bailey's answer codes become the session's error types: the web's 400/404 and
    the CLI's exit 2 come from what bailey said, not from its words."""
    with pytest.raises(NotFound, match="to no file"):
        session.output(HOST, UNIT, "no-such-watcher", "stdout")
    with pytest.raises(BadRequest):
        session.logs("sshd.service", HOST)  # only circus units' journals


def test_a_followed_units_stream_ends_with_an_end_event(fleet, session):
    sub = session.subscribe(kinds={"log", "end"})
    try:
        key = session.follow_unit(HOST, UNIT)
        assert session.cancel_on(HOST, key)
        deadline = time.monotonic() + 15
        end = None
        while end is None and time.monotonic() < deadline:
            ev = sub.get(0.5)
            if ev is not None and ev.kind == "end" and ev.host == HOST:
                end = ev
        assert end is not None
        assert (end.data["stream"], end.data["unit"], end.data["reason"]) == (
            "logs", UNIT, "cancelled")
        assert end.data["sub"] == key[1]
    finally:
        sub.close()
    assert list(sub)[-1].kind == "end"  # and the subscription's own, last
