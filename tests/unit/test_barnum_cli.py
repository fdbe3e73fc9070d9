import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from barnum.cli import main as cli

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def users(tmp_path, monkeypatch):
    """A users file whose template points into tmp_path: hosts host1, host2, localhost."""
    for user, hosts in {"user1": ["host1", "host2"], "user2": ["host1", "localhost"]}.items():
        for h in hosts:
            d = tmp_path / "homes" / user / "circus" / h
            d.mkdir(parents=True)
            (d / "circus.ini").write_text("[circus]\n")
    (tmp_path / "homes" / "user1" / "circus" / "a;b").mkdir()
    (tmp_path / "homes" / "user1" / "circus" / "a;b" / "circus.ini").write_text("")
    f = tmp_path / "users.yaml"
    f.write_text(f"users: [user1, user2]\nconfig_template: {tmp_path}/homes/{{user}}/circus/"
                 "{host}/circus.ini\nhosts: [host1, host2, localhost]\n")
    monkeypatch.delenv("BARNUM_CONFIG", raising=False)
    return f


def test_dry_run(users, capsys):
    sc = users.parent / "ssh config"
    sc.write_text("Host host*\n  User op\n")
    code = cli.main(["--config", str(users), "--dry-run", "-v", "user1@host1", "host2",
                     "--ssh-config", str(sc), "--", "--", "stats", "it's"])
    out, err = capsys.readouterr()
    assert code == 0
    ini = f"{users.parent}/homes/{{user}}/circus/{{host}}/circus.ini"
    tpl = f"--config-template ''\"'\"'{ini}'\"'\"''"
    assert out.splitlines() == [
        f"DRY RUN; would execute: ssh -q -F '{sc}' host1 bailey --json user1 {tpl}"
        " --verbose -- stats ''\"'\"'it'\"'\"'\"'\"'\"'\"'\"'\"'s'\"'\"''",
        f"DRY RUN; would execute: ssh -q -F '{sc}' host2 bailey --json {tpl}"
        " --verbose -- stats ''\"'\"'it'\"'\"'\"'\"'\"'\"'\"'\"'s'\"'\"''",
    ]
    assert "barnum: warning: user user1: skipping" in err
    assert "barnum: Circus is configured on the following hosts: host1, host2, localhost" in err


def test_dry_run_local_host_has_no_ssh(users, capsys):
    assert cli.main(["--config", str(users), "--dry-run", "--local", "localhost"]) == 0
    tpl = f"{users.parent}/homes/{{user}}/circus/{{host}}/circus.ini"
    assert capsys.readouterr().out == (
        f"DRY RUN; would execute: bailey --json --config-template '{tpl}'\n")


def test_local_host_goes_over_ssh_unless_local(users, capsys):
    assert cli.main(["--config", str(users), "--dry-run", "localhost"]) == 0
    assert capsys.readouterr().out.startswith("DRY RUN; would execute: ssh -q localhost ")


def test_unknown_target_exit_2(users, capsys):
    assert cli.main(["--config", str(users), "hots1"]) == 2
    err = capsys.readouterr().err
    assert "\nbarnum: error: unknown target 'hots1'" in err
    assert "host1" in err and "Traceback" not in err


def test_bad_users_file_exit_2(tmp_path, capsys):
    f = tmp_path / "u.yaml"
    f.write_text("users: [ok\n")
    assert cli.main(["--config", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{f}:2: invalid YAML" in err


def test_env_var_config(users, monkeypatch, capsys):
    monkeypatch.setenv("BARNUM_CONFIG", str(users))
    assert cli.main(["--dry-run", "host2"]) == 0
    assert "host2" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    assert cli.main(["--timeout", "0"]) == 2
    assert cli.main(["--host-key-policy", "yolo"]) == 2
    assert cli.main(["--ship", "--no-ship"]) == 2


def test_help_lists_exit_codes(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out and "takes precedence over 1" in out


def test_no_hosts_found_exit_2(tmp_path, capsys):
    f = tmp_path / "u.yaml"
    f.write_text(f"users: [nobody]\nconfig_template: {tmp_path}/{{user}}/{{host}}.ini\n")
    assert cli.main(["--config", str(f)]) == 2
    assert "no hosts found" in capsys.readouterr().err


def _fake_bailey(tmp_path, doc):
    fake = tmp_path / "fake-bailey"
    fake.write_text(f"#!{sys.executable}\nimport sys\nprint({json.dumps(doc)!r})\n")
    fake.chmod(0o755)
    return fake


def test_local_run_json_and_piped_human(users, tmp_path):
    from bailey.report import Instance, Report

    rep = Report(host="localhost", bailey_version="0.1.0", circusctl_args=[])
    here_unit = f"circus_user2_{socket.gethostname().split('.')[0]}.service"  # bailey's name
    rep.instances.append(Instance(here_unit, "user2", "User=", "enabled",
                                  "failed", "failed", state="unit-failed"))
    fake = _fake_bailey(tmp_path, rep.to_dict())
    base = [sys.executable, "-m", "barnum", "--config", str(users), "--bailey", str(fake),
            "--local", "localhost"]
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    p = subprocess.run([*base, "--json"], capture_output=True, text=True, cwd=REPO, env=env)
    assert p.returncode == 1, p.stderr
    doc = json.loads(p.stdout)
    assert doc["schema"] == "barnum/1" and doc["exit"] == 1
    assert doc["hosts"][0]["bailey"]["instances"][0]["state"] == "unit-failed"
    p = subprocess.run(base, capture_output=True, text=True, cwd=REPO, env=env)
    assert p.returncode == 1
    assert "\x1b[" not in p.stdout
    assert f"{here_unit}  enabled  failed (failed)" in p.stdout
    assert f"barnum: localhost: {here_unit}: unit failed" in p.stderr
