"""Where a warm call's time goes inside the session, for ``invoke bench --warm``.

The session marks a few moments of each call (received, asking the hosts, the
answers in, done); with ``BARNUM_WARM_PHASES`` set to a file when the session
starts, it appends one JSON line per call there.  The bench puts them beside
what it measures from outside (the client's wall time, the hosts' CPU), so a
figure says which part to work on.  Unset, a mark costs one dict write.

``BARNUM_WARM_WATCHED=0`` (also read when the session starts) makes the warm
overview ask systemd afresh on every host instead of bailey's watched status:
the bench's "before" beside the "after" in one run.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

ENV = "BARNUM_WARM_PHASES"
WATCHED = os.environ.get("BARNUM_WARM_WATCHED", "1") != "0"
_FILE = os.environ.get(ENV) or None
_now = threading.local()  # the call this thread serves: {moment: wall clock}


def begin() -> None:
    """A call came in (the session's clock; the bench compares it with the client's)."""
    _now.marks = {"received": time.time()}
    _now.cpu = time.process_time()


def mark(name: str) -> None:
    """A moment of the current call (``ask``: the hosts are asked; ``asked``: all answered)."""
    marks = getattr(_now, "marks", None)
    if marks is not None:
        marks.setdefault(name, time.time())


def end() -> None:
    """The answer is rendered: one line to the phases file, if the bench asked for it."""
    marks: dict[str, Any] | None = getattr(_now, "marks", None)
    _now.marks = None
    if marks is None or _FILE is None:
        return
    marks["done"] = time.time()
    marks["session_cpu"] = time.process_time() - _now.cpu  # all threads: the session's
    with open(_FILE, "a") as f:
        f.write(json.dumps(marks) + "\n")


def split(marks: dict[str, float]) -> dict[str, float]:
    """Seconds of each part of one call, from its marks: before the ask (the CLI parses,
    reads the users file, plans), the ask, and after it (rendering)."""
    ask, asked = marks.get("ask"), marks.get("asked")
    if ask is None or asked is None:
        return {"session": marks["done"] - marks["received"]}
    return {"prepare": ask - marks["received"], "ask": asked - ask,
            "render": marks["done"] - asked}
