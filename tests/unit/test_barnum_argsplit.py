from hypothesis import given
from hypothesis import strategies as st

from barnum.cli.argsplit import SplitArgs, find_command, split_argv


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


# -- the subcommand among barnum's own arguments (find_command) ----------------------------

COMMANDS = ("shell", "stats", "watch")
OPTIONS = {"--config": True, "--timeout": True, "-t": True, "--target": True,
           "-v": False, "--verbose": False, "--json": False, "--ship": False,
           "--ssh-config": True}


def test_the_first_word_names_the_command_options_before_it_are_its_own():
    c = find_command(["--config", "F", "shell", "-c", "status"], COMMANDS, OPTIONS)
    assert (c.name, c.args) == ("shell", ["--config", "F", "-c", "status"])
    c = find_command(["shell", "--config", "F"], COMMANDS, OPTIONS)
    assert (c.name, c.args) == ("shell", ["--config", "F"])


def test_an_option_value_is_never_the_command():
    c = find_command(["--config", "stats"], COMMANDS, OPTIONS)
    assert (c.name, c.args, c.word) == (None, ["--config", "stats"], False)
    c = find_command(["-t", "watch", "stats"], COMMANDS, OPTIONS)  # -t stays a target
    assert (c.name, c.args) == ("stats", ["-t", "watch"])
    c = find_command(["-vt", "watch"], COMMANDS, OPTIONS)  # clustered short options
    assert c.name is None and not c.word
    c = find_command(["-twatch", "stats"], COMMANDS, OPTIONS)  # attached value
    assert c.name == "stats"
    c = find_command(["--config=F", "stats"], COMMANDS, OPTIONS)
    assert (c.name, c.args) == ("stats", ["--config=F"])


def test_only_the_first_word_is_reserved():
    c = find_command(["host1", "stats"], COMMANDS, OPTIONS)
    assert (c.name, c.args, c.word) == (None, ["host1", "stats"], True)
    c = find_command(["-v", "--json", "host1"], COMMANDS, OPTIONS)
    assert c.name is None and c.word


def test_abbreviated_long_options_as_argparse_reads_them():
    assert find_command(["--conf", "F", "shell"], COMMANDS, OPTIONS).name == "shell"
    assert find_command(["--time", "3", "stats"], COMMANDS, OPTIONS).name == "stats"
    # ambiguous (--ship, --ssh-config): argparse refuses it; the next word stays a word
    assert find_command(["--s", "stats"], COMMANDS, OPTIONS).name == "stats"


@given(st.lists(st.sampled_from(["--config", "F", "-v", "--json", "-t", "x", "host1"]),
                max_size=6), st.sampled_from(COMMANDS),
       st.lists(st.sampled_from(["-c", "status", "--json", "host2", "--config"]), max_size=4))
def test_the_command_is_found_after_any_options_and_only_it_is_taken_out(before, name, after):
    argv = [*before, "-v", name, *after]  # "-v" closes any value left open in before
    c = find_command(argv, COMMANDS, OPTIONS)
    plain, i = False, 0  # a word (not an option's value) before the command?
    while i < len(before):
        if before[i] in ("--config", "-t"):
            i += 2
            continue
        plain = plain or not before[i].startswith("-")
        i += 1
    if plain:
        assert (c.name, c.args) == (None, argv)
    else:
        k = len(before) + 1
        assert c.name == name and c.args == argv[:k] + argv[k + 1:]
