"""Common options before or after the subcommand (``barnum --config F shell -c status``),
for every subcommand and every common option, through cli.parse_argv as main reads argv."""

import pytest

from barnum.cli.main import main
from barnum.cli.parser import SUBCOMMANDS, parse_argv

# The arguments each command needs to parse at all.
REQUIRED = {"start": ["ticker"], "stop": ["ticker"], "completion": ["bash"], "unit": ["restart"],
            "session": ["status"]}

# Every common option (cli.add_common_options) with a value, and what it parses to.
COMMON = [
    (["--config", "u.yaml"], "config", "u.yaml"),
    (["--config=u.yaml"], "config", "u.yaml"),
    (["--ssh-config", "ssh.cfg"], "ssh_config", "ssh.cfg"),
    (["--bailey", "/opt/b/bailey"], "bailey", "/opt/b/bailey"),
    (["--timeout", "3"], "timeout", 3.0),
    (["--fanout", "4"], "fanout", 4),
    (["--max-output", "2048"], "max_output", 2048),
    (["--local"], "local", True),
    (["--ship"], "ship", True),
    (["--no-ship"], "ship", False),
    (["--host-key-policy", "strict"], "host_key_policy", "strict"),
    (["-t", "shell"], "explicit_targets", ["shell"]),
    (["--target", "watch"], "explicit_targets", ["watch"]),
    (["-v"], "verbose", True),
    (["--verbose"], "verbose", True),
    (["--debug"], "debug", True),
]


def _ids(case):
    return " ".join(case[0])


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
@pytest.mark.parametrize("option", COMMON, ids=[_ids(c) for c in COMMON])
def test_a_common_option_before_or_after_every_subcommand(name, option):
    words, dest, value = option
    rest = REQUIRED.get(name, [])
    before = parse_argv([*words, name, *rest])
    after = parse_argv([name, *words, *rest])
    between = parse_argv(["-v", *words, name, *rest, "--debug"])
    for args in (before, after, between):
        assert args._command == name
        assert getattr(args, dest) == value
    assert (between.verbose, between.debug) == (True, True)
    assert vars(before).keys() == vars(after).keys()


@pytest.mark.parametrize("name", ["check", "drift", "stats", "watch"])
def test_json_before_the_commands_that_have_it(name):
    args = parse_argv(["--json", "--config", "u.yaml", name])
    assert (args._command, args.json, args.config) == (name, True, "u.yaml")


@pytest.mark.parametrize("name", ["start", "stop"])
def test_dry_run_before_start_and_stop(name):
    args = parse_argv(["--dry-run", name, "ticker", "host1"])
    assert (args._command, args.dry_run, args.words) == (name, True, ["ticker", "host1"])


def test_the_issue_example_shell_with_c():
    args = parse_argv(["--config", "F", "shell", "-c", "status"])
    assert (args._command, args.config, args.commands) == ("shell", "F", "status")
    args = parse_argv(["--conf", "F", "-v", "shell", "host[1-3]", "-c", "status; exit"])
    assert (args.config, args.verbose, args.targets, args.commands) == (
        "F", True, ["host[1-3]"], "status; exit")


def test_a_host_named_like_a_command_is_reached_with_t():
    args = parse_argv(["-t", "shell", "--config", "F"])
    assert args._command is None and args.explicit_targets == ["shell"]
    args = parse_argv(["-t", "stats", "stats", "--sort", "cpu"])
    assert (args._command, args.explicit_targets, args.sort) == ("stats", ["stats"], "cpu")
    args = parse_argv(["-vtwatch"])
    assert args._command is None and args.explicit_targets == ["watch"] and args.verbose


def test_only_the_first_word_is_the_command():
    args = parse_argv(["--config", "F", "host1", "stats"])
    assert args._command is None and args.targets == ["host1", "stats"]


def test_bailey_arguments_after_the_separator_are_not_searched():
    args = parse_argv(["--config", "F", "host1", "--", "--", "stats"])
    assert args._command is None and args.passthrough.circusctl == ["stats"]
    args = parse_argv(["--", "shell"])
    assert args._command is None and args.passthrough.bailey == ["shell"]


def test_an_overview_option_before_a_command_without_it_is_a_usage_error(capsys):
    assert main(["--json", "logs"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "barnum logs: error: unrecognized arguments: --json"
    assert main(["--group-by", "group", "shell"]) == 2
    assert "barnum shell: error: unrecognized arguments: --group-by" in capsys.readouterr().err


def test_help_for_a_command_after_common_options(capsys):
    assert main(["--timeout", "3", "stats", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: barnum stats")


def test_completion_reads_the_command_after_common_options():
    from barnum.cli.completion import completion_parser

    own = completion_parser(["barnum", "--timeout", "5", "stats"])._option_string_actions
    assert "--sort" in own and "--timeout" in own
    own = completion_parser(["barnum", "-t", "stats"])._option_string_actions
    assert "--group-by" in own and "--sort" not in own  # the overview's: stats is a target
