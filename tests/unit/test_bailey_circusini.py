"""Differential test: bailey's circus.ini reader against circus itself.

The oracle is ``circus.config.get_config(path)`` from the installed circus
0.19.0, the function circusd calls.  Every case writes real files (main file
plus includes), sets real environment variables, and asserts that bailey
derives the same endpoint, or fails where circus fails.
"""

from __future__ import annotations

import configparser
import os
import tempfile
import textwrap
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bailey.circusini import DEFAULT_ENDPOINT, CircusIniError, read_circus_ini

circus_config = pytest.importorskip("circus.config")

# (id, main file, {relative path: text} of other files, {env var: value})
CASES: list[tuple[str, str, dict[str, str], dict[str, str]]] = [
    ("no-circus-section", "[watcher:a]\ncmd = sleep 1\n", {}, {}),
    ("circus-without-endpoint", "[circus]\ncheck_delay = 5\n", {}, {}),
    ("empty-file", "", {}, {}),
    ("plain", "[circus]\nendpoint = tcp://127.0.0.1:6001\n", {}, {}),
    ("no-spaces", "[circus]\nendpoint=tcp://127.0.0.1:6002\n", {}, {}),
    ("colon-delimiter", "[circus]\nendpoint: tcp://127.0.0.1:6003\n", {}, {}),
    ("key-case-sensitive", "[circus]\nEndpoint = tcp://127.0.0.1:6004\n", {}, {}),
    ("section-case-sensitive", "[Circus]\nendpoint = tcp://127.0.0.1:6005\n", {}, {}),
    ("first-duplicate-wins",
     "[circus]\nendpoint = tcp://127.0.0.1:6006\nendpoint = tcp://127.0.0.1:6007\n", {}, {}),
    ("repeated-section-merges",
     "[circus]\nstatsd = False\n[watcher:a]\ncmd = x\n[circus]\nendpoint = tcp://1.2.3.4:6008\n",
     {}, {}),
    ("repeated-section-first-wins",
     "[circus]\nendpoint = tcp://127.0.0.1:6009\n[circus]\nendpoint = tcp://127.0.0.1:6010\n",
     {}, {}),
    ("inline-semicolon-comment", "[circus]\nendpoint = tcp://127.0.0.1:6011 ; old\n", {}, {}),
    ("semicolon-without-space", "[circus]\nendpoint = tcp://127.0.0.1:6012;x\n", {}, {}),
    ("inline-hash-kept", "[circus]\nendpoint = tcp://127.0.0.1:6013 # not a comment\n", {}, {}),
    ("empty-quoted", '[circus]\nendpoint = ""\n', {}, {}),
    ("empty-value", "[circus]\nendpoint =\n", {}, {}),
    ("percent-literal", "[circus]\nendpoint = tcp://127.0.0.1:%(port)s\n", {}, {}),
    ("percent-percent", "[circus]\nendpoint = ipc:///tmp/a%%b.sock\n", {}, {}),
    ("env-section", "[env]\nPORT = 6014\n[circus]\nendpoint = tcp://127.0.0.1:$(circus.env.PORT)\n",
     {}, {}),
    ("double-paren-lowercase",
     "[circus]\nendpoint = tcp://127.0.0.1:((circus.env.port))\n[env]\nPort = 6015\n", {}, {}),
    ("prefix-case-insensitive",
     "[env]\nport = 6016\n[circus]\nendpoint = tcp://127.0.0.1:$(CIRCUS.ENV.PORT)\n", {}, {}),
    ("undefined-stays-literal",
     "[circus]\nendpoint = tcp://127.0.0.1:$(circus.env.BLY_UNDEFINED_X)\n", {}, {}),
    ("os-environment",
     "[circus]\nendpoint = tcp://$(circus.env.BLY_HOST):$(circus.env.BLY_PORT)\n",
     {}, {"BLY_HOST": "127.0.0.2", "BLY_PORT": "6017"}),
    ("env-section-beats-os",
     "[env]\nBLY_PORT = 6018\n[circus]\nendpoint = tcp://127.0.0.1:$(circus.env.bly_port)\n",
     {}, {"BLY_PORT": "9999"}),
    ("env-uses-os",
     "[env]\nP = $(circus.env.BLY_BASE)9\n[circus]\nendpoint = tcp://127.0.0.1:$(circus.env.p)\n",
     {}, {"BLY_BASE": "601"}),
    ("env-not-from-env",
     "[env]\nA = 6020\nB = $(circus.env.A)\n[circus]\nendpoint = tcp://127.0.0.1:$(circus.env.B)\n",
     {}, {}),
    ("shell-forms-not-expanded",
     "[circus]\nendpoint = ipc://~/$BLY_X/${BLY_X}.sock\n", {}, {"BLY_X": "nope"}),
    ("default-section-falls-through",
     "[DEFAULT]\nendpoint = tcp://127.0.0.1:6021\n[circus]\nstatsd = False\n", {}, {}),
    ("default-section-without-circus", "[DEFAULT]\nendpoint = tcp://127.0.0.1:6022\n", {}, {}),
    ("include-sets-endpoint",
     "[circus]\ninclude = extra.ini\n", {"extra.ini": "[circus]\nendpoint = tcp://127.0.0.1:6023\n"},
     {}),
    ("main-beats-include",
     "[circus]\ninclude = extra.ini\nendpoint = tcp://127.0.0.1:6024\n",
     {"extra.ini": "[circus]\nendpoint = tcp://127.0.0.1:6025\n"}, {}),
    ("include-glob-one-match",
     "[circus]\ninclude = conf/*.ini\n",
     {"conf/a.ini": "[circus]\nendpoint = tcp://127.0.0.1:6026\n", "conf/b.txt": "garbage"}, {}),
    ("include-dir",
     "[circus]\ninclude_dir = conf.d\n",
     {"conf.d/x.ini": "[circus]\nendpoint = ipc://x.sock\n", "conf.d/sub/y.ini": "[circus]\n"
      "endpoint = tcp://127.0.0.1:1\n"}, {}),
    ("include-in-include-ignored",
     "[circus]\ninclude = a.ini\n",
     {"a.ini": "[circus]\ninclude = b.ini\n", "b.ini": "[circus]\nendpoint = tcp://127.0.0.1:6027\n"},
     {}),
    ("include-path-os-env",
     "[circus]\ninclude = $(circus.env.BLY_INC).ini\n",
     {"inc.ini": "[circus]\nendpoint = tcp://127.0.0.1:6028\n"}, {"BLY_INC": "inc"}),
    ("include-path-env-section-not-used",
     "[env]\nINC = inc\n[circus]\ninclude = $(circus.env.INC).ini\n",
     {"inc.ini": "[circus]\nendpoint = tcp://127.0.0.1:6029\n"}, {}),
    ("include-missing-ignored", "[circus]\ninclude = nowhere.ini\nendpoint = ipc://a\n", {}, {}),
    ("include-uses-main-env",
     "[env]\nP = 6030\n[circus]\ninclude = e.ini\n",
     {"e.ini": "[circus]\nendpoint = tcp://127.0.0.1:$(circus.env.P)\n"}, {}),
    ("multiline-value", "[circus]\nendpoint = tcp://127.0.0.1:6031\n  more\n", {}, {}),
    ("continuation-after-comment",
     "[circus]\nendpoint = tcp://127.0.0.1:6032\n# c\n  tail\n", {}, {}),
    ("rem-comment",
     "[circus]\nREM endpoint = tcp://127.0.0.1:1\nendpoint = ipc://r.sock\n", {}, {}),
    ("rem-equals-is-comment", "[circus]\nrem = 1\nendpoint = ipc://r2.sock\n", {}, {}),
    ("indented-key-after-header", "[circus]\n  endpoint = tcp://127.0.0.1:6033\n", {}, {}),
    ("ipc-relative", "[circus]\nendpoint = ipc://circus.sock\n", {}, {}),
    ("bind-any", "[circus]\nendpoint = tcp://*:6034\n", {}, {}),
    ("semicolon-first-char-quirk", "[circus]\nendpoint =;x \n", {}, {}),
    ("semicolon-first-char-no-trailing", "[circus]\nendpoint =;x\n", {}, {}),
    ("double-circus-prefix-quirk",
     "[env]\nx = 6035\n[circus]\nendpoint = tcp://127.0.0.1:$(circus.circus.env.x)\n", {}, {}),
    ("env-name-key", "[env]\na = 1\n[circus]\nendpoint = ipc://$(circus.env.__name__)\n", {}, {}),
    ("tabs-and-crlf", "[circus]\r\nendpoint\t=\ttcp://127.0.0.1:6036\r\n", {}, {}),
    # "endpoint tcp://..." is a key "endpoint tcp" delimited by ":": not malformed.
    ("space-instead-of-delimiter", "[circus]\nendpoint tcp://127.0.0.1:1\n", {}, {}),
    ("include-glob-two-files",
     "[circus]\ninclude = c/*.ini\n",
     {"c/a.ini": "[circus]\nendpoint = ipc://from-a\n",
      "c/b.ini": "[circus]\nendpoint = ipc://from-b\n"}, {}),
    # Malformed: circus raises, so must bailey.
    ("words-only-line", "[circus]\nendpoint = ipc://x\njust words\n", {}, {}),
    ("no-section-header", "endpoint = tcp://127.0.0.1:1\n", {}, {}),
    ("bom-before-header", "\ufeff[circus]\nendpoint = tcp://127.0.0.1:1\n", {}, {}),
    ("malformed-include",
     "[circus]\ninclude = bad.ini\n", {"bad.ini": "just words\n"}, {}),
]


