"""bailey --serve's protocol table: argument checks, error codes, end events, the docs."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from bailey.host import Options
from bailey.protocol import (
    BAD_REQUEST,
    CODES,
    MAX_LINES,
    OPS,
    RequestError,
    check_args,
    check_request,
)
from bailey.serve import Server

DOC = Path(__file__).parents[2] / "docs" / "bailey-serve.md"


def _server() -> tuple[Server, io.BytesIO]:
    out = io.BytesIO()
    return Server(Options(), out=out), out


def _lines(out: io.BytesIO) -> list[dict]:
    return [json.loads(x) for x in out.getvalue().splitlines()]


def test_defaults_filled_and_unknown_keys_ignored():
    assert check_args(OPS["logs"], {"unit": "circus_u_h.service", "later": 1}) == {
        "unit": "circus_u_h.service", "n": 50, "since": None, "follow": False}
    assert check_args(OPS["output"], {"unit": "u", "watcher": "w", "stream": "stderr"})["n"] \
        == 200
    assert check_args(OPS["subscribe"], {}) == {"stats_interval": 0, "safety_poll": 60.0}
    assert check_args(OPS["status"], {"users": None}) == {"users": None, "watched": False}


@pytest.mark.parametrize(("op", "req", "words"), [
    ("logs", {"unit": "u", "n": MAX_LINES + 1}, "n must be an integer from 0 to 10000"),
    ("logs", {"unit": "u", "n": True}, "n must be an integer"),
    ("logs", {"unit": "u", "since": -1}, "since must be seconds since the epoch"),
    ("logs", {"unit": "u", "follow": "yes"}, "follow must be true or false"),
    ("logs", {}, "unit is required"),
    ("output", {"unit": "u", "watcher": "w", "stream": "stdin"}, "stream must be stdout or"),
    ("circusctl", {"args": []}, "args must be a non-empty list of strings"),
    ("circusctl", {"args": ["stop", 3]}, "args must be a non-empty list of strings"),
    ("status", {"users": "user1"}, "users must be a list of user names"),
    ("subscribe", {"stats_interval": 0.5}, "stats_interval must be 0 or from 1 to 3600"),
    ("cancel", {"sub": None}, "sub must be the id of a logs or subscribe request"),
    ("cancel", {}, "sub is required"),
])
def test_bad_arguments_are_named(op, req, words):
    with pytest.raises(RequestError, match=re.escape(words)) as e:
        check_args(OPS[op], req)
    assert e.value.code == BAD_REQUEST


def test_request_shape():
    assert check_request({"id": "a", "op": "ping"})[0] == "a"
    for bad, words in (([], "a JSON object"), ({"op": "ping"}, "needs an id"),
                       ({"id": True, "op": "ping"}, "needs an id"),
                       ({"id": 1, "op": "nope"}, "unknown op 'nope'; known: ping, status")):
        with pytest.raises(RequestError, match=re.escape(words)):
            check_request(bad)


def test_server_answers_a_refusal_with_its_code_before_running_anything():
    server, out = _server()
    server.handle(b'{"id": 7, "op": "output", "unit": "u", "watcher": "w", '
                  b'"stream": "stdout", "n": 99999}\n')
    server.handle(b'{"id": 8, "op": "fly"}\n')
    server.handle(b"{not json\n")
    server.handle(b'{"id": 9, "op": "ping"}\n')
    got = _lines(out)
    assert [(m["id"], m["ok"], m.get("code")) for m in got] == [
        (7, False, "bad_request"), (8, False, "bad_request"), (None, False, "bad_request"),
        (9, True, None)]
    assert got[0]["error"] == "n must be an integer from 0 to 10000"
    assert all(m.get("code") in (*CODES, None) for m in got)


def test_a_cancelled_subscription_ends_with_an_end_event_and_nothing_after():
    from bailey.watch import Watcher

    server, out = _server()
    w = Watcher(server, 4, 0.0)
    w.held = None  # as after its snapshot
    w.emit({"event": "unit", "unit": "u"})
    w.stop()
    w.stop()  # a second cancel says nothing more
    w.emit({"event": "unit", "unit": "late"})
    got = _lines(out)
    assert [(m["event"], m["sub"]) for m in got] == [("unit", 4), ("end", 4)]
    assert got[-1]["reason"] == "cancelled"


def _section(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_the_docs_list_every_op_and_its_arguments():
    """docs/bailey-serve.md's op table is this table: an op or argument added to one
    and not the other fails here."""
    rows = {m.group(1): m.group(2) for m in
            re.finditer(r"^\| `(\w+)` \|([^|]*)\|", _section("Requests and responses"), re.M)}
    assert set(OPS) <= set(rows), set(OPS) - set(rows)
    for name, op in OPS.items():
        named = set(re.findall(r"`(\w+)`", rows[name]))
        assert {a.name for a in op.args} <= named, (name, rows[name])
    codes = set(re.findall(r"^\| `(\w+)` \|", _section("Requests and responses"), re.M))
    assert set(CODES) <= codes
