"""barnum shell: words, commands and target sets, parsed without a fleet."""

from __future__ import annotations

import pytest

from barnum.model.targets import TargetError
from barnum.shell.parse import (
    ParseError,
    change_targets,
    lex,
    parse_command,
    prompt_text,
    split_commands,
)
from barnum.shell.selection import as_targets, resolve_set

HOSTS = {"host1": ["user1", "user2"], "host2": ["user1", "user2"], "host3": ["user1"]}


@pytest.mark.parametrize("text, commands", [
    ("stop myapp; status", [["stop", "myapp"], ["status"]]),
    ("stop myapp;status;", [["stop", "myapp"], ["status"]]),
    ("circusctl set web 'a;b'", [["circusctl", "set", "web", "a;b"]]),
    ('circusctl set web "x \\"y\\" $z"', [["circusctl", "set", "web", 'x "y" $z']]),
    ("circusctl add w 'sh -c \"echo `id`\"'", [["circusctl", "add", "w", 'sh -c "echo `id`"']]),
    ("a\\ b c", [["a b", "c"]]),
    ("stop ''", [["stop", ""]]),
    ("# a comment\nstatus\n  # another; stop x\nhosts", [["status"], ["hosts"]]),
    ("stop x#y", [["stop", "x#y"]]),
    ("", []),
    ("   ;  ; ", []),
])
def test_split_commands(text, commands):
    assert split_commands(text) == commands


def test_an_unterminated_quote_is_an_error_except_while_typing():
    with pytest.raises(ParseError, match="unterminated ' quote"):
        split_commands("stop 'tick")
    lexed = lex("stop 'tick", allow_open=True)
    assert lexed.commands == [["stop", "tick"]]
    assert (lexed.partial, lexed.quote, lexed.raw_partial) == ("tick", "'", "'tick")


def test_lex_while_typing_knows_the_word_at_the_cursor():
    assert lex("stop ", allow_open=True).raw_partial == ""
    assert lex("stop ", allow_open=True).commands == [["stop"]]
    assert lex("status; sto", allow_open=True).commands == [["status"], ["sto"]]
    assert lex("status; ", allow_open=True).commands == [["status"], []]


@pytest.mark.parametrize("words, name, watcher, number, targets", [
    (["status"], "status", None, None, None),
    (["list", "host1"], "status", None, None, ["host1"]),
    (["stop", "ticker", "host1", "user2@*"], "stop", "ticker", None, ["host1", "user2@*"]),
    (["restart", "web"], "restart", "web", None, None),
    (["incr", "web"], "incr", "web", None, None),
    (["incr", "web", "3", "host2"], "incr", "web", 3, ["host2"]),
    (["decr", "web", "host2"], "decr", "web", None, ["host2"]),
    (["quit"], "exit", None, None, None),
    (["exit", "4"], "exit", None, 4, None),
])
def test_parse_command(words, name, watcher, number, targets):
    c = parse_command(words)
    assert (c.name, c.watcher, c.number, c.targets) == (name, watcher, number, targets)


def test_logs_lines_and_targets():
    c = parse_command(["logs", "host1", "-n", "5", "user2@host2"])
    assert (c.lines, c.targets) == (5, ["host1", "user2@host2"])
    assert parse_command(["logs", "-n3"]).lines == 3
    assert parse_command(["logs"]).lines == 10


def test_circusctl_keeps_every_argument_exactly():
    args = ["set", "web", "env", "A=$(id); `x` 'q'"]
    assert parse_command(["circusctl", *args]).args == args


