"""bailey's argv builder and the one ship rule (barnum.transport.bailey), shared by the
one-shot pool and the live session."""

import shlex

import pytest

from barnum.live.session import FleetSession
from barnum.model.config import Config
from barnum.model.discovery import Discovery
from barnum.oneshot.plan import HostPlan, Plan
from barnum.transport.bailey import (
    BAILEY_DEFAULT_TIMEOUT,
    bailey_argv,
    bailey_timeout,
    has_option,
    not_installed,
)
from barnum.transport.connector import Connector
from barnum.transport.options import Options

# (shell, exit status, stderr) recorded on Debian 12 by running each command
# with `SHELL -c CMD`: dash is /bin/sh; bash 5.2; zsh.  The bash-5.0 line is
# that version's documented wording (not recorded on this machine).
RECORDED_MISSING = [
    ("dash", 127, "sh: 1: bailey: not found\n"),
    ("dash", 127, "sh: 1: ./badshebang: not found\n"),  # #! names a missing python
    ("dash", 127, "sh: 1: /nonexistent/venv/bin/bailey: not found\n"),
    ("bash", 127, "bash: line 1: bailey: command not found\n"),
    ("bash", 127, "bash: line 1: ./badshebang: cannot execute: required file not found\n"),
    ("bash", 127, "bash: line 1: /nonexistent/venv/bin/bailey: No such file or directory\n"),
    ("zsh", 127, "zsh:1: command not found: bailey\n"),
    ("zsh", 127, "zsh:1: ./badshebang: bad interpreter: /nonexistent/python3: "
                 "no such file or directory\n"),
    ("zsh", 127, "zsh:1: no such file or directory: /nonexistent/venv/bin/bailey\n"),
    # bash before 5.1 words a missing #! interpreter as a 126
    ("bash-5.0", 126, "bash: ./bailey: /opt/gone/bin/python3: bad interpreter: "
                      "No such file or directory\n"),
]
RECORDED_PRESENT = [
    ("dash", 126, "sh: 1: ./noexec: Permission denied\n"),  # there, not executable
    ("bash", 126, "bash: line 1: ./noexec: Permission denied\n"),
    ("bash", 126, "bash: line 1: ./: Is a directory\n"),
    ("zsh", 126, "zsh:1: permission denied: ./noexec\n"),
    ("bailey", 3, "bailey: no circus_* unit for this user on host1\n"),
    ("bailey", 2, "bailey: error: unrecognized arguments: --frobnicate\n"),
    ("bailey", 1, ""),
    ("bailey", 0, ""),
    ("no status", None, ""),
]


@pytest.mark.parametrize(("shell", "status", "stderr"), RECORDED_MISSING)
def test_ship_rule_ships_when_the_shell_found_no_bailey(shell, status, stderr):
    assert not_installed(status, stderr)


@pytest.mark.parametrize(("shell", "status", "stderr"), RECORDED_PRESENT)
def test_ship_rule_leaves_a_bailey_that_is_there(shell, status, stderr):
    """126 "Permission denied" is the operator's to fix: shipping would hide it; and
    bailey's own exit codes (1, 2, 3) never ship."""
    assert not not_installed(status, stderr)


@pytest.mark.parametrize(("timeout", "want"), [(1, 1), (2.5, 1), (3, 1), (4, 2), (8, 4),
                                               (10, 5), (60, 5), (3600, 5)])
def test_bailey_timeout_fits_barnums(timeout, want):
    assert bailey_timeout(timeout) == want


def test_has_option_both_spellings():
    assert has_option(["--timeout", "3"], "--timeout")
    assert has_option(["--timeout=3"], "--timeout")
    assert not has_option(["--timeouts"], "--timeout")
    assert not has_option(["x", "--", "--time"], "--timeout")


def test_argv_for_json_and_serve():
    common = {"timeout": 3, "config_template": "/u/{user}/c/{host}.ini"}
    assert bailey_argv("bailey", ["u1"], ["--units", "x"], ["stats"], verbose=True,
                       **common) == [
        "bailey", "--json", "u1", "--config-template", "/u/{user}/c/{host}.ini",
        "--timeout", "1", "--units", "x", "--verbose", "--", "stats"]
    assert bailey_argv("bailey", serve=True, verbose=True, **common) == [
        "bailey", "--serve", "--config-template", "/u/{user}/c/{host}.ini", "--timeout", "1"]


def test_argv_leaves_out_bailey_defaults_and_keeps_the_operators():
    assert bailey_argv("bailey", timeout=10) == ["bailey", "--json"]
    assert bailey_timeout(10) == BAILEY_DEFAULT_TIMEOUT
    assert bailey_argv("bailey", [], ["--timeout=4", "--config-template", "mine"],
                       timeout=3, config_template="theirs") == [
        "bailey", "--json", "--timeout=4", "--config-template", "mine"]


def test_argv_quoted_for_the_remote_shell():
    """A bailey path or template with spaces or shell characters survives the remote
    shell's split (the channel gets shlex.join of this argv)."""
    argv = bailey_argv("'/opt/my venv/bin/bailey'", ["u1"], ["--units", "a;b $(id)"],
                       timeout=4, config_template="/u/{user} x/{host}")
    assert argv[0] == "/opt/my venv/bin/bailey"
    assert shlex.split(shlex.join(argv)) == argv
    with pytest.raises(ValueError):
        bailey_argv("")


@pytest.mark.parametrize("timeout", [2, 3, 8, 10, 30])
def test_both_paths_give_bailey_the_same_options(timeout):
    """The one-shot plan and the session build bailey's argv with one builder: the
    same config_template and --timeout, --json vs --serve the only difference."""
    o = Options(timeout=timeout, bailey="/opt/b/bailey", config_template="/u/{user}/{host}",
                verbose=True)
    one = Plan([HostPlan("h1")]).argv(HostPlan("h1"), o)
    live = FleetSession(Config(users=["u1"]), o,
                        discovery=Discovery(hosts={"h1": ["u1"]})).argv()
    assert one[one.index("--json") + 1:] == [*live[live.index("--serve") + 1:], "--verbose"]
    assert one[:one.index("--json")] == live[:live.index("--serve")] == ["/opt/b/bailey"]
    assert Connector(o).argv(serve=True) == live


def test_local_is_only_this_machines_names_and_only_with_local():
    import socket

    here = socket.gethostname().split(".")[0]
    assert Connector(Options(local=True)).is_local("localhost")
    assert Connector(Options(local=True)).is_local(here)
    assert not Connector(Options(local=True)).is_local("host1")
    assert not Connector(Options()).is_local("localhost")
