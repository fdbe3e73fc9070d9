"""Node-name patterns (barnum.model.nodenames): ClusterShell's range grammar, checked against
ClusterShell's own NodeSet as an oracle, and fold -> parse giving back the same names."""

import pytest
from ClusterShell.NodeSet import NodeSet
from ClusterShell.NodeSet import NodeSetParseError as ClusterShellParseError
from hypothesis import given, settings
from hypothesis import strategies as st

from barnum.model.nodenames import PatternError, fold, parse_pattern, rangeset_text
from barnum.model.nodeset import parse
from barnum.model.targets import resolve


def names_of(text: str) -> set[str]:
    """What a folded text names, read back with barnum's own parser (a union of terms)."""
    e = parse(text)
    assert not e.negated and all(op == "," for op, _ in e.rest)
    out: set[str] = set()
    for t in e.terms:
        hosts = parse_pattern(t.host).expand()
        users = parse_pattern(t.user).expand() if t.user is not None else [None]
        out |= {h if u is None else f"{u}@{h}" for u in users for h in hosts}
    return out


# -- examples ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "names"), [
    ("host[1-12]", [f"host{i}" for i in range(1, 13)]),
    ("node[01-10/2]", ["node01", "node03", "node05", "node07", "node09"]),
    ("host[1,3,5-7]", ["host1", "host3", "host5", "host6", "host7"]),
    ("rack[1-2]-node[1-3]", [f"rack{r}-node{n}" for r in (1, 2) for n in (1, 2, 3)]),
    ("h[08-10]", ["h08", "h09", "h10"]),
    ("h[1-2,01-02]", ["h1", "h2", "h01", "h02"]),
    ("web", ["web"]),
])
def test_expand(text, names):
    assert parse_pattern(text).expand() == names
    assert set(NodeSet(text)) == set(names)  # the oracle agrees with the example


@pytest.mark.parametrize(("names", "text"), [
    (["host1", "host2", "host3"], "host[1-3]"),
    (["host10", "host11", "host12"], "host[10-12]"),
    (["host1", "host2", "host4", "host5", "host9"], "host[1-2,4-5,9]"),
    (["node01", "node02", "node03"], "node[01-03]"),
    (["h9", "h10", "h08"], "h[9,08,10]"),  # 10 reads as unpadded or width 2: either is exact
    ([f"rack{r}-node{n}" for r in (1, 2) for n in (1, 2, 3)], "rack[1-2]-node[1-3]"),
    (["user1@host1", "user1@host2", "user2@host1"], "user1@host[1-2],user2@host1"),
    (["db", "host1"], "db,host1"),
])
def test_fold(names, text):
    assert fold(names) == text
    assert names_of(text) == set(names)


def test_match_without_expanding():
    huge = parse_pattern("host[1-1000000000]")
    assert huge.matches("host999999999") and not huge.matches("host0")
    with pytest.raises(PatternError, match="more than"):
        huge.expand()


def test_globs_beside_ranges():
    p = parse_pattern("web*[1-3]")
    assert p.matches("web-a2") and p.matches("web12") and not p.matches("web-a4")
    assert parse_pattern("h?[1-2]").matches("hx1") and not parse_pattern("h?[1-2]").matches(
        "h1")


@pytest.mark.parametrize("bad", ["h[a-c]", "h[!1]", "h[1-3", "h1]", "h[08-9]", "h[1-010]",
                                 "h[3-1]", "h[1-10/0]", "h[]", "h[1,]", "h[1-2][3]",
                                 "h[[1]]", "h[1--2]"])
def test_bad_brackets(bad):
    with pytest.raises(PatternError) as e:
        parse_pattern(bad)
    assert "\n" not in str(e.value)
    with pytest.raises(ClusterShellParseError):  # ClusterShell refuses them too
        NodeSet(bad)


# -- ClusterShell's NodeSet as the oracle ------------------------------------------------

prefixes = st.sampled_from(["host", "node", "n", "rack", "web-", "db.", ""])
suffixes = st.sampled_from(["", "", "-ib", ".lab", "x"])


