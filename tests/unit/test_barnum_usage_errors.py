"""Configuration mistakes are usage errors: exit 2 and one line, before any connection."""

from __future__ import annotations

import os

import pytest

from barnum.cli import main as cli

SSH_CONFIGS = {
    "no-value": (b"Host a\n  HostName\n", "Unparsable line HostName"),
    "not-utf8": (b"Host a\n  HostName \xff\n", "not UTF-8 (byte 18)"),
    "port": (b"Host a\n  Port abc\n", "host a: Port 'abc' is not a port number"),
    "jump-loop": (b"Host a\n  ProxyJump b\nHost b\n  ProxyJump u@a:22\n",
                  "ProxyJump loop: a -> b -> a"),
}


@pytest.fixture
def users(tmp_path, monkeypatch):
    (tmp_path / "h" / "u1" / "circus" / "a").mkdir(parents=True)
    (tmp_path / "h" / "u1" / "circus" / "a" / "circus.ini").write_text("[circus]\n")
    f = tmp_path / "users.yaml"
    f.write_text(f"users: [u1]\nconfig_template: {tmp_path}/h/{{user}}/circus/{{host}}/"
                 "circus.ini\nhosts: [a]\n")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/config of this machine
    return f


def _one_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("barnum: error: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err
    return lines[0]


@pytest.mark.parametrize("case", sorted(SSH_CONFIGS))
def test_bad_ssh_config(users, tmp_path, capsys, case):
    body, expected = SSH_CONFIGS[case]
    sc = tmp_path / "ssh_config"
    sc.write_bytes(body)
    assert cli.main(["--config", str(users), "--ssh-config", str(sc), "a"]) == 2
    line = _one_error(capsys)
    assert line.startswith(f"barnum: error: ssh_config {sc}: ") and expected in line


@pytest.mark.parametrize(("args", "expected"), [
    (["--bailey", "'x"], "--bailey \"'x\": No closing quotation"),
    (["--bailey", " "], "--bailey is empty"),
    (["--timeout", "inf"], "must be a number of seconds in (0, 3600]"),
    (["--timeout", "nan"], "must be a number of seconds in (0, 3600]"),
    (["--timeout", "1e10"], "must be a number of seconds in (0, 3600]"),
    (["--fanout", "100000"], "must be from 1 to 1024"),
    (["\udcff"], "argument 3 is not valid UTF-8"),
])
def test_bad_arguments(users, capsys, args, expected):
    assert cli.main(["--config", str(users), *args, "a"]) == 2
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_users_file_that_is_not_a_file(tmp_path, capsys, kind):
    path = tmp_path / "users.yaml"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path = "/dev/zero"
    assert cli.main(["--config", str(path)]) == 2
    assert "not a regular file" in _one_error(capsys)
