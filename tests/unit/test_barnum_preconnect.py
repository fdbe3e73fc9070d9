"""Early TCP connections: only where the address is certain, used only where paramiko goes."""

from __future__ import annotations

import socket

import pytest

from barnum.transport.preconnect import Preconnect, preconnect, simple_lookup

CONFIG = """\
Host web* !web9
  HostName 10.0.0.5
  Port 2222
Host web1
  Port 1
Host *
  Port 22
Host db
  HostName %h.example
Host jump
  ProxyJump bastion
"""


def test_first_value_wins_per_keyword_and_negation_counts():
    assert simple_lookup(CONFIG, "web1") == ("10.0.0.5", 2222)
    assert simple_lookup(CONFIG, "web9") == ("web9", 22)
    assert simple_lookup(CONFIG, "other") == ("other", 22)


def test_unsure_means_no_early_connection():
    assert simple_lookup(CONFIG, "db") is None  # a token
    assert simple_lookup(CONFIG, "jump") is None  # a proxy
    assert simple_lookup("Match host x\n  Port 1\n", "x") is None  # paramiko's to judge


@pytest.fixture
def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    yield s.getsockname()[1]
    s.close()


def test_taken_only_for_the_same_address_and_port(listener):
    pre = preconnect(["a", "b", "c"], f"Host a b\n  HostName 127.0.0.1\n  Port {listener}\n"
                     "Host c\n  HostName name.invalid\n")
    assert set(pre.socks) == {"a", "b"}  # c is a name: resolved later, by paramiko
    sock = pre.take("a", "127.0.0.1", listener, 5)
    assert sock is not None and sock.getpeername() == ("127.0.0.1", listener)
    sock.close()
    assert pre.take("b", "127.0.0.2", listener, 5) is None  # paramiko goes elsewhere
    assert pre.take("b", "127.0.0.1", listener, 5) is None  # gone: closed, not reused
    pre.close()


def test_refused_leaves_it_to_paramiko(listener):
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    pre = Preconnect()
    pre.start("h", "127.0.0.1", port)
    assert pre.take("h", "127.0.0.1", port, 5) is None


def test_the_limit_bounds_open_sockets(listener):
    text = f"Host *\n  HostName 127.0.0.1\n  Port {listener}\n"
    pre = preconnect([f"h{i}" for i in range(10)], text, limit=3)
    assert set(pre.socks) == {"h0", "h1", "h2"}
    pre.close()
    assert not pre.socks
