"""barnum reads a real ssh_config tree as OpenSSH does, against the real fleet.

The operator's ~/.ssh/config (HOME is a temporary folder) names no address:
the hosts' addresses, user and key come from included files, relative and
``~`` paths, globs, a conditional Include inside a Host block, and
``Match host`` / ``Match originalhost``.  If barnum skipped any of it a
host would be unreachable or its key refused.  The system config's own
relative Include (against /etc/ssh) is tested in a private mount namespace,
so the machine's /etc/ssh is never touched.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest

from tests.fleet import OPERATOR

pytestmark = pytest.mark.fleet

HOSTS = ["host1", "host2", "host3", "host4"]


def _users_file(fleet, path, hosts_line: str = "") -> None:
    path.write_text(f"users: [{', '.join(fleet.users)}]\n"
                    f"config_template: {fleet.homes}/{{user}}/circus/{{host}}/circus.ini\n"
                    + hosts_line)


def _barnum(args, home, cwd, wrap=()):
    env = {k: v for k, v in os.environ.items() if k != "BARNUM_CONFIG"}
    env["HOME"] = str(home)
    return subprocess.run([*wrap, sys.executable, "-m", "barnum", *args],
                          capture_output=True, text=True, timeout=120, env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL)


def _all_ok(p) -> None:
    doc = json.loads(p.stdout)
    states = {h["host"]: (h["ok"], h["error"]) for h in doc["hosts"]}
    assert states == {h: (True, None) for h in HOSTS}, p.stderr


def test_user_config_tree_with_includes_and_match(fleet, tmp_path):
    home = tmp_path / "home"
    ssh = home / ".ssh"
    (ssh / "conf.d").mkdir(parents=True)
    (ssh / "host2.d").mkdir()
    (home / "more").mkdir()
    a = {h: fleet.address(h) for h in HOSTS}
    net = a["host1"].rsplit(".", 1)[0]
    (ssh / "config").write_text(
        "Include conf.d/*.conf\n"          # relative: ~/.ssh/conf.d
        "Include ~/more/*.conf\n"          # ~ and a glob
        "Include conf.d/absent.conf\n"     # a missing file is skipped, as OpenSSH does
        "Host *\n"
        f"  IdentityFile {fleet.key}\n  UserKnownHostsFile {fleet.known_hosts}\n")
    (ssh / "conf.d" / "10-host1.conf").write_text(f"Host host1\n  HostName {a['host1']}\n")
    # conditional: the included "Host host1 / Port 2" needs Host host2 too, and
    # the HostName after the Include is host2's again (OpenSSH restores the block)
    (ssh / "conf.d" / "20-host2.conf").write_text(
        "Host host2\n  Include host2.d/*.conf\n" f"  HostName {a['host2']}\n")
    (ssh / "host2.d" / "x.conf").write_text("Host host1\n  Port 2\n")
    (home / "more" / "match.conf").write_text(
        "Host host3 host4\n"
        f"Match originalhost host3\n  HostName {a['host3']}\n"
        f"Match originalhost host4\n  HostName {a['host4']}\n"
        f"Match host {net}.*\n  User {OPERATOR}\n")   # on the HostName, not the alias
    users = tmp_path / "users.yaml"
    _users_file(fleet, users)  # no hosts: the Host lines of the tree allow them
    p = _barnum(["--config", str(users), "--json", "--timeout", "8"], home, tmp_path)
    _all_ok(p)
    assert "not connecting" not in p.stderr


def test_system_config_relative_include_resolves_against_etc_ssh(fleet, tmp_path):
    etc = tmp_path / "etc-ssh"
    (etc / "ssh_config.d").mkdir(parents=True)
    (etc / "ssh_config").write_text("Include ssh_config.d/*.conf\n")
    (etc / "ssh_config.d" / "fleet.conf").write_text(fleet.ssh_config.read_text())
    home = tmp_path / "home"  # no ~/.ssh/config: only the system's
    home.mkdir()
    users = tmp_path / "users.yaml"
    _users_file(fleet, users, "hosts: ['host*']\n")
    script = f"mount --bind {shlex.quote(str(etc))} /etc/ssh && exec \"$@\""
    wrap = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh"]
    p = _barnum(["--config", str(users), "--json", "--timeout", "8"], home, tmp_path, wrap)
    _all_ok(p)