@pytest.mark.parametrize("words, message", [
    (["bogus"], "unknown command 'bogus'"),
    (["stop"], "usage: stop WATCHER"),
    (["incr"], "usage: incr WATCHER"),
    (["incr", "web", "0"], "N must be from 1 to 10000"),
    (["stop", "-x"], "bad watcher name"),
    (["logs", "-n"], "-n needs a number"),
    (["logs", "-n", "many"], "-n must be from 0 to 10000"),
    (["logs", "-n", "10001"], "-n must be from 0 to 10000"),
    (["hosts", "x"], "takes no arguments"),
    (["circusctl"], "usage: circusctl"),
    (["exit", "256"], "usage: exit"),
    (["exit", "x"], "usage: exit"),
])
def test_mistakes_are_one_line_errors(words, message):
    with pytest.raises(ParseError, match=message) as e:
        parse_command(words)
    assert "\n" not in str(e.value)


def test_target_changes_clustershell_style():
    assert change_targets(["host1"], ["?"]).show
    assert change_targets(["host1"], []).show
    assert change_targets([], ["@failed"]).failed
    assert change_targets(["host1"], ["host2", "host3"]).exprs == ("host2", "host3")
    assert change_targets(["host1"], ["+host2"]).exprs == ("host1", "host2")
    assert change_targets(["host*"], ["-host2"]).exprs == ("host*", "-host2")
    assert change_targets(["host*", "-host2"], ["+host2"]).exprs == ("host*", "host2")
    assert change_targets(["host1", "host2"], ["-host2"]).exprs == ("host1", "-host2")
    assert change_targets(["host1"], ["*"]).exprs == ()
    with pytest.raises(ParseError, match="mix"):
        change_targets([], ["+host1", "host2"])


def test_a_set_resolves_left_to_right_with_exclusions_and_groups():
    assert resolve_set([], HOSTS) == {"host1": [], "host2": [], "host3": []}
    assert resolve_set(["host*", "-host2"], HOSTS) == {"host1": [], "host3": []}
    assert resolve_set(["-host2"], HOSTS) == {"host1": [], "host3": []}
    assert resolve_set(["host1", "-user1@host1"], HOSTS) == {"host1": ["user2"]}
    assert resolve_set(["user1@*", "-user1@host3"], HOSTS) == {
        "host1": ["user1"], "host2": ["user1"]}
    assert resolve_set(["host3", "-user1@host3"], HOSTS) == {}
    assert resolve_set(["host*", "-host2", "host2"], HOSTS) == {
        "host1": [], "host2": [], "host3": []}  # as ClusterShell: left to right
    assert resolve_set(["host1,host2&user1@*"], HOSTS) == {  # the CLI's own operators
        "host1": ["user1"], "host2": ["user1"]}
    groups = {"web": ["host1", "user1@host2"], "all": ["@web", "host3"]}
    assert resolve_set(["@web"], HOSTS, groups) == {"host1": [], "host2": ["user1"]}
    assert resolve_set(["host*", "-@web"], HOSTS, groups) == {
        "host2": ["user2"], "host3": []}
    assert resolve_set(["@all"], HOSTS, groups) == {
        "host1": [], "host2": ["user1"], "host3": []}


def test_unknown_names_in_a_set_are_errors_with_close_matches():
    with pytest.raises(TargetError, match="did you mean host1"):
        resolve_set(["hots1"], HOSTS)
    with pytest.raises(TargetError, match="unknown target 'host9'"):
        resolve_set(["host*", "-host9"], HOSTS)
    with pytest.raises(TargetError, match="unknown group '@db'; the users file defines no"):
        resolve_set(["@db"], HOSTS, {})
    with pytest.raises(TargetError, match="did you mean @web"):
        resolve_set(["@wbe"], HOSTS, {"web": ["host1"]})
    with pytest.raises(TargetError, match="only for `target @failed`"):
        resolve_set(["@failed"], HOSTS)


def test_as_targets_and_the_prompt():
    assert as_targets({"host1": [], "host2": ["user1", "user2"]}) == [
        "host1", "user1@host2", "user2@host2"]
    assert prompt_text(["host1", "user2@*"]) == "barnum[host1,user2@*]> "
    assert prompt_text([]) == "barnum[*]> "
    assert prompt_text(["host*", "-host2"]) == "barnum[host*,!host2]> "