def _write(root: Path, main: str, others: dict[str, str]) -> Path:
    for rel, text in others.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text.encode())
    path = root / "circus.ini"
    path.write_bytes(main.encode())
    return path


def _oracle(path: Path) -> str | type[Exception]:
    """circus's endpoint, or the kind of failure circus has."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return circus_config.get_config(str(path))["endpoint"]
    except (configparser.Error, UnicodeDecodeError, OSError, AttributeError):
        return CircusIniError


def _bailey(path: Path) -> str | type[Exception]:
    try:
        return read_circus_ini(str(path)).endpoint
    except CircusIniError:
        return CircusIniError


def test_there_are_at_least_30_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize(("main", "others", "env"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_same_endpoint_as_circus(tmp_path, monkeypatch, main, others, env):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    path = _write(tmp_path, main, others)
    expected = _oracle(path)
    assert _bailey(path) == expected


def test_missing_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "nope" / "circus.ini"
    with pytest.raises(OSError):
        circus_config.get_config(str(path))
    with pytest.raises(CircusIniError, match=str(path)):
        read_circus_ini(str(path))


def test_unreadable_file_is_one_line_error(tmp_path):
    path = _write(tmp_path, "[circus]\n", {})
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: use a directory instead
        path.unlink()
        path.mkdir()
    with pytest.raises(CircusIniError) as e:
        read_circus_ini(str(path))
    assert str(path) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("text", "lineno"),
    [("[circus]\nendpoint = x\nwords only here\n", 3), ("no header = x\n", 1),
     ("[circus]\n\n\n# c\nbad line\nalso bad\n", 5)],
)
def test_malformed_error_names_file_and_line(tmp_path, text, lineno):
    path = _write(tmp_path, text, {})
    with pytest.raises(CircusIniError) as e:
        read_circus_ini(str(path))
    msg = str(e.value)
    assert msg.startswith(f"{path}:{lineno}:")
    assert "\n" not in msg


def test_env_and_includes_are_reported(tmp_path):
    path = _write(tmp_path, "[env]\nA = 1\n[circus]\ninclude = x.ini nowhere.ini\n",
                  {"x.ini": "[circus]\n"})
    ini = read_circus_ini(str(path), environ={})
    assert ini.env == {"A": "1"}
    assert ini.files == [str(path), str(tmp_path / "x.ini")]
    assert ini.missing_includes == [str(tmp_path / "nowhere.ini")]
    assert ini.endpoint == DEFAULT_ENDPOINT and ini.endpoint_is_default


# --- hypothesis: random circus.ini files built from the fragments circus cares about

_keys = st.sampled_from(["endpoint", "endpoint", "endpoint", "Endpoint", " endpoint",
                         "endpoint ", "include", "include_dir", "rem", "x", "__name__", "P", "p"])
_delims = st.sampled_from(["=", " = ", ":", " : ", "\t=", "= "])
_values = st.sampled_from([
    "tcp://127.0.0.1:7001", "ipc://a.sock", "tcp://*:7002", '""', "", "%(x)s", "%%",
    "tcp://127.0.0.1:$(circus.env.P)", "((circus.env.p))", "$(CIRCUS.ENV.Q)", "$(circus.env.nope)",
    "a ; comment", "a;b", "a # b", ";x ", ";x", "$(circus.env.__name__)", "inc.ini", "*.ini",
])
_sections = st.sampled_from(["[circus]", "[circus]", "[circus]", "[Circus]", "[env]", "[env]",
                             "[DEFAULT]", "[watcher:w]", "[circus] ", "[env:w]"])
_keyline = st.tuples(_keys, _delims, _values).map("".join)
_noise = st.sampled_from(["", "# comment", "; comment", "REM x", "  continued", "\tmore",
                          "  ", "rem = y", "", "garbage line"])
# Mostly well-formed blocks (a header, then key lines), with some noise lines:
# most files parse, so the endpoint itself is compared, not just the failure.
_block = st.tuples(
    _sections,
    st.lists(st.one_of(_keyline, _keyline, _keyline, _keyline, _noise), max_size=5),
).map(lambda b: [b[0], *b[1]])
_file = st.tuples(
    st.lists(st.sampled_from(["", "# top comment", "; top"]), max_size=2),
    st.lists(_block, max_size=4),
).map(lambda f: "\n".join([*f[0], *(line for block in f[1] for line in block)]) + "\n")


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(main=_file, inc=_file, env_p=st.sampled_from([None, "7003"]),
       crlf=st.booleans())
def test_random_files_same_endpoint_as_circus(main, inc, env_p, crlf):
    if crlf:
        main = main.replace("\n", "\r\n")
    old = os.environ.get("P")
    if env_p is None:
        os.environ.pop("P", None)
    else:
        os.environ["P"] = env_p
    try:
        with tempfile.TemporaryDirectory() as d:
            # watcher sections need a cmd for circus to accept the file
            main_text = main.replace("[watcher:w]", "[watcher:w]\ncmd = true")
            path = _write(Path(d), main_text, {"inc.ini": inc})
            expected = _oracle(path)
            assert _bailey(path) == expected, textwrap.indent(main_text, "| ")
    finally:
        if old is None:
            os.environ.pop("P", None)
        else:
            os.environ["P"] = old
