"""The users file's ``groups:``: parsed, and every mistake one line with file:line."""

import pytest

from barnum.config import ConfigError, parse_config

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
    ],
)
def test_group_errors_name_file_and_line(text, expect):
    with pytest.raises(ConfigError) as e:
        parse_config(text, "f.yaml")
    assert str(e.value).startswith(expect), str(e.value)
    assert "\n" not in str(e.value)
