"""The ``bailey-serve/1`` protocol as data: its ops, their arguments, its error codes.

One table (``OPS``) says what each request may carry; ``check_args`` is the
one place a request's arguments are checked, so ``bailey.serve`` only runs
ops on arguments already of the right shape, and docs/bailey-serve.md can be
compared with the table by a test.  Standard library only (shipped to hosts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PROTOCOL = "bailey-serve/1"
MAX_LINES = 10000  # of a logs or output request's n
SAFETY_POLL = 60.0  # subscribe: seconds between systemd re-reads with no inotify wake-up

# The ``code`` of an ``ok: false`` answer: what kind of refusal it is.
BAD_REQUEST = "bad_request"  # the request is malformed: the caller must change it
NOT_FOUND = "not_found"  # it names a unit, watcher or file this host does not have
FAILED = "failed"  # the host could not do it (journalctl failed, an internal error)
CODES = (BAD_REQUEST, NOT_FOUND, FAILED)

# Why a stream (a followed ``logs``, a ``subscribe``) ended: its ``end`` event's reason.
END_CANCELLED = "cancelled"  # a ``cancel`` request
END_ENDED = "ended"  # its source ended (journalctl exited)
END_REASONS = (END_CANCELLED, END_ENDED)


class RequestError(Exception):
    """A request bailey refuses: answered ``ok: false`` with this one line and ``code``."""

    def __init__(self, message: str, code: str = BAD_REQUEST, rid: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.rid = rid  # the request's id, when it had a valid one


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _strings(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


@dataclass(frozen=True)
class Arg:
    """One argument of an op: its check, the words of its error, its default."""

    name: str
    ok: Callable[[Any], bool]
    must: str  # "<name> must ..." when ``ok`` refuses it
    default: Any = None
    required: bool = False


@dataclass(frozen=True)
class Op:
    name: str
    args: tuple[Arg, ...] = ()
    inline: bool = False  # answered by the reading thread itself (never waits)
    stream: bool = False  # may go on with events after its answer, until an ``end`` event


USERS = Arg("users", lambda v: v is None or _strings(v), "be a list of user names")


def _lines(default: int) -> Arg:
    return Arg("n", lambda v: _is_int(v) and 0 <= v <= MAX_LINES,
               f"be an integer from 0 to {MAX_LINES}", default)


OPS: dict[str, Op] = {op.name: op for op in (
    Op("ping", inline=True),
    Op("status", (USERS, Arg("watched", lambda v: isinstance(v, bool), "be true or false",
                             False))),
    Op("circusctl", (Arg("args", lambda v: _strings(v) and bool(v),
                         "be a non-empty list of strings", required=True), USERS)),
    Op("stats", (USERS,)),
    Op("output", (Arg("unit", lambda v: isinstance(v, str), "be a string", required=True),
                  Arg("watcher", lambda v: isinstance(v, str), "be a string", required=True),
                  Arg("stream", lambda v: v in ("stdout", "stderr"), "be stdout or stderr",
                      required=True),
                  _lines(200))),
    Op("logs", (Arg("unit", lambda v: isinstance(v, str), "be a string", required=True),
                _lines(50),
                Arg("since", lambda v: v is None or (_is_number(v) and 0 <= v < 1e11),
                    "be seconds since the epoch"),
                Arg("follow", lambda v: isinstance(v, bool), "be true or false", False)),
       stream=True),
    Op("subscribe", (Arg("stats_interval",
                         lambda v: _is_number(v) and (v == 0 or 1 <= v <= 3600),
                         "be 0 or from 1 to 3600 seconds", 0),
                     Arg("safety_poll", lambda v: _is_number(v) and 1 <= v <= 3600,
                         "be from 1 to 3600 seconds", SAFETY_POLL)),
       stream=True),
    Op("cancel", (Arg("sub", lambda v: _is_int(v) or isinstance(v, str),
                      "be the id of a logs or subscribe request", required=True),)),
)}


def check_request(req: Any) -> tuple[Any, Op]:
    """(id, op) of a parsed request line, or RequestError (with the id when one was read)."""
    if not isinstance(req, dict):
        raise RequestError("a request is a JSON object")
    rid = req.get("id")
    if not (_is_int(rid) or isinstance(rid, str)):
        raise RequestError("a request needs an id (a number or a string)")
    name = req.get("op")
    op = OPS.get(name) if isinstance(name, str) else None
    if op is None:
        raise RequestError(f"unknown op {str(name)[:40]!r}; known: {', '.join(OPS)}", rid=rid)
    return rid, op


def check_args(op: Op, req: dict[str, Any]) -> dict[str, Any]:
    """The op's arguments, checked, with defaults for those left out; RequestError
    (bad_request) naming the first fault.  Keys the op does not take are ignored,
    so a later barnum may send more."""
    out: dict[str, Any] = {}
    for a in op.args:
        if a.name not in req or (req[a.name] is None and not a.required):
            if a.required:
                raise RequestError(f"{a.name} is required (it must {a.must})")
            out[a.name] = a.default
            continue
        if not a.ok(req[a.name]):
            raise RequestError(f"{a.name} must {a.must}")
        out[a.name] = req[a.name]
    return out


__all__ = ["BAD_REQUEST", "CODES", "END_REASONS", "FAILED", "NOT_FOUND", "OPS", "PROTOCOL",
           "Arg", "Op", "RequestError", "check_args", "check_request"]
