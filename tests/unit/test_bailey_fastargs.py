"""bailey's argparse-free parse gives what argparse gives, or steps aside (None)."""

from __future__ import annotations

import contextlib
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from bailey.cli import build_parser
from bailey.fastargs import parse
from bailey.host import DEFAULT_CONFIG_TEMPLATE
from bailey.units import DEFAULT_PATTERN

TOKENS = ["--json", "-v", "--verbose", "--dry-run", "-D", "--serve", "--config-template",
          "--timeout", "5", "0", "07", "-3", "user1", "u_2", "--units", "x*", "-h", "--version",
          "--config-template=/u/{user}/{host}.ini", "", "-", "--no-native", "--no-helpers",
          "٣", "--json=1"]


def _argparse(argv):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            return vars(build_parser().parse_args(argv))
        except SystemExit:
            return None


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=7))
def test_same_namespace_as_argparse_whenever_it_answers(argv):
    fast = parse(argv, DEFAULT_PATTERN, DEFAULT_CONFIG_TEMPLATE)
    if fast is not None:
        assert vars(fast) == _argparse(argv), argv


def test_barnums_usual_call_takes_the_fast_path():
    argv = ["--json", "user1", "user2", "--config-template", "/u/{user}/c/{host}/circus.ini",
            "--timeout", "3", "--verbose"]
    fast = parse(argv, DEFAULT_PATTERN, DEFAULT_CONFIG_TEMPLATE)
    assert fast is not None and vars(fast) == _argparse(argv)
    assert parse(["--units", "x*"], DEFAULT_PATTERN, DEFAULT_CONFIG_TEMPLATE) is None
