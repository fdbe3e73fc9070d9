"""barnum.spec.expect.check: the fleet as it is against the users file's expect:."""

from bailey.report import ERROR, INACTIVE, OK, UNIT_FAILED, Instance, Report
from barnum.model.results import FleetResult, HostResult
from barnum.spec.expect import check, expected_instances

HOSTS = {"host1": ["user1", "user2"], "host2": ["user1"], "host3": ["user1", "user3"]}
GROUPS = {"itg": ["host1", "host2"], "gone": ["host9"]}


def inst(user, host, state=OK, watchers=None, enabled="enabled", active="active", error=None):
    return Instance(unit=f"circus_{user}_{host}.service", user=user, user_source="User=",
                    unit_file_state=enabled, active_state=active, sub_state="running",
                    state=state, watchers=watchers, error=error)


def host(name, *instances, error=None, users=()):
    rep = None if error else Report(host=name, bailey_version="x", circusctl_args=["status"],
                                     instances=list(instances))
    return HostResult(name, list(users), [], report=rep, error=error)


def kinds(c):
    return sorted((f.kind, f.host, f.user, f.watcher) for f in c.findings)


def test_as_expected_is_exit_0_with_notes_for_the_unexpected():
    r = FleetResult([
        host("host1", inst("user1", "host1", watchers={"kafka": "active", "extra": "active"}),
             inst("user2", "host1", watchers={"web": "active"})),
        host("host2", inst("user1", "host2", watchers={"kafka": "active"})),
    ])
    c = check(r, {"@itg": {"user1": ["kafka"]}}, HOSTS, GROUPS, whole_fleet=False)
    assert c.exit_code == 0
    assert kinds(c) == [("unexpected-instance", "host1", "user2", None),
                        ("unexpected-watcher", "host1", "user1", "extra")]
    cell = next(x for x in c.cells if (x.host, x.user) == ("host2", "user1"))
    assert cell.expected and cell.status == "ok" and cell.watchers == {"kafka": "ok"}


def test_missing_and_stopped_watchers_and_missing_instance():
    r = FleetResult([
        host("host1", inst("user1", "host1", watchers={"kafka": "stopped"})),
        host("host2"),
    ])
    c = check(r, {"@itg": {"user1": ["kafka", "spark"]}}, HOSTS, GROUPS, whole_fleet=False)
    assert c.exit_code == 1
    assert kinds(c) == [("missing-instance", "host2", "user1", None),
                        ("watcher-missing", "host1", "user1", "spark"),
                        ("watcher-stopped", "host1", "user1", "kafka")]
    stopped = next(f for f in c.findings if f.kind == "watcher-stopped")
    assert stopped.line() == "host1 user1 kafka: expected watcher is not active (stopped)"


def test_unit_states():
    r = FleetResult([host(
        "host3",
        inst("user1", "host3", INACTIVE, enabled="disabled", active="inactive"),
        inst("user3", "host3", UNIT_FAILED, active="failed"),
    ), host("host1", inst("user1", "host1", INACTIVE, active="inactive"),
            inst("user2", "host1", ERROR, error="circusd not answering"))])
    c = check(r, {"host3": {"user1": []}}, HOSTS, GROUPS, whole_fleet=False)
    assert kinds(c) == [("enabled-inactive", "host1", "user1", None),
                        ("instance-error", "host1", "user2", None),
                        ("instance-inactive", "host3", "user1", None),
                        ("unit-failed", "host3", "user3", None)]
    assert c.exit_code == 1


def test_disabled_inactive_unexpected_unit_is_fine():
    r = FleetResult([host("host2", inst("user1", "host2", INACTIVE, enabled="disabled",
                                        active="inactive"))])
    assert check(r, {}, HOSTS).findings == []


def test_unreachable_host_is_exit_3_over_1():
    r = FleetResult([host("host1", error="timed out after 6s"),
                     host("host2", inst("user1", "host2", watchers={}))])
    c = check(r, {"@itg": {"user1": ["kafka"]}}, HOSTS, GROUPS, whole_fleet=False)
    assert c.exit_code == 3
    assert ("host-unknown", "host1", None, None) in kinds(c)
    assert ("watcher-missing", "host2", "user1", "kafka") in kinds(c)
    assert next(x for x in c.cells if x.host == "host1").status == "unknown"


def test_whole_fleet_reports_expected_hosts_nobody_configures():
    r = FleetResult([host("host1", inst("user1", "host1", watchers={}))])
    c = check(r, {"@gone": {"user1": ["x"]}}, HOSTS, GROUPS)
    [f] = c.problems
    assert (f.kind, f.host, f.user) == ("missing-instance", "host9", "user1")
    assert c.exit_code == 1
    # within targets (whole_fleet False), hosts not looked at are not judged
    assert check(r, {"@gone": {"user1": ["x"]}}, HOSTS, GROUPS, whole_fleet=False
                 ).exit_code == 0


def test_only_the_users_a_host_was_run_for():
    r = FleetResult([host("host1", inst("user1", "host1", watchers={}), users=["user1"])])
    c = check(r, {"host1": {"user2": ["web"]}}, HOSTS, whole_fleet=False)
    assert c.exit_code == 0


def test_expected_instances_merge_rules():
    got = expected_instances({"@itg": {"user1": ["a"]}, "host1": {"user1": ["b", "a"]},
                              "host*,!host3": {"user2": []}}, HOSTS, GROUPS)
    assert got == {("host1", "user1"): ["a", "b"], ("host2", "user1"): ["a"],
                   ("host1", "user2"): [], ("host2", "user2"): []}


def test_to_dict_is_json():
    import json

    r = FleetResult([host("host2")])
    doc = json.loads(json.dumps(check(r, {"host2": {"user1": []}}, HOSTS).to_dict()))
    assert doc["schema"] == "barnum-check/1" and doc["exit"] == 1
    assert doc["findings"][0]["kind"] == "missing-instance"
