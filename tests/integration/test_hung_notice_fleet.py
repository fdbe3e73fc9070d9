"""A circusd that stops answering is noticed by bailey --serve itself, on the real fleet.

SIGSTOP keeps the unit active and the feed's connection open, so nothing is
pushed by circus or systemd: bailey's liveness probe (bailey.watch PROBE_EVERY)
must find it, long before its safety re-read (SAFETY_POLL, 60 s).  The session's
snapshot then names that unit alone "circusd not answering"; SIGCONT brings it
back the same way.
"""

from __future__ import annotations

import pytest

from bailey.protocol import SAFETY_POLL
from bailey.watch import PROBE_EVERY
from barnum.model.circusd import not_answering
from tests.waiting import until

pytestmark = pytest.mark.fleet

HOST, USER = "host1", "user2"
UNIT = f"circus_{USER}_{HOST}.service"
TIMEOUT = 4  # barnum's per host: bailey's circusd timeout is 2 s
# the probe's period, its timeout, then the instance read again, and room for a busy
# machine: still well short of the safety re-read that found it before
BOUND = 2 * PROBE_EVERY + 10
assert BOUND < SAFETY_POLL


def _hung(session) -> dict[tuple[str, str], bool]:
    """(host, unit) -> circusd not answering, for every instance the session shows."""
    out = {}
    for host, st in session.host_states().items():
        for i in st.report.instances if st.report else []:
            out[(host, i.unit)] = not_answering(i.active_state, i.state, i.error)
    return out


def test_a_newly_hung_circusd_is_noticed_without_a_refresh(fleet, session):
    before = _hung(session)
    assert before and not any(before.values()), before
    with fleet.circusd_hang(HOST, USER):
        seen = until(lambda: [k for k, v in _hung(session).items() if v], BOUND, 0.25)
        assert seen == [(HOST, UNIT)], seen  # that unit only, the others untouched
        assert fleet.exec(HOST, ["systemctl", "is-active", UNIT]).stdout.strip() == "active"
    back = until(lambda: not any(_hung(session).values()), BOUND, 0.25)
    assert back, _hung(session)
    assert set(_hung(session)) == set(before)
