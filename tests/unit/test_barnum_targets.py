import pytest

from barnum.model.targets import TargetError, parse_target, resolve

HOSTS = {"host1": ["user1", "user2"], "host2": ["user1"], "host3": ["user3"], "web": ["user2"]}


def test_no_targets_means_every_host_whole():
    assert resolve([], HOSTS) == {h: [] for h in sorted(HOSTS)}


def test_host_and_user_at_host():
    assert resolve(["host2", "user2@host1"], HOSTS) == {"host1": ["user2"], "host2": []}


def test_whole_host_wins_over_users():
    assert resolve(["user1@host1", "host1"], HOSTS) == {"host1": []}


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        (["*@host1"], {"host1": ["user1", "user2"]}),
        (["user1@*"], {"host1": ["user1"], "host2": ["user1"]}),
        (["host[1-2]"], {"host1": [], "host2": []}),
        (["host?"], {"host1": [], "host2": [], "host3": []}),
        (["user[2-3]@*"], {"host1": ["user2"], "host3": ["user3"], "web": ["user2"]}),
        (["user[2,3]@host[1-12]"], {"host1": ["user2"], "host3": ["user3"]}),
    ],
)
def test_globs_and_ranges(targets, expected):
    assert resolve(targets, HOSTS) == expected


@pytest.mark.parametrize("bad", ["host[23-]", "host[!1]", "user[a-z]@*", "host[1-3",
                                 "host1]", "host[08-9]"])
def test_a_bracket_that_is_no_range_is_a_usage_error(bad):
    with pytest.raises(TargetError) as e:
        resolve([bad], HOSTS)
    assert e.value.exit_code == 2
    assert "\n" not in str(e.value)


def test_unknown_host_suggests():
    with pytest.raises(TargetError) as e:
        resolve(["hots1"], HOSTS)
    assert "unknown target 'hots1'" in str(e.value)
    assert "host1" in str(e.value)
    assert e.value.exit_code == 2


def test_unknown_user_at_host_suggests():
    with pytest.raises(TargetError, match=r"did you mean.*user1@host1"):
        resolve(["usr1@host1"], HOSTS)


def test_user_without_config_on_that_host():
    with pytest.raises(TargetError, match="user3@host1"):
        resolve(["user3@host1"], HOSTS)


def test_unknown_lists_known_when_nothing_is_close():
    with pytest.raises(TargetError, match="known: host1"):
        resolve(["zzzzzzzz"], HOSTS)


@pytest.mark.parametrize("bad", ["@host1", "user@", "", "-oProxyCommand=x"])
def test_bad_syntax(bad):
    with pytest.raises(TargetError):
        parse_target(bad)
