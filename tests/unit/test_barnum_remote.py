import base64
import json
import os
import shlex
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from barnum.transport.bailey import bailey_args_of, bailey_argv
from barnum.transport.remote import (
    BOOTSTRAP,
    MAX_ARG,
    PAYLOAD_BUDGET,
    payload,
    remote_command,
    shipped_argv,
    ssh_command,
    without_docstrings,
)

REPO = Path(__file__).resolve().parents[2]
HOSTILE = [
    "a b", "it's", 'say "hi"', "$HOME", "${PATH}", "`id`", "$(id)", "a;b", "a && b", "x|y",
    "*", "?", "[ab]", "~", "~root", "#not a comment", "back\\slash", "new\nline", "tab\there",
    "", " ", "--", "-", "--json", "ünïcödé", "'", '"', "\\", "!", "{a,b}", "a>b", "<x",
]
# What a POSIX shell may receive: no NUL bytes, valid text.
shell_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=20,
)
ECHO_ARGV = [sys.executable, "-c", "import sys, json; print(json.dumps(sys.argv[1:]))"]


def test_bailey_argv_shape():
    assert bailey_argv("bailey", ["u1", "u2"], ["--units", "x*"], ["stats"], verbose=True) == [
        "bailey", "--json", "u1", "u2", "--units", "x*", "--verbose", "--", "stats",
    ]
    assert bailey_argv("bailey", [], [], None) == ["bailey", "--json"]
    assert bailey_argv("bailey", [], [], []) == ["bailey", "--json", "--"]
    assert bailey_argv("bailey", [], ["-v"], None, verbose=True) == ["bailey", "--json", "-v"]


def test_bailey_command_is_split_like_a_shell():
    argv = bailey_argv("/opt/venv/bin/python3 -m bailey", ["u"], [], None)
    assert argv[:4] == ["/opt/venv/bin/python3", "-m", "bailey", "--json"]
    assert bailey_args_of(argv, "/opt/venv/bin/python3 -m bailey") == ["--json", "u"]


@given(st.lists(shell_text, max_size=6))
def test_round_trip_shlex(args):
    argv = bailey_argv("bailey", ["u1"], [], args)
    assert shlex.split(remote_command(argv)) == argv


def _through_sh(cmd: str) -> list[str]:
    p = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=True,
                       env={**os.environ, "HOME": "/should-not-expand"})
    return json.loads(p.stdout)


def test_hostile_args_arrive_byte_identical_through_sh():
    argv = [*ECHO_ARGV, "--json", "user1", "--", *HOSTILE]
    assert _through_sh(remote_command(argv)) == argv[3:]


@settings(max_examples=30, deadline=None)
@given(st.lists(shell_text, min_size=1, max_size=5))
def test_any_args_arrive_byte_identical_through_sh(args):
    assert _through_sh(remote_command([*ECHO_ARGV, *args])) == args


def test_dry_run_line_is_pasteable(tmp_path):
    """The printed ssh line, pasted into a shell, gives the remote shell the same argv."""
    fake = tmp_path / "ssh"
    # Like OpenSSH: skip options and the host, join the rest with spaces, give it to sh -c.
    fake.write_text('#!/bin/sh\nwhile [ "${1#-}" != "$1" ]; do [ "$1" = -F ] && shift; shift;'
                    ' done\nshift\nexec sh -c "$*"\n')
    fake.chmod(0o755)
    argv = [*ECHO_ARGV, "--", *HOSTILE]
    line = ssh_command("host1", argv, "/tmp/my ssh config")
    assert line.startswith("ssh -q -F '/tmp/my ssh config' host1 ")
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    p = subprocess.run(["sh", "-c", line], capture_output=True, text=True, check=True, env=env)
    assert json.loads(p.stdout) == argv[3:]


def test_dry_run_line_plain_words_stay_plain():
    assert ssh_command("host1", ["bailey", "--json", "user1", "--verbose"]) == (
        "ssh -q host1 bailey --json user1 --verbose"
    )


def test_payload_is_small():
    data = payload()
    assert len(data) < PAYLOAD_BUDGET
    cmd = remote_command(shipped_argv(["--json", *HOSTILE]))
    assert len(cmd.encode()) < MAX_ARG // 2


