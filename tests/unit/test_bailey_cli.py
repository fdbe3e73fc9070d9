"""The bailey command line: argument handling, exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from bailey import cli, host
from bailey.report import EXIT_HOST, EXIT_USAGE


@pytest.mark.parametrize(("argv", "own", "rest"), [
    ([], [], []),
    (["user1"], ["user1"], []),
    (["user1", "--", "stats"], ["user1"], ["stats"]),
    (["--json", "user1", "--", "status", "--", "x"], ["--json", "user1"], ["status", "--", "x"]),
    (["--", "start", "myapp"], [], ["start", "myapp"]),
    (["u", "--"], ["u"], []),
])
def test_split_argv(argv, own, rest):
    assert cli.split_argv(argv) == (own, rest)


def test_defaults():
    args = cli.build_parser().parse_args([])
    assert (args.users, args.json, args.dry_run, args.verbose, args.native, args.timeout,
            args.units, args.circusctl) == ([], False, False, False, True, 5, "circus_*", None)
    assert args.config_template == "{home}/circus/{host}/circus.ini"


def test_options():
    args = cli.build_parser().parse_args(
        ["-D", "-v", "--json", "--no-native", "--timeout", "2", "--units", "x_*",
         "--config-template", "/users/{user}/c/{host}.ini", "--circusctl", "/x/circusctl",
         "a", "b"])
    assert args.dry_run and args.verbose and args.json and not args.native
    assert (args.timeout, args.units, args.users) == (2, "x_*", ["a", "b"])


@pytest.mark.parametrize("argv", [["--timeout", "0"], ["--timeout", "x"], ["--bogus"]])
def test_usage_errors_exit_2(argv, capsys):
    assert cli.main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "usage: bailey" in err and "Traceback" not in err


def test_help_documents_exit_codes(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for code in ("0  every instance healthy", "1  at least one instance failed",
                 "2  bad arguments", "3  nothing could be listed"):
        assert code in out
    assert "--no-native" in out and "--dry-run" in out


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == "bailey 0.1.0"


def test_internal_error_is_one_line(monkeypatch, capsys):
    def boom(*a, **k):
        raise RuntimeError("kaput")

    monkeypatch.setattr(host, "inspect_host", boom)
    assert cli.main([]) == EXIT_HOST
    err = capsys.readouterr().err
    assert err == "bailey: internal error: RuntimeError: kaput\n"


@pytest.mark.skipif(shutil.which("systemctl") is None, reason="no systemctl")
def test_real_run_as_a_process():
    """bailey as a process on this machine, with the real systemctl."""
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    p = subprocess.run([sys.executable, "-m", "bailey", "--json", "--units", "bailey-none-*"],
                       capture_output=True, text=True, env=env, cwd=os.path.dirname(cli.__file__)
                       + "/..")
    doc = json.loads(p.stdout)
    assert doc["schema"] == "bailey/1" and doc["instances"] == [] and doc["exit"] == p.returncode
    p = subprocess.run([sys.executable, "-m", "bailey", "--units", "bailey-none-*", "nosuch"],
                       capture_output=True, text=True, cwd=os.path.dirname(cli.__file__) + "/..")
    assert p.returncode == EXIT_HOST
    assert p.stderr.startswith("bailey: nosuch: no bailey-none-* unit for this user on ")
    assert "Traceback" not in p.stderr and p.stderr.count("\n") == 1
