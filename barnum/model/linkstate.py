"""What the live session knows of its link to one host, as one type.

A StrEnum, so a state still compares equal to its word (``"up"``) and goes
into JSON, SQLite and HTML as that word; code asks ``state.answers`` rather
than repeating which words mean "the host's report can be believed".
"""

from __future__ import annotations

from enum import StrEnum


class LinkState(StrEnum):
    """One host's link: the session's life cycle of ``bailey --serve``."""

    CONNECTING = "connecting"  # first attempt, or retrying after a failure
    UP = "up"  # answering
    STALE = "stale"  # silent for longer than --timeout: the report may be old
    DOWN = "down"  # the last attempt failed, or silent for twice the timeout
    CLOSED = "closed"  # the session closed it
    ABSENT = "absent"  # expected by the users file, but not among the session's hosts

    @property
    def answers(self) -> bool:
        """The host's report is the host's (up, or stale but still connected)."""
        return self in (LinkState.UP, LinkState.STALE)

    @property
    def quiet(self) -> bool:
        """A state that is not news (a retry, or our own close)."""
        return self in (LinkState.CONNECTING, LinkState.CLOSED)


def answers(state: str | None) -> bool:
    """``LinkState(state).answers`` for a word from an event or a stored row."""
    return state in (LinkState.UP, LinkState.STALE)


__all__ = ["LinkState", "answers"]