@st.composite
def range_items(draw):
    """One item of a range set: N, N-M or N-M/S, padded or not."""
    lo = draw(st.integers(0, 120))
    width = draw(st.sampled_from([0, 0, 2, 3, 4]))
    kind = draw(st.sampled_from(["one", "range", "step"]))
    hi = draw(st.integers(lo, lo + 40))
    if width and len(str(hi)) > width:
        width = 0
    z = (lambda v: str(v).zfill(width)) if width else str
    if kind == "one":
        return z(lo)
    if kind == "range":
        return f"{z(lo)}-{z(hi)}"
    return f"{z(lo)}-{z(hi)}/{draw(st.integers(1, 7))}"


rangesets = st.lists(range_items(), min_size=1, max_size=4).map(",".join)


@st.composite
def range_expressions(draw):
    """host[...] or rack[...]-node[...]: one or two range dimensions."""
    text = draw(prefixes) + "[" + draw(rangesets) + "]"
    if draw(st.booleans()):
        text += "-" + draw(st.sampled_from(["n", "node", "c"])) + "[" + draw(rangesets) + "]"
    return text + draw(suffixes)


@settings(max_examples=300, deadline=None)
@given(range_expressions())
def test_expansion_matches_clustershell(text):
    ours = parse_pattern(text).expand()
    assert set(ours) == set(NodeSet(text))
    assert all(parse_pattern(text).matches(n) for n in ours)


@st.composite
def name_sets(draw):
    """Host names sharing a few shapes, with numbers, padded or not, in one or two places."""
    shapes = draw(st.lists(st.tuples(prefixes, st.booleans(), suffixes), min_size=1,
                           max_size=3))
    names = set()
    for prefix, two, suffix in shapes:
        for _ in range(draw(st.integers(1, 12))):
            width = draw(st.sampled_from([0, 0, 2, 3]))
            n = str(draw(st.integers(0, 130))).zfill(width)
            name = f"{prefix}{n}"
            if two:
                name += f"-c{draw(st.integers(0, 4))}"
            names.add(name + suffix)
    if draw(st.booleans()):
        names.add(draw(st.sampled_from(["db", "login", "web-a"])))
    return sorted(names)


@settings(max_examples=300, deadline=None)
@given(name_sets())
def test_fold_parse_gives_back_the_same_names(names):
    text = fold(names)
    assert names_of(text) == set(names)
    assert set(NodeSet(text)) == set(names)  # ClusterShell reads it the same way
    # and barnum reads ClusterShell's folding the same way
    assert names_of(str(NodeSet.fromlist(names))) == set(names)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 130), st.sampled_from([0, 0, 2, 3])), min_size=1,
                max_size=25), prefixes)
def test_one_dimension_folds_as_clustershell_does(numbers, prefix):
    names = [f"{prefix}x{str(n).zfill(w)}" for n, w in numbers]
    assert fold(names) == str(NodeSet.fromlist(names))


@settings(max_examples=200, deadline=None)
@given(name_sets(), name_sets())
def test_a_printed_set_typed_back_selects_exactly_it(chosen, others):
    """fold's text as a target, over a fleet with more hosts: exactly the chosen ones."""
    fleet = {h: ["user1"] for h in set(chosen) | set(others)}
    assert resolve([fold(chosen)], fleet) == {h: [] for h in sorted(chosen)}
    assert not parse(fold(chosen)).groups


def test_rangeset_text_keeps_widths():
    assert rangeset_text(["1", "2", "3", "5"]) == "1-3,5"
    assert rangeset_text(["08", "09", "10", "11"]) == "08-11"
    assert rangeset_text(["9", "09", "10", "010"]) == "9,09-10,010"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0129-,/!a", max_size=7))
def test_what_barnum_reads_in_brackets_clustershell_reads_the_same(inner):
    """barnum is stricter (no negative numbers, no N/S without a range), never different."""
    text = f"h[{inner}]"
    try:
        ours = parse_pattern(text).expand()
    except PatternError:
        return
    assert set(ours) == set(NodeSet(text))
