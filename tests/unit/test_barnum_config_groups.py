"""The users file's ``groups:``: parsed, and every mistake one line with file:line."""

import pytest

from barnum.model.config import ConfigError, parse_config

GOOD = """\
users: [user1, user2]
groups:
  itg: [host1, host2]
  dev: ['host[3-4]']
  web: 'web*'
  front: ['@web', 'user1@host1', '@itg&host1']
"""


def test_groups_parse():
    cfg = parse_config(GOOD, "f.yaml")
    assert cfg.groups == {"itg": ["host1", "host2"], "dev": ["host[3-4]"], "web": ["web*"],
                          "front": ["@web", "user1@host1", "@itg&host1"]}


def test_no_groups_is_empty():
    assert parse_config("- user1\n", "f.yaml").groups == {}


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("users: [a]\ngroups: [host1]\n", "f.yaml:2: 'groups' must be a mapping"),
        ("users: [a]\ngroups:\n  itg: []\n", "f.yaml:3: group 'itg' must be a non-empty list"),
        ("users: [a]\ngroups:\n  'a b': [h]\n", "f.yaml:3: bad group name 'a b'"),
        ("users: [a]\ngroups:\n  itg:\n    - host1\n    - 7\n",
         "f.yaml:5: group 'itg': member 7 must be a host"),
        ("users: [a]\ngroups:\n  itg:\n    - host1\n    - 'host2,'\n",
         "f.yaml:5: group 'itg': bad target 'host2,'"),
        ("users: [a]\ngroups:\n  itg: [host1]\n  dev:\n    - '@itgg'\n",
         "f.yaml:5: group 'dev': unknown group '@itgg'; did you mean @itg?"),
        ("users: [a]\ngroups:\n  a: ['@b']\n  b: ['@a']\n",
         "f.yaml:3: group 'a': group cycle: @a -> @b -> @a"),
        ("users: [a]\ngrups: {}\n", "f.yaml:2: unknown key 'grups' (did you mean 'groups'?)"),
        ("users: [a]\ngroups:\n  itg:\n    - host1\n    - 'host[a-c]'\n",
         "f.yaml:5: group 'itg': bad target 'host[a-c]': [a-c]: 'a-c' is not a number"),
        ("users: [a]\nexpect:\n  'host[!1]': {a: []}\n",
         "f.yaml:3: bad target 'host[!1]': [!1]"),
    ],
)
def test_group_errors_name_file_and_line(text, expect):
    with pytest.raises(ConfigError) as e:
        parse_config(text, "f.yaml")
    assert str(e.value).startswith(expect), str(e.value)
    assert "\n" not in str(e.value)


FULL = GOOD + """\
expect:
  '@itg': {user1: [kafka, spark-master]}
  host5: {user2: grafana, user1: []}
depends:
  'user1@@itg:processor': ['user1@@itg:kafka', 'user2@host5:spark']
  grafana: kairosdb
"""


def test_expect_and_depends_parse():
    cfg = parse_config(FULL, "f.yaml")
    assert cfg.expect == {"@itg": {"user1": ["kafka", "spark-master"]},
                          "host5": {"user2": ["grafana"], "user1": []}}
    assert cfg.depends == {"user1@@itg:processor": ["user1@@itg:kafka", "user2@host5:spark"],
                           "grafana": ["kairosdb"]}


@pytest.mark.parametrize(
    ("tail", "expect"),
    [
        ("expect: [host1]\n", "f.yaml:7: 'expect' must be a mapping"),
        ("expect:\n  '@itgg': {user1: [a]}\n", "f.yaml:8: unknown group '@itgg'"),
        ("expect:\n  host1: {usr1: [a]}\n",
         "f.yaml:8: 'expect' 'host1': 'usr1' is not in users (did you mean 'user1'?)"),
        ("expect:\n  host1:\n    user1: [a, 3]\n",
         "f.yaml:9: 'expect' 'host1': user1's watchers must be a list"),
        ("expect:\n  'host1,': {user1: []}\n", "f.yaml:8: bad target 'host1,'"),
        ("depends:\n  'a b': [x]\n", "f.yaml:8: 'depends': bad watcher 'a b'"),
        ("depends:\n  x:\n    - y\n    - '@nope:z'\n", "f.yaml:10: unknown group '@nope'"),
        ("depends:\n  x: []\n", "f.yaml:8: 'depends' 'x' must be a non-empty list"),
    ],
)
def test_expect_and_depends_errors(tail, expect):
    with pytest.raises(ConfigError) as e:
        parse_config(GOOD + tail, "f.yaml")
    assert str(e.value).startswith(expect), str(e.value)
