"""Waiting for the fleet: tests poll for a state with a deadline, never sleep a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(cond: Callable[[], T], within: float = 10.0, every: float = 0.1) -> T:
    """``cond()``'s first truthy value within ``within`` seconds, else its last (falsy) one."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(every)
    return cond()
