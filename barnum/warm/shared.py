"""The warm session shared with ``barnum watch`` and ``barnum shell``: what goes over
the socket for them, and the session's side of it.

Two ops.  ``attach`` is a stream: the session answers with every host's state,
then sends each event as it happens, with the state of the event's host after
it, and a ``tick`` when nothing happened for a while (so a client that left is
noticed, and one whose session died knows it).  ``call`` is one request on the
session (``refresh``, ``circusctl``, ``stats``, ``logs``) and its result.  The
connection of an attached front end counts as a client of the session, so the
session's idle expiry waits for it.

The codec is the same on both sides: what the session sends it has already
checked (barnum.live.wire); the client trusts only its own user's session
(SO_PEERCRED), and every string still passes the renderers' sanitizer.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable
from typing import Any

from bailey.report import Report
from barnum.live.errors import BadRequest, HostFailed, NotFound, SessionError
from barnum.live.session import FleetSession, HostState, SessionEvent
from barnum.model.results import FleetResult, HostResult
from barnum.warm import protocol

TICK = 1.0  # seconds between two messages of a quiet stream
ERRORS: dict[str, type[SessionError]] = {
    "BadRequest": BadRequest, "NotFound": NotFound, "HostFailed": HostFailed,
    "SessionError": SessionError,
}
CALLS = ("refresh", "circusctl", "stats", "logs")


# -- the codec -----------------------------------------------------------------------

def ident_text(ident: tuple) -> list[Any]:
    """A session's identity (barnum.warm.runner.identity) as JSON can carry it."""
    return [x.hex() if isinstance(x, bytes) else x for x in ident]


def _report(doc: Any) -> Report | None:
    return Report.from_dict(doc) if isinstance(doc, dict) else None


def state_dict(st: HostState) -> dict[str, Any]:
    doc = dataclasses.asdict(st)
    doc["state"] = str(st.state)
    return doc


def state_of(doc: dict[str, Any]) -> HostState:
    fields = {f.name for f in dataclasses.fields(HostState)}
    kw = {k: v for k, v in doc.items() if k in fields}
    kw["report"] = _report(doc.get("report"))
    return HostState(**kw)


def event_dict(ev: SessionEvent) -> dict[str, Any]:
    return {"kind": ev.kind, "host": ev.host, "data": ev.data, "t": ev.t, "size": ev.size}


def event_of(doc: dict[str, Any]) -> SessionEvent:
    return SessionEvent(str(doc["kind"]), str(doc["host"]), dict(doc.get("data") or {}),
                        float(doc["t"]), int(doc.get("size") or 200))


def result_dict(fr: FleetResult) -> dict[str, Any]:
    hosts = []
    for r in fr.hosts:
        doc = {f.name: getattr(r, f.name) for f in dataclasses.fields(HostResult)}
        doc["report"] = r.report.to_dict() if r.report is not None else None
        hosts.append(doc)
    return {"hosts": hosts, "elapsed": fr.elapsed, "groups": fr.groups}


def result_of(doc: dict[str, Any]) -> FleetResult:
    hosts = []
    for h in doc["hosts"]:
        r = HostResult(h["host"], list(h["users"]), list(h["argv"]))
        for k, v in h.items():
            if k not in ("host", "users", "argv"):
                setattr(r, k, _report(v) if k == "report" else v)
        hosts.append(r)
    return FleetResult(hosts, float(doc.get("elapsed") or 0.0), dict(doc.get("groups") or {}))


def error_dict(e: Exception) -> dict[str, Any]:
    name = type(e).__name__ if type(e).__name__ in ERRORS else "SessionError"
    return {"raise": name, "msg": str(e) or type(e).__name__}


def error_of(doc: dict[str, Any]) -> SessionError:
    return ERRORS.get(str(doc.get("raise")), SessionError)(str(doc.get("msg")))


# -- the session's side ------------------------------------------------------------

def call(session: FleetSession, req: dict[str, Any]) -> dict[str, Any]:
    """One front-end request on the session: ``{"value"}`` or ``{"raise", "msg"}``."""
    name = req.get("method")
    got = req.get("args")
    a: dict[str, Any] = got if isinstance(got, dict) else {}
    try:
        if name == "refresh":
            return {"value": result_dict(session.refresh(a.get("targets"), a.get("timeout")))}
        if name == "circusctl":
            return {"value": result_dict(session.circusctl(
                [str(x) for x in a.get("argv") or []], a.get("targets"), a.get("timeout")))}
        if name == "stats":
            return {"value": session.stats(a.get("targets"), a.get("timeout"))}
        if name == "logs":
            return {"value": session.logs(str(a.get("unit")), str(a.get("host")),
                                          a.get("n", 50), a.get("since"))}
    except Exception as e:  # the front end words it as the session's own error
        return error_dict(e)
    return {"raise": "BadRequest", "msg": f"not a call of the session: {name!r}"}


def stream(conn: socket.socket, session: FleetSession, stopping: Callable[[], bool]) -> None:
    """Feed one attached front end until it leaves or the session closes."""
    sub = session.subscribe()
    try:
        protocol.send(conn, {"states": {h: state_dict(st)
                                        for h, st in session.host_states().items()}})
        while not stopping():
            ev = sub.get(TICK)
            if ev is None:
                if sub.closed:
                    break
                protocol.send(conn, {"tick": True})
                continue
            if ev.kind == "end" and ev.host == "" and ev.data.get("stream") == "subscribe":
                break  # the session is closing
            msg: dict[str, Any] = {}
            if ev.host in session.links:
                msg["state"] = state_dict(session.links[ev.host].copy())
            try:
                protocol.send(conn, {**msg, "ev": event_dict(ev)})
            except (TypeError, ValueError):  # not JSON: the event is left out, not the state
                protocol.send(conn, msg or {"tick": True})
        protocol.send(conn, {"end": "the warm session closed"})
    finally:
        sub.close()
