"""ssh_config Include and Match as OpenSSH reads them on real files."""

from __future__ import annotations

import paramiko
import pytest

from barnum.transport.sshconfig import SshConfigError, expand, include_paths


def _lookup(text: str, host: str) -> dict:
    return paramiko.SSHConfig.from_text(text).lookup(host)


def test_relative_includes_resolve_against_dot_ssh_and_globs_are_sorted(tmp_path):
    ssh = tmp_path / ".ssh"
    (ssh / "conf.d").mkdir(parents=True)
    (ssh / "conf.d" / "20-b.conf").write_text("Host b\n  Port 2202\n")
    (ssh / "conf.d" / "10-a.conf").write_text("Host a\n  Port 2201\nHost b\n  User first\n")
    (tmp_path / "extra.conf").write_text("Host c\n  HostName 10.0.0.3\n")
    top = ssh / "config"
    top.write_text("Include conf.d/*.conf ~/extra.conf ~/missing.conf\n"
                   "Host *\n  User default\n")
    text = expand(str(top), home=str(tmp_path))
    assert _lookup(text, "a")["port"] == "2201"
    assert _lookup(text, "b") == {"hostname": "b", "port": "2202", "user": "first"}
    assert _lookup(text, "c")["hostname"] == "10.0.0.3"
    assert _lookup(text, "z")["user"] == "default"


def test_system_config_includes_resolve_against_etc_ssh():
    assert include_paths("ssh_config.d/x.conf", system=True) == ["/etc/ssh/ssh_config.d/x.conf"]
    assert include_paths("x.conf", system=False, home="/h") == ["/h/.ssh/x.conf"]
    assert include_paths('"/abs path.conf"', system=False) == ["/abs path.conf"]


def test_an_include_inside_a_block_is_conditional_and_the_block_resumes(tmp_path):
    (tmp_path / "a.d").mkdir()
    (tmp_path / "a.d" / "x.conf").write_text(
        "User from-include\nHost b\n  Port 2\nMatch user nobody\n  Port 3\n")
    top = tmp_path / "config"
    top.write_text(f"Host a\n  Include {tmp_path}/a.d/*.conf\n  HostName 10.0.0.1\n"
                   "Host b\n  HostName 10.0.0.2\n")
    text = expand(str(top))
    a, b = _lookup(text, "a"), _lookup(text, "b")
    assert a["user"] == "from-include"  # the file's first lines belong to Host a
    assert a["hostname"] == "10.0.0.1"  # after the Include, Host a goes on
    assert "port" not in b and "user" not in b  # the included Host b needs Host a too
    assert b["hostname"] == "10.0.0.2"


def test_match_host_sees_the_hostname_and_originalhost_the_alias(tmp_path):
    top = tmp_path / "config"
    top.write_text("Match originalhost web1\n  HostName 10.1.1.1\n"
                   "Match host 10.1.1.*\n  User ops\n")
    cfg = _lookup(expand(str(top)), "web1")
    assert (cfg["hostname"], cfg["user"]) == ("10.1.1.1", "ops")
    assert "user" not in _lookup(expand(str(top)), "web2")


def test_an_include_loop_is_one_usage_error(tmp_path):
    top = tmp_path / "config"
    top.write_text(f"Include {top}\n")
    with pytest.raises(SshConfigError, match="Include nested more than 16 deep"):
        expand(str(top))
