"""Endpoint derivation: bind-only forms and relative ipc paths."""

from __future__ import annotations

import pytest

from bailey.endpoint import connectable


@pytest.mark.parametrize(("configured", "workdir", "expected"), [
    ("tcp://127.0.0.1:5555", "", "tcp://127.0.0.1:5555"),
    ("tcp://0.0.0.0:6000", "", "tcp://127.0.0.1:6000"),
    ("tcp://*:6001", "/srv", "tcp://127.0.0.1:6001"),
    ("tcp://[::]:6002", "", "tcp://127.0.0.1:6002"),
    ("tcp://host1.example:6003", "", "tcp://host1.example:6003"),
    ("ipc:///run/circus.sock", "/srv", "ipc:///run/circus.sock"),
    ("ipc://circus.sock", "/users/u1/circus", "ipc:///users/u1/circus/circus.sock"),
    ("ipc://circus.sock", "", "ipc:///circus.sock"),
    ("ipc://../x/c.sock", "/a/b", "ipc:///a/x/c.sock"),
    ("ipc://c.sock", "-/opt/w", "ipc:///opt/w/c.sock"),
    ("ipc://@abstract", "/srv", "ipc://@abstract"),
    ("weird", "", "weird"),
])
def test_connectable(configured, workdir, expected):
    d = connectable(configured, workdir)
    assert d.endpoint == expected
    assert bool(d.reason) == (expected != configured)


def test_reason_says_why():
    assert "bind-only" in connectable("tcp://*:1").reason
    assert "no WorkingDirectory" in connectable("ipc://a.sock").reason
    assert "WorkingDirectory=/w" in connectable("ipc://a.sock", "/w").reason
