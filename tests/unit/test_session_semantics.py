"""Session semantics in one place: host states, session errors, flapping, end events."""

from __future__ import annotations

import json

from barnum.live.session import HostState
from barnum.model.linkstate import LinkState, answers


def test_link_state_is_its_word():
    assert LinkState.UP == "up" and f"{LinkState.STALE}" == "stale"
    assert json.dumps({"state": LinkState.DOWN}) == '{"state": "down"}'


def test_only_up_and_stale_answer():
    assert {s for s in LinkState if s.answers} == {LinkState.UP, LinkState.STALE}
    assert answers("up") and answers("stale")
    assert not answers("down") and not answers(None) and not answers("absent")


def test_host_state_takes_a_word_as_the_type():
    st = HostState("host1", "stale")  # type: ignore[arg-type]  # as a recording gives it
    assert st.state is LinkState.STALE and st.state.answers
