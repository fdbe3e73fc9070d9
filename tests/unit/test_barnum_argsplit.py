from hypothesis import given
from hypothesis import strategies as st

from barnum.argsplit import SplitArgs, split_argv


def test_no_separator():
    assert split_argv(["host1", "-v"]) == SplitArgs(barnum=["host1", "-v"])


def test_bailey_args():
    assert split_argv(["--", "--help"]) == SplitArgs(barnum=[], bailey=["--help"])


def test_circusctl_args():
    s = split_argv(["user1@host1", "--", "--", "stats"])
    assert s == SplitArgs(barnum=["user1@host1"], bailey=[], circusctl=["stats"])


def test_third_separator_belongs_to_circusctl():
    s = split_argv(["h", "--", "-v", "--", "a", "--", "b"])
    assert s.bailey == ["-v"]
    assert s.circusctl == ["a", "--", "b"]


def test_empty_circusctl_is_not_none():
    assert split_argv(["--", "--"]).circusctl == []


@given(st.lists(st.sampled_from(["--", "-v", "x", "a b", "--json"]), max_size=8))
def test_round_trip(argv):
    s = split_argv(argv)
    rebuilt = list(s.barnum)
    if "--" in argv:
        rebuilt += ["--", *s.bailey]
        if s.circusctl is not None:
            rebuilt += ["--", *s.circusctl]
    assert rebuilt == argv
    assert "--" not in s.barnum and "--" not in s.bailey
