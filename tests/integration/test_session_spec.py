"""FleetSession's groups and expectations on the real fleet: the API the web page and
the shell use.  A watcher is stopped on the host (nsenter + circusctl); the session's
check() must turn red by the pushed event alone, then green again."""

from __future__ import annotations

import pytest

from barnum.live.session import FleetSession
from barnum.model.config import load_config
from barnum.spec.expect import check_session
from barnum.transport.options import Options
from tests.e2e.test_barnum_e2e import circusctl
from tests.waiting import until

pytestmark = pytest.mark.fleet


@pytest.fixture
def session(fleet, tmp_path):
    f = tmp_path / "circus_users.yaml"
    f.write_text(fleet.users_file.read_text() + (
        "groups:\n  itg: [host1, host2]\n  ones: ['user1@*']\n"
        "expect:\n  '@itg': {user1: [sleeper, ticker]}\n"))
    cfg = load_config(f)
    s = FleetSession(cfg, Options.from_config(cfg, timeout=4), targets=["@itg"]).open()
    yield s
    s.close()


def test_groups_within_the_session(session):
    assert session.hosts == ["host1", "host2"]
    assert session.groups() == {"itg": {"host1": [], "host2": []},
                                "ones": {"host1": ["user1"], "host2": ["user1"]}}
    assert session.resolve(["@itg,!host2"]) == {"host1": []}
    assert session.snapshot(["@ones"]).groups["itg"] == {"host1": [], "host2": []}


def test_check_follows_the_pushed_state(fleet, session):
    assert until(lambda: check_session(session).exit_code == 0)
    ep = f"tcp://127.0.0.1:{fleet.port('user1')}"
    assert circusctl(fleet, "host2", ep, "stop", "ticker").returncode == 0
    try:
        c = until(lambda: (lambda c: c if c.exit_code == 1 else None)(check_session(session)))
        assert c, "check never turned red"
        assert [(f.kind, f.host, f.watcher) for f in c.problems] == [
            ("watcher-stopped", "host2", "ticker")]
        cell = next(x for x in c.cells if (x.host, x.user) == ("host2", "user1"))
        assert cell.watchers == {"sleeper": "ok", "ticker": "stopped"}
    finally:
        circusctl(fleet, "host2", ep, "start", "ticker")
    assert until(lambda: check_session(session).exit_code == 0)
