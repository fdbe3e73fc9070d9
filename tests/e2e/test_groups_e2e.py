"""Groups and target expressions, end to end on the real fleet: the instances barnum
reports for ``@group`` expressions are the units systemd has on those hosts."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_barnum_e2e import run_barnum, truth_units

pytestmark = pytest.mark.fleet


@pytest.fixture
def grouped(fleet, tmp_path):
    """The fleet's users file plus groups."""
    f = tmp_path / "circus_users.yaml"
    f.write_text(fleet.users_file.read_text() + (
        "groups:\n"
        "  itg: [host1, host2]\n"
        "  dev: ['host[3-4]']\n"
        "  ones: ['user1@*']\n"
    ))
    return f


def _json(fleet, config, *targets):
    p = run_barnum(fleet, "--json", *targets, config=config)
    return p, json.loads(p.stdout)


def test_exclusion_and_intersection_select_what_systemd_has(fleet, grouped):
    p, doc = _json(fleet, grouped, "@itg,!host2")
    assert p.returncode == 0, p.stderr
    assert [h["host"] for h in doc["hosts"]] == ["host1"]
    units = {i["unit"] for i in doc["hosts"][0]["bailey"]["instances"]}
    assert units == set(truth_units(fleet, "host1"))
    assert doc["hosts"][0]["groups"] == ["itg", "ones"]
    assert doc["groups"]["itg"] == {"host1": [], "host2": []}
    assert doc["groups"]["ones"] == {h: ["user1"] for h in ("host1", "host2", "host3", "host4")}

    p, doc = _json(fleet, grouped, "@dev&@ones")
    assert {h["host"]: h["users"] for h in doc["hosts"]} == {"host3": ["user1"],
                                                             "host4": ["user1"]}
    for h in doc["hosts"]:
        assert [i["unit"] for i in h["bailey"]["instances"]] == [f"circus_user1_{h['host']}"
                                                                 ".service"]
        assert f"circus_user1_{h['host']}.service" in truth_units(fleet, h["host"])


def test_group_by_group_sections(fleet, grouped):
    p = run_barnum(fleet, "--group-by", "group", "@itg", config=grouped)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert out.index("@itg") < out.index("host1") < out.index("host2")
    assert "@dev" not in out  # no host of it was looked at
    p = run_barnum(fleet, "--group-by", "group", config=grouped)
    out = p.stdout
    assert out.index("@dev") < out.index("host3") < out.index("@itg") < out.index("host1")
    assert "@ones" in out and "(in no group)" not in out


def test_unknown_group_is_a_usage_error_with_close_matches(fleet, grouped):
    p = run_barnum(fleet, "@itgg", config=grouped)
    assert p.returncode == 2
    assert p.stderr.strip() == ("barnum: error: unknown group '@itgg'; did you mean @itg?")
