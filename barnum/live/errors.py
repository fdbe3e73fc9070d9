"""What a live-session request can fail with, typed once for every front end.

The web page maps ``status`` to its HTTP answer, the CLI and the shell map
``exit_code`` to theirs; nobody parses a message to tell a bad request from a
host that is gone.  bailey --serve names the kind of a refusal in its
answer's ``code`` (bailey.protocol); an older bailey without codes is read as
a host failure.
"""

from __future__ import annotations

from collections.abc import Sequence

from barnum import EXIT_HOST, EXIT_USAGE, BarnumError


class SessionError(BarnumError):
    """A request the session could not answer; ``str()`` is one clean line."""

    status = 502
    exit_code = EXIT_HOST


class BadRequest(SessionError):
    """The caller asked for something malformed (an ``n`` out of range, a bad stream)."""

    status = 400
    exit_code = EXIT_USAGE


class NotFound(SessionError):
    """No such host in the session, or no such unit, watcher or file on the host."""

    status = 404
    exit_code = EXIT_USAGE


class HostFailed(SessionError):
    """The host did not answer: not connected, timed out, connection lost, bailey failed."""


BY_CODE: dict[str, type[SessionError]] = {
    "bad_request": BadRequest, "not_found": NotFound, "failed": HostFailed,
}


def from_refusal(code: object, message: str) -> SessionError:
    """The error for bailey's ``ok: false`` answer (its ``code``, if it gave a known one)."""
    cls = BY_CODE.get(code, HostFailed) if isinstance(code, str) else HostFailed
    return cls(message)


def exit_code_of(error: BaseException) -> int:
    """The exit code a front end gives for one failed request."""
    return error.exit_code if isinstance(error, SessionError) else EXIT_HOST


def worst_exit(errors: Sequence[BaseException]) -> int:
    """One exit code for several failures: a host failure (3) outranks a usage error (2)."""
    return max((exit_code_of(e) for e in errors), default=0)


__all__ = ["BadRequest", "HostFailed", "NotFound", "SessionError", "exit_code_of",
           "from_refusal", "worst_exit"]
