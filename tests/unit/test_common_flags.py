"""Every common option, for every command: honoured, or refused with a one-line usage
error (exit 2).  Then the session honouring them on this machine (``--local``: real
``bailey --serve`` processes, no SSH); tests/e2e/test_common_flags_e2e.py does the
same on the fleet, both paths."""

from __future__ import annotations

import inspect
import os
import socket
import sys
import textwrap
from pathlib import Path

import pytest

from barnum.cli import main as cli
from barnum.cli.parser import COMMON_OPTIONS, REFUSED, SUBCOMMANDS, parse_argv, refuse_unused
from barnum.live.session import FleetSession
from barnum.model.config import Config
from barnum.model.discovery import Discovery
from barnum.transport.options import Options

REQUIRED = {"start": ["ticker"], "stop": ["ticker"], "completion": ["bash"], "unit": ["restart"],
            "session": ["status"]}
# One spelling per common option: what the operator types.
GIVEN = {
    "config": ["--config", "u.yaml"], "ssh_config": ["--ssh-config", "s.cfg"],
    "bailey": ["--bailey", "/opt/b/bailey"], "timeout": ["--timeout", "3"],
    "fanout": ["--fanout", "2"], "max_output": ["--max-output", "2048"], "local": ["--local"],
    "ship": ["--no-ship"], "host_key_policy": ["--host-key-policy", "strict"],
    "explicit_targets": ["-t", "h1"], "verbose": ["-v"], "debug": ["--debug"],
}
# How each command reaches hosts (read from its module below): the session and the
# one-shot pool both go through barnum.transport.connector, so they honour every
# option; the others must refuse what they cannot use.
ROUTE = {
    "watch": "session", "logs": "session", "stats": "session", "start": "session",
    "stop": "session", "drift": "session", "web": "session", "shell": "session",
    "check": "oneshot", "unit": "systemctl", "history": "nothing", "completion": "nothing",
    "session": "warm",
}
MARKS = {"session": ("open_session", "open_live(", "FleetSession("), "oneshot": ("run_fleet(",),
         "systemctl": ("run_units(",), "warm": ("key_of(",), "nothing": ()}


def test_every_option_and_command_is_in_the_tables():
    assert set(GIVEN) == set(COMMON_OPTIONS)
    assert set(ROUTE) == set(SUBCOMMANDS)
    assert set(REFUSED) <= set(SUBCOMMANDS)


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_route_is_what_the_command_runs(name):
    """A command that stops using the connector (or starts) must change its refusals."""
    import importlib

    src = inspect.getsource(importlib.import_module(SUBCOMMANDS[name][0]))
    marks = [m for route, ms in MARKS.items() if route != "nothing" for m in ms if m in src]
    want = MARKS[ROUTE[name]]
    assert (any(m in src for m in want) if want else not marks), (name, marks)


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_refusals_follow_the_route(name):
    refused = REFUSED.get(name, (frozenset(), ""))[0]
    route = ROUTE[name]
    if route in ("session", "oneshot"):
        assert refused == frozenset()  # every option honoured
    elif route == "systemctl":  # ssh_config, timeout, fanout, host keys: run_units reads them
        assert refused == {"bailey", "max_output", "local", "ship", "verbose"}
    elif route == "warm":  # the users file, ssh_config and bailey name the session
        assert refused == set(COMMON_OPTIONS) - {"config", "ssh_config", "bailey", "debug"}
    else:
        assert refused >= {"ssh_config", "bailey", "timeout", "fanout", "max_output", "local",
                           "ship", "host_key_policy", "verbose"}
    assert "debug" not in refused  # tracebacks: main's, for every command


@pytest.mark.parametrize("name", [None, *sorted(SUBCOMMANDS)])
@pytest.mark.parametrize("dest", sorted(GIVEN))
def test_every_command_every_option(name, dest, capsys):
    words = [*GIVEN[dest], *([name, *REQUIRED.get(name, [])] if name else [])]
    refused = dest in REFUSED.get(name or "", (frozenset(), ""))[0]
    args = parse_argv(words)
    if refused:
        assert cli.main(words) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert err.startswith(f"barnum: error: barnum {name} does not take "
                              f"{COMMON_OPTIONS[dest]}: "), err
    else:
        refuse_unused(args)  # no error: the option reaches the command
        if dest in ("ssh_config", "bailey", "timeout", "fanout", "max_output", "local",
                    "ship", "host_key_policy"):
            o = Options.from_config(None, **{dest: getattr(args, dest)})
            assert getattr(o, dest) == getattr(args, dest)


def test_no_ship_is_refused_as_ship_is():
    """--no-ship parses to False: still an option given."""
    assert cli.main(["unit", "restart", "--no-ship"]) == 2
    assert cli.main(["unit", "restart", "--ship"]) == 2


