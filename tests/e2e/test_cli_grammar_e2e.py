"""The command line's grammar on a real fleet with two-digit host numbers.

- Ranges are ClusterShell's: ``host[10-12]`` is host10, host11, host12 (as an
  fnmatch class it was host1, host0 and host2), and a set barnum prints,
  typed back, touches exactly those hosts.
- Common options go before or after the subcommand
  (``barnum --config F shell -c status``).

The truth is read on the hosts (nsenter + circusctl), never from barnum.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess

import pytest

from tests.conftest import _cannot_host, _unavailable
from tests.e2e.test_barnum_e2e import HARD_LIMIT, barnum_cmd, circusctl
from tests.e2e.test_shell_tmux import endpoint, watchers_on
from tests.waiting import until

pytestmark = pytest.mark.fleet

NAME = os.environ.get("BARNUM_TEST_FLEET", "bt")[:5] + "num"
HOSTS = ["host1", "host2", "host10", "host11", "host12"]


@pytest.fixture(scope="module")
def numbered():
    """host1, host2, host10..host12, each with user1's circus (watchers sleeper, ticker)."""
    reason = _cannot_host()
    if reason:
        _unavailable(reason)
    from tests.fleet import Fleet, HostSpec, UnitSpec

    f = Fleet(NAME, [HostSpec(h, [UnitSpec("user1")]) for h in HOSTS])
    try:
        f.up()
    except Exception as e:
        f.down()
        _unavailable(f"the numbered fleet did not boot: {e}")
    try:
        yield f
    finally:
        f.down()


def barnum(fleet, *args: str) -> subprocess.CompletedProcess:
    """``barnum --config ... --ssh-config ... --timeout 20 ARGS``: common options first,
    whatever ARGS start with (a subcommand too)."""
    cmd = [*barnum_cmd(), "--config", str(fleet.users_file), "--ssh-config",
           str(fleet.ssh_config), "--timeout", "20", *args]  # 20 s: a loaded machine
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=HARD_LIMIT, env=env,
                          stdin=subprocess.DEVNULL)


def dry_run_hosts(fleet, target: str) -> list[str]:
    r = barnum(fleet, "--dry-run", target)
    assert r.returncode == 0, r.stderr
    hosts = []
    for line in r.stdout.splitlines():
        words = shlex.split(line.removeprefix("DRY RUN; would execute: "))
        hosts.append(words[words.index(str(fleet.ssh_config)) + 1])  # ssh -q -F CFG HOST
    return hosts


def ticker(fleet, host: str) -> str | None:
    return watchers_on(fleet, host, "user1").get("ticker")


def test_dry_run_selects_exactly_the_range(numbered):
    assert sorted(dry_run_hosts(numbered, "host[10-12]")) == ["host10", "host11", "host12"]
    assert sorted(dry_run_hosts(numbered, "host[1-12]")) == sorted(HOSTS)
    assert sorted(dry_run_hosts(numbered, "host[1-3]")) == ["host1", "host2"]
    assert sorted(dry_run_hosts(numbered, "host[2-12/10]")) == ["host12", "host2"]
    r = barnum(numbered, "--dry-run", "host[!1]")  # once an fnmatch class, now a mistake
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "bad target 'host[!1]'" in r.stderr, r.stderr


def test_a_printed_set_typed_back_touches_exactly_those_hosts(numbered):
    try:
        r = barnum(numbered, "shell", "-c", "stop ticker host1*!host1")
        assert r.returncode == 0, r.stderr
        [line] = r.stdout.splitlines()
        m = re.fullmatch(r"(\S+) \(3\): ok", line)
        assert m, line
        printed = m.group(1)
        assert printed == "user1@host[10-12]"
        for h in ("host10", "host11", "host12"):
            assert until(lambda h=h: ticker(numbered, h) == "stopped"), h
        assert all(ticker(numbered, h) == "active" for h in ("host1", "host2"))
        r = barnum(numbered, "shell", "-c", "stop ticker host[1-2]")
        assert r.returncode == 0 and r.stdout == "user1@host[1-2] (2): ok\n", r.stdout
        assert until(lambda: all(ticker(numbered, h) == "stopped" for h in HOSTS))
        # the printed set, typed back to the one-shot CLI: those three hosts, no other
        r = barnum(numbered, "start", "ticker", printed)
        assert r.returncode == 0, (r.stdout, r.stderr)
        for h in ("host10", "host11", "host12"):
            assert until(lambda h=h: ticker(numbered, h) == "active"), h
        assert [ticker(numbered, h) for h in ("host1", "host2")] == ["stopped", "stopped"]
    finally:
        for h in HOSTS:
            circusctl(numbered, h, endpoint(numbered, "user1"), "start", "ticker")


def test_common_options_before_shell_and_stats(numbered):
    r = barnum(numbered, "shell", "-c", "status")  # barnum --config F ... shell -c status
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert {ln.split()[0] for ln in lines if ln.startswith("host")} == set(HOSTS), r.stdout
    assert lines[-1].startswith("5 hosts: 5 ok"), r.stdout
    r = barnum(numbered, "shell", "host[10-12]", "-c", "circusctl numwatchers")
    assert (r.returncode, r.stdout) == (0, "user1@host[10-12] (3): 2\n"), r.stderr
    r = barnum(numbered, "stats")
    assert r.returncode == 0, r.stderr
    assert {ln.split()[0] for ln in r.stdout.splitlines()[1:] if ln.strip()} == set(HOSTS)
    r = barnum(numbered, "--json", "stats", "host[10-12]", "--sort", "cpu")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {w["host"] for w in doc["watchers"]} == {"host10", "host11", "host12"}
    # a host named like a subcommand is still a target with -t (here: none such)
    r = barnum(numbered, "-t", "stats")
    assert r.returncode == 2 and "unknown target 'stats'" in r.stderr
