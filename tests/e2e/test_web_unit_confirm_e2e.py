"""The web page's unit actions in real headless Chromium on the real fleet: above the
threshold the confirmation must be typed (a wrong word is refused and nothing runs),
and an operator whose sudo does not allow it gets the one-line error naming the
sudoers line.  The truth is read on the hosts (systemctl through nsenter)."""

from __future__ import annotations

import re

import pytest

from barnum.oneshot.units import SUDOERS_LINE
from tests.e2e.test_unit_e2e import _sudo_on_machine, rule, show  # noqa: F401 (fixtures)
from tests.e2e.test_web_e2e import (  # noqa: F401 (fixtures)
    WAIT,
    browser,
    page,
    served,
    shot,
    signed_in,
)
from tests.waiting import until

pytestmark = pytest.mark.fleet

HOSTS = ("host1", "host2")  # the hosts the rule fixture gives the sudoers line
USERS = ("user1", "user2")


@pytest.fixture
def threshold(served):  # noqa: F811
    """The page's threshold lowered to 3 for one test (four units are then above it)."""
    web = served["web"]
    old, web.threshold = web.threshold, 3
    yield 3
    web.threshold = old


@pytest.fixture
def refusable_page(browser, served):  # noqa: F811
    """An operator's page like ``page``, whose console may hold the refused POST's 400
    (the wrong word): any other error, or a script error, still fails the test."""
    with signed_in(browser, served) as (pg, errors):
        yield pg
    assert errors == ["Failed to load resource: the server responded with a status of 400 "
                      "(Bad Request)"], errors


def _plan(page, served, targets: str, action: str):  # noqa: F811
    """The bulk form on the targets' selection: the confirmation dialog opens."""
    page.goto(served["base"] + "/?t=" + targets)
    page.select_option('form.bulk select[name="action"]', action)
    page.locator("#act-selection").click()
    page.wait_for_selector("#confirm[open]")


def test_above_the_threshold_the_word_is_typed_and_a_wrong_one_refused(
        fleet, refusable_page, served, rule, threshold):  # noqa: F811
    from playwright.sync_api import expect

    pg = refusable_page

    units = [(h, u) for h in HOSTS for u in USERS
             if show(fleet, h, u, "ActiveState") == "active"]
    assert len(units) > threshold, units
    before = {k: show(fleet, *k, "MainPID") for k in units}
    _plan(pg, served, "host[1-2]", "unit-restart")
    n = len(units)
    expect(pg.locator("#confirm-text")).to_have_text(f"restart {n} units on 2 hosts:")
    expect(pg.locator("#confirm-type")).to_be_visible()
    expect(pg.locator("#confirm-word")).to_have_text(str(n))
    pg.fill("#confirm-input", "host1")  # a name, not the word asked for
    shot(pg, "confirm-units-typed-wrong")
    pg.locator("#confirm-ok").click()
    expect(pg.locator("#results .error")).to_have_text(f"type '{n}' to confirm")
    assert {k: show(fleet, *k, "MainPID") for k in units} == before  # nothing ran

    _plan(pg, served, "host[1-2]", "unit-restart")
    pg.fill("#confirm-input", str(n))
    pg.locator("#confirm-ok").click()
    done = pg.locator("#results li.ok")
    expect(done).to_have_count(n, timeout=4 * WAIT * 1000)
    for host, user in units:
        expect(pg.locator("#results")).to_contain_text(
            f"circus_{user}_{host}.service on {user}@{host}: ok")
    assert pg.locator("#results li.bad").count() == 0
    for k in units:  # each restarted on its host: a new main process, active
        assert until(lambda k=k: show(fleet, *k, "ActiveState") == "active"
                     and show(fleet, *k, "MainPID") not in (before[k], "0"), WAIT), k


def test_without_the_sudoers_line_the_page_names_it(fleet, page, served):  # noqa: F811
    from playwright.sync_api import expect

    host, user = "host1", "user1"
    unit = f"circus_{user}_{host}.service"
    pid = show(fleet, host, user, "MainPID")
    _plan(page, served, f"{user}@{host}", "unit-restart")
    expect(page.locator("#confirm-text")).to_have_text("restart 1 unit on 1 host:")
    expect(page.locator("#confirm-type")).to_be_hidden()  # below the threshold
    page.locator("#confirm-ok").click()
    bad = page.locator("#results li.bad")
    expect(bad).to_have_count(1, timeout=4 * WAIT * 1000)
    text = bad.inner_text()
    assert "\n" not in text.strip(), text  # one line
    assert re.search(rf"may not run 'systemctl restart {re.escape(unit)}' as root on {host}",
                     text), text
    assert text.strip().endswith(f"add to its sudoers: {SUDOERS_LINE}"), text
    shot(page, "unit-restart-denied")
    assert show(fleet, host, user, "MainPID") == pid  # nothing was restarted
    assert show(fleet, host, user, "ActiveState") == "active"
