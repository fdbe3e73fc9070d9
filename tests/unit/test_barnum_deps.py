"""barnum.model.deps: refs, the dependency graph, topological levels, cycles."""

import itertools

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from barnum.model.deps import (
    DependencyError,
    Graph,
    Node,
    find_cycle,
    parse_ref,
    plan_order,
    toposort,
)

HOSTS = {"host1": ["user1", "user2"], "host2": ["user1"], "host5": ["user2"]}
GROUPS = {"itg": ["host1", "host2"]}
INV = {
    ("host1", "user1"): ["kafka", "spark", "processor"],
    ("host2", "user1"): ["kafka", "processor"],
    ("host1", "user2"): ["cassandra", "kairosdb", "grafana"],
    ("host5", "user2"): ["spark"],
}
DEPENDS = {
    "user1@@itg:processor": ["user1@@itg:kafka", "user2@host5:spark"],
    "grafana": ["kairosdb"],
    "kairosdb": ["cassandra"],
}


def N(text):
    r = parse_ref(text)
    user, _, host = r.target.partition("@")
    return Node(host, user, r.watcher)


def order(words, depends=DEPENDS, selection=None, **kw):
    levels, _ = plan_order(words, depends, INV, HOSTS, GROUPS,
                           selection or {h: [] for h in HOSTS}, **kw)
    return [[str(n) for n in lvl] for lvl in levels]


def test_parse_ref():
    assert parse_ref("user1@host1:kafka").target == "user1@host1"
    assert parse_ref("kafka").target is None
    assert parse_ref("@itg:kafka").watcher == "kafka"
    for bad in ["", ":kafka", "host1:", "a b:c", "@:x", "h,:x"]:
        with pytest.raises(DependencyError):
            parse_ref(bad)


def test_bare_dependency_is_the_same_instance():
    assert order(["grafana"]) == [["user2@host1:cassandra"], ["user2@host1:kairosdb"],
                                  ["user2@host1:grafana"]]


def test_group_dependencies_across_hosts():
    assert order(["processor"], selection={"host2": []}) == [
        ["user1@host1:kafka", "user1@host2:kafka", "user2@host5:spark"],
        ["user1@host2:processor"],
    ]


def test_stop_goes_dependents_first():
    assert order(["cassandra"], stop=True) == [["user2@host1:grafana"],
                                               ["user2@host1:kairosdb"],
                                               ["user2@host1:cassandra"]]
    assert order(["user2@host5:spark"], stop=True) == [
        ["user1@host1:processor", "user1@host2:processor"], ["user2@host5:spark"]]


def test_no_deps():
    assert order(["grafana"], with_deps=False) == [["user2@host1:grafana"]]


def test_unknown_dependency_names_it():
    deps = {"processor": ["user1@host1:zookeeper"]}
    with pytest.raises(DependencyError, match=r"user1@host1:processor depends on "
                       r"'user1@host1:zookeeper', which names no existing watcher") as e:
        order(["user1@host1:processor"], deps)
    assert e.value.exit_code == 2


def test_unknown_start_watcher():
    with pytest.raises(DependencyError, match="no existing watcher 'zookeeper'"):
        order(["zookeeper"])


def test_cycle_names_it():
    deps = {"kafka": ["spark"], "spark": ["processor"], "processor": ["kafka"]}
    with pytest.raises(DependencyError, match=r"dependency cycle: user1@host1:kafka -> "
                       r"user1@host1:spark -> user1@host1:processor -> user1@host1:kafka"):
        order(["user1@host1:kafka"], deps)


def test_selection_limits_bare_start_names():
    assert order(["kafka"], {}, selection={"host1": ["user1"]}) == [["user1@host1:kafka"]]


def test_graph_expand_globs():
    g = Graph({}, INV, HOSTS, GROUPS)
    assert {str(n) for n in g.expand(parse_ref("*@host*:spark"))} == {
        "user1@host1:spark", "user2@host5:spark"}


# -- property tests: toposort against the definition -------------------------------------

nodes = [Node(f"h{i % 3}", f"u{i % 2}", f"w{i}") for i in range(8)]


@st.composite
def dags(draw):
    """A random DAG: edges only from a later node to an earlier one in a shuffled order."""
    perm = draw(st.permutations(nodes))
    g = {n: set() for n in perm}
    for i, n in enumerate(perm):
        if i:
            g[n] = set(draw(st.lists(st.sampled_from(perm[:i]), max_size=3)))
    return g


@settings(max_examples=300, deadline=None)
@given(dags())
def test_toposort_levels_respect_every_edge(g):
    levels = toposort(g)
    where = {n: i for i, lvl in enumerate(levels) for n in lvl}
    assert sorted(where) == sorted(g)                     # every node once
    assert sum(len(lvl) for lvl in levels) == len(g)
    for n, deps in g.items():
        for d in deps:
            assert where[d] < where[n]
    for i, lvl in enumerate(levels):                       # as early as possible
        for n in lvl:
            assert i == 0 or any(where[d] == i - 1 for d in g[n])


@settings(max_examples=300, deadline=None)
@given(dags(), st.data())
def test_a_back_edge_is_a_cycle_named(g, data):
    a = data.draw(st.sampled_from(sorted(g)))
    assume(g[a])
    b = data.draw(st.sampled_from(sorted(g[a])))
    g[b] = g[b] | {a}  # a needs b, now b needs a
    with pytest.raises(DependencyError, match="dependency cycle"):
        toposort(g)
    cyc = find_cycle(g)
    assert cyc[0] == cyc[-1]
    for x, y in itertools.pairwise(cyc):
        assert y in g[x]


def test_start_words_split_into_watchers_and_targets():
    from barnum.cli.commands.startstop import split_words

    assert split_words(["kafka", "user1@host1:spark", "@itg", "host[1-2]", "user1@host5",
                        "host1,!host2", "web", "host[10-12]", "host[9]", "tick[a-b]"],
                       ["host1", "host2", "web", "host11"]) == (
        ["kafka", "user1@host1:spark", "host[9]", "tick[a-b]"],
        ["@itg", "host[1-2]", "user1@host5", "host1,!host2", "web", "host[10-12]"])