def test_shipped_sources_lose_their_docstrings_and_keep_their_lines():
    src = ('"""Module."""\nfrom __future__ import annotations\n\n\nclass A:\n'
           '    """Only a docstring."""\n\n\ndef f(x):\n    """Two\n    lines."""\n'
           '    return x + 1  # kept\n\n\ndef g():\n    "doc"; return 2\n')
    out = without_docstrings(src)
    assert len(out.splitlines()) == len(src.splitlines())
    ns: dict = {}
    exec(compile(out, "m", "exec"), ns)
    assert ns["f"](1) == 2 and ns["g"]() == 2 and ns["A"].__doc__ is None
    assert ns["f"].__doc__ is None and "Module" not in out and "# kept" in out
    shipped = json.loads(zlib.decompress(base64.b64decode(payload())))
    for name, (_pkg, text) in shipped.items():
        compile(text, name, "exec")  # every shipped module still compiles


@pytest.mark.skipif(not (REPO / "bailey" / "cli.py").exists(), reason="bailey/cli.py not yet")
def test_shipped_bootstrap_runs_bailey_without_bailey_installed(tmp_path):
    """A python3 that cannot import bailey (-I, empty folder): only the payload provides it.

    The development python may have bailey installed (editable); the system's
    /usr/bin/python3 is a python such a host would have.
    """
    python = next(
        (py for py in (sys.executable, "/usr/bin/python3") if os.path.exists(py)
         and subprocess.run([py, "-I", "-c", "import bailey"], cwd=tmp_path,
                            capture_output=True).returncode != 0),
        None,
    )
    if python is None:
        pytest.skip("every python here can import bailey: cannot prove the payload supplies it")
    argv = shipped_argv(["--version"], python)
    argv.insert(1, "-I")
    p = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("bailey ")


@pytest.mark.skipif(not (REPO / "bailey" / "cli.py").exists(), reason="bailey/cli.py not yet")
def test_shipped_bootstrap_through_a_shell_passes_hostile_args(tmp_path):
    """Through sh -c like the remote side: bailey's own usage error shows the args arrived."""
    argv = shipped_argv(["--json", "--definitely-not-an-option", "a b;$(x)"], sys.executable)
    argv.insert(1, "-I")
    p = subprocess.run(["sh", "-c", remote_command(argv)], cwd=tmp_path, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2
    assert "--definitely-not-an-option" in p.stderr


def test_bootstrap_is_small_and_standalone():
    assert len(BOOTSTRAP) < 1024
    compile(BOOTSTRAP, "<bootstrap>", "exec")


def _shipped_modules() -> dict[str, list]:
    import base64
    import zlib

    return json.loads(zlib.decompress(base64.b64decode(payload())))


def _without_docstrings(tree):
    import ast

    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            b = node.body
            if b and isinstance(b[0], ast.Expr) and isinstance(b[0].value, ast.Constant) \
                    and isinstance(b[0].value.value, str):
                del b[0]
                if not b and not isinstance(node, ast.Module):
                    b.append(ast.Pass())
    return tree


def test_shipped_sources_are_the_installed_code_without_docstrings():
    """Each shipped module parses to the same tree as its source minus docstrings (the
    same code), compiles, and the whole of bailey is shipped."""
    import ast

    shipped = _shipped_modules()
    root = REPO / "bailey"
    sources = {p for p in root.rglob("*.py") if "__pycache__" not in p.parts}
    assert len(shipped) == len(sources)
    for name, (is_pkg, text) in shipped.items():
        rel = Path(*name.split(".")[1:]) / "__init__.py" if is_pkg else Path(
            *name.split(".")[1:]).with_suffix(".py")
        original = (root / rel).read_text(encoding="utf-8")
        assert ast.dump(ast.parse(text)) == ast.dump(_without_docstrings(ast.parse(original)))
        compile(text, name, "exec")
    assert len(payload()) < PAYLOAD_BUDGET


def test_shipped_bailey_help_is_the_installed_one(tmp_path):
    """The help texts are not docstrings: stripping these changed nothing users see."""
    argv = shipped_argv(["--help"], sys.executable)
    argv.insert(1, "-I")
    shipped = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    local = subprocess.run([sys.executable, "-m", "bailey", "--help"], cwd=REPO,
                           capture_output=True, text=True, timeout=60)
    assert shipped.returncode == local.returncode == 0, shipped.stderr
    assert shipped.stdout == local.stdout
    assert "--no-native" in shipped.stdout
