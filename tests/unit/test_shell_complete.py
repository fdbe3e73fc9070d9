"""barnum shell: completion from the session's names, without a fleet."""

from __future__ import annotations

from barnum.shell.complete import Names, complete
from barnum.shell.parse import lex

NAMES = Names(hosts=["host2", "host10", "host1"],
              users={"host1": ["user1", "user2"], "host2": ["user1"], "host10": []},
              watchers={"ticker", "sleeper", "web app"}, groups=["db"])


def texts(line: str, names: Names = NAMES) -> list[str]:
    return [c.text for c in complete(line, names)]


def test_commands_first():
    assert texts("st") == ["status", "start", "stop", "stats"]
    assert texts("") == texts(" ")
    assert "circusctl" in texts("")
    assert texts("status; re") == ["restart", "reload"]


def test_watchers_after_an_action_then_targets():
    assert texts("stop ") == ["sleeper", "ticker", "'web app'"]
    assert texts("stop t") == ["ticker"]
    assert texts("incr ti") == ["ticker"]
    assert texts("stop ticker host") == ["host1", "host2", "host10"]
    assert texts("stop ticker user1@") == ["user1@host1", "user1@host2", "user1@*"]
    assert texts("stop ticker @") == ["@db"]


def test_a_quoted_word_is_replaced_whole():
    [c] = complete("stop 'web", NAMES)
    assert (c.text, c.replace, c.display) == ("'web app'", len("'web"), "web app")


def test_target_offers_changes_and_failed():
    assert texts("target +host1") == ["+host1", "+host10"]
    assert texts("target -user2") == ["-user2@host1", "-user2@*"]
    assert texts("target @") == ["@failed", "@db"]
    assert texts("target ?") == ["?"]


def test_other_positions():
    assert texts("logs -") == ["-n"]
    assert texts("logs -n ") == []
    assert texts("help sta") == ["status", "start", "stats"]
    assert texts("circusctl num") == ["numprocesses", "numwatchers"]
    assert texts("circusctl set t") == ["ticker"]
    assert texts("hosts ") == []
    assert texts("# stop t") == []


def test_names_are_live_each_call():
    names = Names(hosts=["host1"], users={"host1": ["user1"]}, watchers={"ticker"})
    assert texts("stop ", names) == ["ticker"]
    names.watchers.add("newone")  # a watcher added on a host since the shell started
    assert texts("stop ", names) == ["newone", "ticker"]


def test_every_candidate_lexes_back_to_itself():
    odd = Names(hosts=["h"], users={}, watchers={"a'b", 'q"x', "semi;colon", "sp ace"})
    for c in complete("stop ", odd):
        assert lex("stop " + c.text).commands == [["stop", c.display]]
