"""``barnum web``'s own options: usage errors and the exposure warning, before anything opens."""

from __future__ import annotations

import argparse

import pytest

from barnum import BarnumError
from barnum.web.command import check_listen, configure


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    configure(p)
    return p.parse_args(list(argv))


def test_loopback_by_default_and_silent():
    warned = []
    args = _args()
    assert args.bind == "127.0.0.1"
    check_listen(args, warned.append)
    assert warned == []


def test_another_address_without_tls_warns(tmp_path):
    warned = []
    check_listen(_args("--bind", "10.1.2.3"), warned.append)
    assert len(warned) == 1 and "without TLS" in warned[0]
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    warned.clear()
    check_listen(_args("--bind", "10.1.2.3", "--tls-cert", str(cert), "--tls-key", str(key)),
                 warned.append)
    assert warned == []


@pytest.mark.parametrize("argv, message", [
    (("--bind", "fleet.example"), "give an IP address"),
    (("--bind", "0.0.0.0"), "--public-origin"),
    (("--tls-cert", "/nonexistent"), "go together"),
    (("--tls-cert", "/nonexistent", "--tls-key", "/nonexistent"), "no such file"),
    (("--port", "70000"), "0 to 65535"),
    (("--confirm-threshold", "0"), "at least 1"),
])
def test_usage_errors(argv, message):
    with pytest.raises(BarnumError, match=message) as e:
        check_listen(_args(*argv), lambda _m: None)
    assert e.value.exit_code == 2


def test_web_is_a_subcommand():
    from barnum.cli.parser import SUBCOMMANDS

    assert SUBCOMMANDS["web"][0] == "barnum.web.command"
