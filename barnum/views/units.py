"""Confirming a unit action, and what it did, in words."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from barnum import EXIT_USAGE, BarnumError

if TYPE_CHECKING:
    pass


def done_word(verb: str) -> str:
    return {"stop": "stopped", "reset-failed": "reset"}.get(verb, verb.rstrip("e") + "ed")


def confirm(plan, threshold: int, out=None, stdin=None) -> bool:
    """Show the plan and ask on the terminal (the shell asks the same way); no
    terminal and no --yes: a usage error."""
    out, stdin = out or sys.stderr, stdin or sys.stdin
    if not stdin.isatty():
        raise BarnumError(f"unit {plan.verb}: stdin is not a terminal: pass --yes to "
                          f"{plan.summary()} without asking", EXIT_USAGE)
    for j in plan.jobs:
        out.write(f"  {j.host}  {j.unit}\n")
    word = plan.confirm_word(threshold)
    if word is None:
        out.write(f"{plan.summary()}? [y/N] ")
        out.flush()
        return stdin.readline().strip().lower() in ("y", "yes")
    out.write(f"{plan.summary()}: type {word} to confirm: ")
    out.flush()
    return stdin.readline().strip() == word
