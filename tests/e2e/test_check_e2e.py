"""``barnum check`` on the real fleet: a stopped and a missing expected watcher, a
disabled expected instance, a failed unit; each finding matched with the truth read
on the hosts (nsenter + circusctl / systemctl), never with barnum's own output."""

from __future__ import annotations

import json

import pytest

from tests.e2e.subcommand import run_sub
from tests.e2e.test_barnum_e2e import circusctl, truth_units

pytestmark = pytest.mark.fleet


def users_file(fleet, tmp_path, tail: str):
    f = tmp_path / "circus_users.yaml"
    f.write_text(fleet.users_file.read_text() + "groups:\n  itg: [host1, host2]\n" + tail)
    return f


def endpoint(fleet, user):
    return f"tcp://127.0.0.1:{fleet.port(user)}"


def truth_watchers(fleet, host, user) -> dict[str, str]:
    p = circusctl(fleet, host, endpoint(fleet, user), "status")
    assert p.returncode == 0, p.stderr
    return dict(line.split(": ", 1) for line in p.stdout.strip().splitlines())


def findings(doc):
    return {(f["kind"], f["host"], f["user"], f["watcher"]) for f in doc["findings"]
            if f["severity"] != "note"}


def test_as_expected_exit_0(fleet, tmp_path):
    cfg = users_file(fleet, tmp_path, "expect:\n  '@itg': {user1: [sleeper, ticker]}\n")
    p = run_sub(fleet, cfg, "check", "@itg")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "check: as expected: 2/2 expected instances fine" in p.stdout
    # user2's instances: nothing expects them, so they are notes
    assert "note host1 user2: active instance that nothing expects" in p.stdout


def test_stopped_and_missing_watchers_against_the_truth(fleet, tmp_path):
    cfg = users_file(fleet, tmp_path, (
        "expect:\n"
        "  '@itg': {user1: [sleeper, ticker], user2: [sleeper, kafka]}\n"
    ))
    ep = endpoint(fleet, "user1")
    assert circusctl(fleet, "host1", ep, "stop", "ticker").returncode == 0
    try:
        truth = {h: {u: truth_watchers(fleet, h, u) for u in ("user1", "user2")}
                 for h in ("host1", "host2")}
        p = run_sub(fleet, cfg, "check", "--json", "@itg")
        doc = json.loads(p.stdout)
        assert p.returncode == 1 == doc["exit"], p.stderr
        expected = set()
        for h, users in truth.items():
            for u, want in (("user1", ["sleeper", "ticker"]), ("user2", ["sleeper", "kafka"])):
                for w in want:
                    if w not in users[u]:
                        expected.add(("watcher-missing", h, u, w))
                    elif users[u][w] != "active":
                        expected.add(("watcher-stopped", h, u, w))
        assert ("watcher-stopped", "host1", "user1", "ticker") in expected  # staged
        assert findings(doc) == expected
        cell = next(c for c in doc["cells"] if (c["host"], c["user"]) == ("host1", "user1"))
        assert cell["watchers"] == {"sleeper": "ok", "ticker": "stopped"}
        text = run_sub(fleet, cfg, "check", "@itg")
        assert "FAIL host1 user1 ticker: expected watcher is not active (stopped)" in text.stdout
        assert "check: NOT as expected" in text.stdout
    finally:
        circusctl(fleet, "host1", ep, "start", "ticker")


def test_unit_states_against_systemd(fleet, tmp_path):
    cfg = users_file(fleet, tmp_path, "expect:\n  host3: {user1: [sleeper], user2: [sleeper]}\n")
    p = run_sub(fleet, cfg, "check", "--json", "host3")
    doc = json.loads(p.stdout)
    assert p.returncode == 1
    units = truth_units(fleet, "host3")
    expected = set()
    for unit, props in units.items():
        user = unit.split("_")[1]
        if props["ActiveState"] == "failed":
            expected.add(("unit-failed", "host3", user, None))
        elif props["ActiveState"] != "active" and user in ("user1", "user2"):
            expected.add(("instance-inactive", "host3", user, None))
        elif props["ActiveState"] != "active" and props["UnitFileState"] == "enabled":
            expected.add(("enabled-inactive", "host3", user, None))
    assert expected == {("unit-failed", "host3", "user3", None),
                        ("instance-inactive", "host3", "user2", None)}  # as staged
    assert findings(doc) == expected


def test_missing_instance_and_unreachable_host(fleet, tmp_path):
    cfg = users_file(fleet, tmp_path, "expect:\n  host2: {user3: []}\n  host1: {user1: []}\n")
    assert "circus_user3_host2.service" not in truth_units(fleet, "host2")
    with fleet.sshd_hang("host1"):
        p = run_sub(fleet, cfg, "check", "--json", "--timeout", "3", "host1", "host2")
    doc = json.loads(p.stdout)
    assert p.returncode == 3 == doc["exit"]
    assert findings(doc) == {("missing-instance", "host2", "user3", None),
                             ("host-unknown", "host1", None, None)}
