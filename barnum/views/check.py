"""How a check's findings read: one line each, and the fix."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


MARK = {"problem": "FAIL", "unknown": "????", "note": "note"}


STYLE = {"problem": "red", "unknown": "yellow", "note": "dim"}


def finding_text(f):
    """``FAIL host3 user3: expected instance's unit is not active (...)``, as rich Text
    (never markup: names from hosts print as themselves); the shell and watch use it too."""
    from rich.text import Text

    t = Text(f"{MARK[f.severity]} ", style=STYLE[f.severity])
    t.append(f.line())
    return t


# The unit verb that clears a finding about the unit itself.
FIX_VERB = {"unit-failed": "restart", "instance-inactive": "start", "enabled-inactive": "start",
            "instance-error": "restart"}


FIX_WHY = {"unit-failed": " (after fixing the cause; reset-failed clears it instead)",
           "instance-error": " (if circusd hangs)"}


def fix_for(f, configs=()) -> str | None:
    """``barnum unit VERB user@host`` for a finding about a unit, else None.
    ``configs``: discovery's (user, host) pairs (others are named by their unit)."""
    from barnum.oneshot.units import suggest, unit_of

    verb = FIX_VERB.get(f.kind)
    if verb is None or f.unit is None or unit_of(f.host, f.user) != f.unit:
        return None
    cmd = suggest(verb, f.host, f.user, (f.user, f.host) in configs)
    return cmd + FIX_WHY.get(f.kind, "") if cmd else None


def unmet_line(problems: int):
    """The one-line count the front ends print under their table."""
    from rich.text import Text

    verdict = "NOT as expected" if problems else "as expected"
    return Text(f"check: {verdict}: {_n(problems, 'problem')}",
                style="bold red" if problems else "green")


def _n(k: int, word: str) -> str:
    return f"{k} {word}{'' if k == 1 else 's'}"
