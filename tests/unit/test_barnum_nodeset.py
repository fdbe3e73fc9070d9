"""Target expressions: groups and ClusterShell-style set operations (barnum.model.nodeset),
through barnum.model.targets.resolve as every front end uses it."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from barnum.model.nodeset import (
    Evaluator,
    ExpressionError,
    apply,
    check_groups,
    parse,
    to_selection,
    universe,
)
from barnum.model.targets import TargetError, group_members, groups_of, resolve

HOSTS = {
    "host1": ["user1", "user2"],
    "host2": ["user1"],
    "host3": ["user3"],
    "host4": ["user1", "user3"],
    "web1": ["user2"],
    "web2": ["user2", "user3"],
}
GROUPS = {
    "itg": ["host1", "host2"],
    "dev": ["host[3-4]"],
    "web": ["web*"],
    "front": ["@web", "host1"],
    "u1": ["user1@*"],
}


def sel(*targets):
    return resolve(list(targets), HOSTS, GROUPS)


# -- the examples of the issue and the README ----------------------------------------------


def test_group():
    assert sel("@itg") == {"host1": [], "host2": []}
    assert sel("@dev") == {"host3": [], "host4": []}


def test_union_with_a_host():
    assert sel("@itg,host3") == {"host1": [], "host2": [], "host3": []}


@pytest.mark.parametrize("text", ["@itg,!host2", "@itg!host2"])
def test_exclusion_both_spellings(text):
    assert sel(text) == {"host1": []}


def test_intersection():
    assert sel("@front&@web") == {"web1": [], "web2": []}
    assert sel("@front&host*") == {"host1": []}


def test_symmetric_difference():
    assert sel("@itg^host[2-3]") == {"host1": [], "host3": []}


def test_left_to_right_one_precedence():
    # (host1,web1)&web* = web1, not host1,(web1&web*)
    assert sel("host1,web1&web*") == {"web1": []}
    # (@itg,host3)!host2
    assert sel("@itg,host3!host2") == {"host1": [], "host3": []}


def test_leading_bang_is_everything_but():
    assert sel("!@itg") == {h: [] for h in ("host3", "host4", "web1", "web2")}


def test_users_of_a_group_and_instance_members():
    assert sel("user1@@itg") == {"host1": ["user1"], "host2": ["user1"]}
    assert sel("@u1") == {"host1": ["user1"], "host2": ["user1"], "host4": ["user1"]}
    assert sel("@itg&@u1") == {"host1": ["user1"], "host2": ["user1"]}


def test_excluding_one_instance_leaves_the_others():
    assert sel("host1,!user1@host1") == {"host1": ["user2"]}
    assert sel("@itg!user1@*") == {"host1": ["user2"]}  # host2 has no user left


def test_nested_groups():
    assert sel("@front") == {"host1": [], "web1": [], "web2": []}


def test_comma_inside_brackets_belongs_to_the_range():
    assert sel("host[1,3]") == {"host1": [], "host3": []}
    assert sel("host[1,3-4]!host4") == {"host1": [], "host3": []}


@pytest.mark.parametrize("bad", ["host[!1]&@itg", "host[23-]", "web[a-c]", "user[x]@@itg",
                                 "@itg,host[1", "host[1-2][3]"])
def test_a_bracket_is_a_range_or_a_usage_error(bad):
    """Never an fnmatch class: host[!1] used to mean "host, then not 1"."""
    with pytest.raises(ExpressionError, match="bad target"):
        parse(bad)
    with pytest.raises(TargetError) as e:
        sel(bad)
    assert e.value.exit_code == 2


def test_a_range_selects_the_named_hosts_that_exist():
    many = {f"host{i}": ["user1"] for i in range(1, 13)}
    assert resolve(["host[1-12]"], many) == {f"host{i}": [] for i in range(1, 13)}
    assert resolve(["host[10-12]"], many) == {"host10": [], "host11": [], "host12": []}
    assert resolve(["host[2-20/5]"], many) == {"host2": [], "host7": [], "host12": []}
    assert resolve(["host[9-99]"], many) == {"host9": [], "host10": [], "host11": [],
                                              "host12": []}
    with pytest.raises(TargetError, match="unknown target 'host\\[13-20\\]'"):
        resolve(["host[13-20]"], many)


def test_padding_is_part_of_the_name():
    padded = {f"node{i:02d}": ["user1"] for i in range(1, 11)} | {"node1": ["user1"]}
    assert resolve(["node[01-10/2]"], padded) == {
        f"node0{i}": [] for i in (1, 3, 5, 7, 9)}
    assert resolve(["node[1-3]"], padded) == {"node1": []}
    assert resolve(["node[08-10]"], padded) == {"node08": [], "node09": [], "node10": []}


def test_several_range_dimensions_and_globs():
    racks = {f"rack{r}-node{n}": ["user1"] for r in (1, 2, 3) for n in (1, 2, 3, 4)}
    assert resolve(["rack[1-2]-node[1-3]"], racks) == {
        f"rack{r}-node{n}": [] for r in (1, 2) for n in (1, 2, 3)}
    assert resolve(["rack3-node*"], racks) == {f"rack3-node{n}": [] for n in (1, 2, 3, 4)}
    assert resolve(["rack[2-3]-node?!rack*-node[1-3]"], racks) == {
        "rack2-node4": [], "rack3-node4": []}


def test_several_targets_are_a_union():
    assert sel("@itg", "user3@host4") == {"host1": [], "host2": [], "host4": ["user3"]}


# -- backward compatibility: the targets barnum always took ---------------------------------


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        ([], {h: [] for h in sorted(HOSTS)}),
        (["host2", "user2@host1"], {"host1": ["user2"], "host2": []}),
        (["user1@host1", "host1"], {"host1": []}),
        (["user1@host2"], {"host2": ["user1"]}),  # the only user, still not "whole"
        (["*@host1"], {"host1": ["user1", "user2"]}),
        (["host[1-2]"], {"host1": [], "host2": []}),
    ],
)
def test_old_targets_unchanged(targets, expected):
    assert resolve(targets, HOSTS) == expected
    assert resolve(targets, HOSTS, GROUPS) == expected


# -- errors ---------------------------------------------------------------------------------


def test_unknown_group_suggests_close_ones():
    with pytest.raises(TargetError, match=r"unknown group '@itgg'; did you mean @itg\?") as e:
        sel("@itgg")
    assert e.value.exit_code == 2


def test_unknown_group_without_groups_says_how_to_define():
    with pytest.raises(TargetError, match="defines no groups"):
        resolve(["@itg"], HOSTS)


def test_unknown_term_inside_an_expression_names_both():
    with pytest.raises(TargetError, match=r"unknown target 'hots2' \(in '@itg,!hots2'\).*host2"):
        sel("@itg,!hots2")


def test_expression_selecting_nothing_is_an_error():
    with pytest.raises(TargetError, match="selects nothing"):
        sel("@itg&@dev")


def test_empty_group_is_an_error_naming_its_members():
    with pytest.raises(TargetError, match=r"group 'gone' selects no discovered host "
                       r"\(members: old1\)"):
        resolve(["@gone"], HOSTS, {"gone": ["old1"]})


@pytest.mark.parametrize("bad", ["@", "@itg,", "a,,b", "host1&!host2", "user@", "-x",
                                 "a@@", "a b", "u@v@w"])
def test_bad_syntax(bad):
    with pytest.raises(ExpressionError):
        parse(bad)
    with pytest.raises(TargetError):
        sel(bad)


def test_check_groups_finds_unknown_references_and_cycles():
    assert check_groups(GROUPS) == []
    [(g, i, msg)] = check_groups({"a": ["host1", "@b"]})
    assert (g, i) == ("a", 1) and "unknown group '@b'" in msg
    [(g, i, msg)] = check_groups({"a": ["@b"], "b": ["host1", "@a"]})
    assert i is None and "group cycle: @a -> @b -> @a" in msg
    [(g, i, msg)] = check_groups({"a": ["host1,"]})
    assert (g, i) == ("a", 0) and "needs something after it" in msg


def test_group_members_and_groups_of():
    m = group_members(HOSTS, GROUPS)
    assert m["itg"] == {"host1": [], "host2": []}
    assert m["u1"] == {"host1": ["user1"], "host2": ["user1"], "host4": ["user1"]}
    assert group_members({"host9": []}, GROUPS)["itg"] == {}  # not an error
    assert groups_of(m)["host1"] == ["front", "itg", "u1"]


# -- property tests: the algebra is the algebra of Python sets ------------------------------

NAMES = sorted(HOSTS)
hostsets = st.sets(st.sampled_from(NAMES), min_size=1)
ops = st.sampled_from([",", "!", "&", "^"])


def atoms_of(hosts):
    return {a for a in universe(HOSTS) if a[0] in hosts}


@settings(max_examples=300, deadline=None)
@given(first=hostsets, rest=st.lists(st.tuples(ops, hostsets), max_size=5),
       negated=st.booleans())
def test_expressions_evaluate_like_python_sets(first, rest, negated):
    groups = {"g0": sorted(first)}
    groups.update({f"g{i + 1}": sorted(h) for i, (_, h) in enumerate(rest)})
    text = ("!" if negated else "") + "@g0" + "".join(
        f"{op}@g{i + 1}" for i, (op, _) in enumerate(rest))
    expected = atoms_of(first)
    if negated:
        expected = universe(HOSTS) - expected
    for op, h in rest:
        expected = apply(op, expected, atoms_of(h))
    got = Evaluator(HOSTS, groups, strict=False).expr(parse(text))
    assert got == expected
    if expected:
        assert resolve([text], HOSTS, groups) == to_selection(expected, HOSTS)


@settings(max_examples=200, deadline=None)
@given(a=hostsets, b=hostsets, c=hostsets)
def test_set_laws(a, b, c):
    groups = {"a": sorted(a), "b": sorted(b), "c": sorted(c)}
    ev = Evaluator(HOSTS, groups, strict=False)

    def e(text):
        return ev.expr(parse(text))

    assert e("@a,@b") == e("@b,@a")                      # union commutes
    assert e("@a&@b") == e("@b&@a")                      # intersection commutes
    assert e("@a,@a") == e("@a") == e("@a&@a")           # idempotent
    assert e("@a!@a") == set()
    assert e("@a!@b") == e("@a") - e("@b")
    assert e("@a,!@b") == e("@a!@b")                     # ClusterShell's spelling
    assert e("@a!@b&@a") == e("@a!@b")                   # a - b is within a
    assert e("@a,@b&@c") == (e("@a") | e("@b")) & e("@c")  # left to right
    assert e("!@a") == universe(HOSTS) - e("@a")
    assert e("@a^@b") == e("@a,@b") - e("@a&@b")
    # De Morgan over the universe
    assert universe(HOSTS) - (e("@a") | e("@b")) == e("!@a!@b")


@settings(max_examples=200, deadline=None)
@given(hosts=st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
def test_union_of_targets_equals_comma_expression(hosts):
    assert resolve(hosts, HOSTS) == resolve([",".join(hosts)], HOSTS)