# -- the session, on this machine ------------------------------------------------------

HERE = socket.gethostname().split(".")[0]


def _session(options: Options, hosts: list[str], said: list[str]) -> FleetSession:
    return FleetSession(Config(users=["nobody"]), options,
                        discovery=Discovery(hosts={h: ["nobody"] for h in hosts}),
                        log=lambda m: said.append("warning: " + m), debug=said.append)


def _bailey() -> str:
    return f"{sys.executable} -m bailey"


def test_session_local_runs_bailey_here_without_ssh():
    said: list[str] = []
    o = Options(local=True, verbose=True, bailey=_bailey(), timeout=3,
                ssh_config="/nonexistent/ssh_config")  # SSH would fail: never read
    with _session(o, ["localhost"], said) as s:
        st = s.host_states()["localhost"]
        assert st.state == "up", (st, said)
        assert s.stats()["localhost"] == {"instances": []}
    assert "localhost: this machine (--local): running bailey without SSH" in said
    assert not any("over SSH" in m for m in said)
    cmd = next(m for m in said if m.startswith("localhost: bailey cmd: "))
    assert cmd.endswith("--serve --timeout 1")  # --timeout 3 reached bailey


def test_session_local_ships_where_bailey_is_missing():
    said: list[str] = []
    o = Options(local=True, bailey="no-such-bailey-here", timeout=3, verbose=True)
    with _session(o, ["localhost"], said) as s:
        assert s.host_states()["localhost"].state == "up", said
    assert "localhost: no-such-bailey-here not found; running bailey from barnum's copy" \
        in said
    said.clear()
    o = Options(local=True, bailey="no-such-bailey-here", timeout=3, auto_ship=False)
    with _session(o, ["localhost"], said) as s:
        st = s.host_states()["localhost"]
        assert (st.state, st.error) == ("down", "bailey not found; rerun with --ship")


def test_session_fanout_bounds_links_connecting_at_once():
    """--fanout 1: each host's connection attempt ends before the next one starts."""
    said: list[str] = []
    o = Options(local=True, verbose=True, bailey=_bailey(), timeout=5, fanout=1)
    with _session(o, ["localhost", HERE], said) as s:
        assert {st.state for st in s.host_states().values()} == {"up"}, said
    marks = [m for m in said if m.startswith("Processing ") or m.endswith(": up")]
    assert len(marks) == 4, said
    busy = 0
    for m in marks:
        busy += 1 if m.startswith("Processing ") else -1
        assert 0 <= busy <= 1, marks


FAKE_SERVE = """\
import json, sys
print(json.dumps({"event": "hello", "protocol": "bailey-serve/1", "epoch": "e1", "seq": 0}),
      flush=True)
for line in sys.stdin:
    req = json.loads(line)
    print(json.dumps({"id": req["id"], "ok": True, "seq": 1, "epoch": "e1",
                      "result": "x" * 5000}), flush=True)
"""


@pytest.fixture
def fake_serve(tmp_path: Path) -> str:
    """A bailey that answers every request with a 5 kB line (what a too-big host does)."""
    script = tmp_path / "fake_serve.py"
    script.write_text(textwrap.dedent(FAKE_SERVE))
    return f"{sys.executable} {script}"


def test_session_max_output_caps_a_line(fake_serve):
    said: list[str] = []
    o = Options(local=True, bailey=fake_serve, timeout=3, max_output=2048)
    with _session(o, ["localhost"], said) as s:
        st = s.host_states()["localhost"]
        assert st.state == "down"
        assert st.error.startswith("bailey sent a line over 2048 bytes"), st.error


def test_one_shot_max_output_caps_the_answer(tmp_path):
    from barnum.oneshot.plan import HostPlan, Plan
    from barnum.oneshot.pool import run_fleet

    fake = tmp_path / "big-bailey"
    fake.write_text(f"#!{sys.executable}\nprint('x' * 5000)\n")
    os.chmod(fake, 0o755)
    r = run_fleet(Plan([HostPlan("localhost", local=True)]),
                  Options(bailey=str(fake), max_output=2048, local=True)).hosts[0]
    assert r.error.startswith("output too large: over 2048 bytes"), r.error


def test_serve_stderr_is_relayed_with_verbose(tmp_path):
    """bailey's stderr on a serve stream reaches --verbose, line by line, host-prefixed."""
    script = tmp_path / "talky.py"
    script.write_text("import json, sys\nsys.stderr.write('first words\\n'); sys.stderr.flush()\n"
                      + textwrap.dedent(FAKE_SERVE))
    said: list[str] = []
    o = Options(local=True, verbose=True, bailey=f"{sys.executable} {script}", timeout=3,
                max_output=2048)  # the answer is too long: the link fails fast
    with _session(o, ["localhost"], said) as s:
        s.host_states()
    assert "localhost: first words" in said, said
