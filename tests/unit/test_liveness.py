"""The idle session's clock (barnum.live.liveness) and bailey's systemd settle poll."""

from __future__ import annotations

import pytest

from bailey.watch import SAFETY_POLL, SETTLE_FIRST, SETTLE_MAX, next_settle
from barnum.live.liveness import DEFAULT, LEGACY, Liveness, Polling, spread


def clock(every: float = 15.0, timeout: float = 4.0) -> Liveness:
    return Liveness(every, timeout, max_wait=60.0, heard_at=100.0)


def test_a_quiet_host_is_pinged_once_its_silence_reaches_the_interval():
    live = clock()
    assert not live.due_ping(114.9)
    assert live.due_ping(115.0)
    live.pinged(115.0)
    assert not live.due_ping(116.0)  # one ping out at a time


def test_any_line_counts_as_heard_and_answers_the_ping():
    live = clock()
    live.pinged(115.0)
    live.heard(117.0)  # a pushed event, not the ping's answer: alive all the same
    assert live.ping_at is None and live.verdict(200.0) is None
    assert not live.due_ping(131.9) and live.due_ping(132.0)


def test_an_unanswered_ping_goes_stale_then_down():
    live = clock(timeout=4.0)
    live.pinged(115.0)
    assert live.verdict(119.0) is None
    assert live.verdict(119.5) == "stale"
    assert live.verdict(123.0) == "stale"
    assert live.verdict(123.5) == "down"


def test_the_reader_blocks_until_the_next_thing_is_due_and_no_longer():
    live = clock(every=15.0, timeout=4.0)
    assert live.wait(101.0) == pytest.approx(14.01)  # until the ping
    live.pinged(115.0)
    assert live.wait(115.0) == pytest.approx(4.01)  # until stale
    assert live.verdict(115.0 + live.wait(115.0)) == "stale"
    assert live.wait(119.5) == pytest.approx(3.51)  # until down
    assert live.verdict(119.5 + live.wait(119.5)) == "down"
    assert live.wait(500.0) == 0.0  # overdue: now


def test_the_wait_is_capped():
    live = Liveness(3600.0, 4.0, max_wait=60.0, heard_at=0.0)
    assert live.wait(0.0) == 60.0


def test_the_documented_bound_holds_for_a_host_silent_from_its_last_line():
    """Walk a reader that only wakes when wait() says: down within down_within."""
    for polling, timeout in ((DEFAULT, 10.0), (DEFAULT, 4.0), (LEGACY, 10.0)):
        live = Liveness(polling.ping_every(timeout), timeout, polling.max_wait, heard_at=0.0)
        now = 0.0
        while live.verdict(now) != "down":
            if live.due_ping(now):
                live.pinged(now)
            now += live.wait(now)
            assert now < 10 * polling.down_within(timeout)  # it does get there
        assert now <= polling.down_within(timeout) + 0.1


def test_hosts_spread_their_pings_within_the_jitter():
    cuts = {spread(f"host{i}", 0.25) for i in range(1, 97)}
    assert all(0 <= c < 0.25 for c in cuts)
    assert len(cuts) > 80  # not all on the same beat
    assert spread("host1", 0.25) == spread("host1", 0.25)
    assert spread("host1", 0.0) == 0.0


def test_legacy_pings_at_half_the_timeout_when_that_is_shorter():
    assert LEGACY.ping_every(4.0) == 2.0 and LEGACY.ping_every(30.0) == 5.0
    assert DEFAULT.ping_every(4.0) == 4.0 and DEFAULT.ping_every(100.0) == DEFAULT.ping_idle
    assert Polling().down_within(10.0) == 30.0  # three times the timeout
    assert Polling(ping_idle=20.0).down_within(30.0) == 80.0


def test_the_default_wakes_far_less_than_the_legacy_settings():
    assert DEFAULT.transport_poll >= 100 * LEGACY.transport_poll
    assert DEFAULT.max_wait > LEGACY.max_wait and DEFAULT.keepalive == 0
    assert DEFAULT.safety_poll == SAFETY_POLL > LEGACY.safety_poll


def test_settle_poll_runs_only_while_something_moves():
    assert next_settle(0.0, changed=False, moving=False) == 0.0  # still: safety poll only
    assert next_settle(0.0, changed=True, moving=False) == SETTLE_FIRST
    s = SETTLE_FIRST
    seen = []
    for _ in range(10):  # a unit stuck activating: backs off, never past the cap
        s = next_settle(s, changed=False, moving=True)
        seen.append(s)
    assert seen == sorted(seen) and seen[-1] == SETTLE_MAX
    assert next_settle(SETTLE_MAX, changed=True, moving=True) == SETTLE_FIRST
    assert next_settle(SETTLE_MAX, changed=False, moving=False) == 0.0


def test_the_session_asks_bailey_for_its_safety_poll_only_when_not_the_default():
    from types import SimpleNamespace

    from barnum.live.session import FleetSession

    assert FleetSession.subscribe_args(SimpleNamespace(polling=DEFAULT)) == {}  # type: ignore[arg-type]
    assert FleetSession.subscribe_args(SimpleNamespace(polling=LEGACY)) == {  # type: ignore[arg-type]
        "safety_poll": 10.0}


@pytest.mark.parametrize("poll", [0, 0.5, 3601, True, "60"])
def test_bailey_refuses_a_safety_poll_out_of_range(poll):
    import io
    import json

    from bailey.host import Options
    from bailey.serve import Server
    from tests.waiting import until

    out = io.BytesIO()
    server = Server(Options(), out=out)
    server.handle(json.dumps({"id": 7, "op": "subscribe", "safety_poll": poll}).encode())
    assert until(lambda: out.getvalue(), 5)
    answer = json.loads(out.getvalue().splitlines()[-1])
    assert answer["id"] == 7 and answer["ok"] is False
    assert "safety_poll must be from 1 to 3600 seconds" in answer["error"]


def test_quiet_makes_paramikos_reader_block_long_and_drops_its_keepalive():
    import socket

    import paramiko

    from barnum.transport.quiet import quiet

    a, b = socket.socketpair()
    try:
        t = paramiko.Transport(a)
        assert a.gettimeout() == 0.1  # paramiko's own: ten wake-ups a second
        quiet(t, 30.0, 0)
        assert a.gettimeout() == 30.0
        assert t.packetizer._Packetizer__keepalive_interval == 0
    finally:
        a.close()
        b.close()


def test_shut_wakes_a_reader_blocked_on_the_socket():
    """A thread in recv() with a 30 s timeout ends at once (a close() alone would not
    wake it, and would hold the FIN back until its read returned)."""
    import socket
    import threading
    from types import SimpleNamespace

    from barnum.transport.quiet import shut

    a, b = socket.socketpair()
    a.settimeout(30.0)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(a.recv(10)))
    reader.start()
    try:
        shut(SimpleNamespace(sock=a))
        reader.join(10)
        assert not reader.is_alive() and got == [b""]
        assert b.recv(10) == b""  # the peer saw the end
        shut(SimpleNamespace(sock=a))  # twice, or on a closed socket: no error
        shut(SimpleNamespace(sock=None))
    finally:
        a.close()
        b.close()
