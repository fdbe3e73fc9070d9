"""An attached front end's stand-in session (barnum.warm.attach.Attached) over a real
Unix socket pair, the test playing the warm session's side of the stream: it keeps
each host's state as the session sends it, passes on its targets' events, and when
the session goes every host reads down and every subscription ends."""

from __future__ import annotations

import argparse
import io
import socket
from pathlib import Path

import pytest

from barnum.context import Context, Err
from barnum.live.session import HostState, SessionEvent
from barnum.model.config import Config
from barnum.model.discovery import Discovery
from barnum.model.linkstate import LinkState
from barnum.transport.options import Options
from barnum.warm import protocol
from barnum.warm.attach import ENDED, Attached
from barnum.warm.shared import event_dict, state_dict
from tests.waiting import until

HOSTS = {"host1": ["user1"], "host2": ["user1", "user2"], "host3": ["user1"]}


@pytest.fixture
def pair(tmp_path):
    """(the stand-in over host1 and host2, the session's end of its stream)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    args = argparse.Namespace(targets=[], explicit_targets=[])
    ctx = Context(args, Config(users=["user1", "user2"]), Options(), Discovery(dict(HOSTS)),
                  Err(io.StringIO()))
    states = {h: state_dict(HostState(h, LinkState.UP)) for h in HOSTS}
    a = Attached(ctx, ["host1", "host2"], tmp_path / "gone.sock", ours, states)
    a.start()
    yield a, theirs
    a.close()
    theirs.close()


def test_it_keeps_the_state_the_session_sends_and_only_its_targets_events(pair):
    a, theirs = pair
    assert list(a.host_states()) == ["host1", "host2"]
    sub = a.subscribe()
    for host in ("host3", "host2"):  # host3 is not a target: its event stays out
        ev = SessionEvent("host", host, {"state": "stale", "error": "no answer for 3 s"})
        protocol.send(theirs, {"ev": event_dict(ev), "state": state_dict(
            HostState(host, LinkState.STALE, "no answer for 3 s"))})
    got = sub.get(5)
    assert got is not None and got.host == "host2"
    st = a.host_states()["host2"]
    assert st.state == LinkState.STALE and st.error == "no answer for 3 s"
    assert a.snapshot().hosts[1].error == "no answer for 3 s"  # never the old state
    assert sub.get(0.2) is None


def test_when_the_session_goes_every_host_reads_down_and_streams_end(pair):
    a, theirs = pair
    sub = a.subscribe()
    theirs.close()  # the session died (or was stopped)
    assert until(lambda: all(st.state == LinkState.DOWN and st.error == ENDED
                             for st in a.host_states().values()), 5)
    kinds = [ev.kind for ev in sub]  # ends: the subscription is closed
    assert kinds == ["host", "host", "end"]
    assert a.subscribe().closed
    r = a.circusctl(["stop", "ticker"])
    assert [h.error for h in r.hosts] == [ENDED, ENDED] and r.exit_code == 3
    assert a.stats() == {"host1": ENDED, "host2": ENDED}


def test_a_stream_ended_by_the_session_says_so_once(pair):
    a, theirs = pair
    sub = a.subscribe()
    protocol.send(theirs, {"end": "the warm session closed"})
    assert [ev.kind for ev in sub][-1] == "end"
    assert a.host_states()["host1"].error == ENDED


def test_leaving_closes_the_subscriptions_without_marking_hosts_down(pair):
    a, _theirs = pair
    sub = a.subscribe()
    a.close()
    assert [ev.kind for ev in sub] == ["end"]
    assert a.host_states()["host1"].state == LinkState.UP


def test_a_call_with_no_session_to_answer_it_is_a_host_failure(pair):
    a, _theirs = pair
    assert not Path(a.path).exists()
    r = a.refresh(["host1"])
    assert [(h.host, h.error) for h in r.hosts] == [("host1", ENDED)]
