"""A followed journal that ends by itself, in real headless Chromium on the real fleet.

bailey's ``journalctl -f`` is killed on the host (nsenter): its follow ends with an
``end`` event ("ended"), and the web hub follows the journal again, so the open
page keeps getting lines.  When it keeps ending (REFOLLOW_MAX times within the
window) the hub gives up: ``/api/logs/stream`` sends an SSE ``end`` event, the page
says so and stops, and nothing is left following on the host.
"""

from __future__ import annotations

import pytest

from barnum.web.hub import REFOLLOW_MAX
from tests.e2e.test_barnum_e2e import circusctl
from tests.e2e.test_web_e2e import (  # noqa: F401 (fixtures)
    WAIT,
    _endpoint,
    _followers,
    browser,
    served,
    sign_in,
)
from tests.waiting import until

pytestmark = pytest.mark.fleet

HOST, USER = "host1", "user2"
UNIT = f"circus_{USER}_{HOST}.service"
ENDED = "the journal stream ended"


@pytest.fixture
def logs_page(fleet, browser, served):  # noqa: F811
    """The unit's journal page open (followed: one journalctl -f on the host); after
    it closes, the hub lets go and nothing follows on the host."""
    hub = served["web"].hub
    assert until(lambda: not _followers(fleet, HOST, UNIT), WAIT), "an earlier follow is left"
    ctx = browser.new_context()
    pg = ctx.new_page()
    sign_in(pg, served)
    pg.goto(served["base"] + "/logs?" + f"host={HOST}&unit={UNIT}")
    pg.wait_for_selector("pre#log")
    assert until(lambda: hub.following().get((HOST, UNIT)) == 1, WAIT)
    assert until(lambda: len(_followers(fleet, HOST, UNIT)) == 1, WAIT)
    yield pg
    ctx.close()
    assert until(lambda: (HOST, UNIT) not in hub.following(), WAIT)
    assert until(lambda: not _followers(fleet, HOST, UNIT), WAIT), "journalctl -f left"


def _new_follower(fleet, old: list[str]) -> str:
    """The pid of a journalctl -f on the host that is none of ``old`` (waited for)."""
    new = until(lambda: [p for p in _followers(fleet, HOST, UNIT) if p not in old], WAIT)
    assert new, f"the journal was not followed again after {len(old)} ends"
    return new[0]


def test_a_journal_that_ends_by_itself_is_followed_again(fleet, logs_page):
    from playwright.sync_api import expect

    first = _new_follower(fleet, [])
    fleet.exec(HOST, ["kill", "-TERM", first])
    _new_follower(fleet, [first])
    stopped = logs_page.locator("pre#log .ln", has_text="sleeper stopped")
    before = stopped.count()
    try:
        circusctl(fleet, HOST, _endpoint(fleet, USER), "stop", "sleeper")
        expect(stopped).to_have_count(before + 1, timeout=WAIT * 1000)  # same page, live
    finally:
        circusctl(fleet, HOST, _endpoint(fleet, USER), "start", "sleeper")
    assert logs_page.locator("pre#log .ended").count() == 0


def test_a_journal_that_keeps_ending_is_told_to_the_page(fleet, served, logs_page):  # noqa: F811
    from playwright.sync_api import expect

    killed: list[str] = []
    for _ in range(REFOLLOW_MAX + 1):  # each refollow's journalctl killed in turn
        pid = _new_follower(fleet, killed)
        fleet.exec(HOST, ["kill", "-TERM", pid])
        killed.append(pid)
    note = logs_page.locator("pre#log .ended")
    expect(note).to_have_count(1, timeout=WAIT * 1000)
    expect(note).to_contain_text(ENDED)
    expect(note).to_contain_text(f"{REFOLLOW_MAX + 1} times")
    # the page's stream is over: the hub lets go and nothing follows on the host
    assert until(lambda: (HOST, UNIT) not in served["web"].hub.following(), WAIT)
    assert until(lambda: not _followers(fleet, HOST, UNIT), WAIT)
