"""Actions into the history: who did what to which instances, and the result.

The long-lived processes hand each audit entry to their Recorder
(barnum.history.recorder ``action``); a one-shot command (``barnum stop``,
``barnum unit``, the shell's actions) has no Recorder and calls
:func:`record_action`, which opens the store for its rows only.  Either way the
rows are the same: one per host the action touched, ``who`` the web page's
audit identity or the local user.
"""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable
from typing import Any

from barnum.history.store import HistorySettings, Row, open_store


def local_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no name for this uid
        return "?"


def action_rows(who: str, action: str, items: list[dict[str, Any]], result: str,
                now: float | None = None, **extra: Any) -> list[Row]:
    """Pure: one audit entry as rows, one per host it touches (one with host "" if none)."""
    now = time.time() if now is None else now
    by_host: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        by_host.setdefault(str(it.get("host", "")), []).append(it)
    rows = []
    for host, its in (by_host or {"": []}).items():
        one = its[0] if len(its) == 1 else {}
        detail: dict[str, Any] = {"who": who, "result": result, "by": local_user(),
                                  **{k: v for k, v in extra.items() if k != "t"}}
        if len(its) > 1:
            detail["items"] = [{k: it.get(k) for k in ("user", "watcher", "ok", "error",
                                                       *(("unit",) if "unit" in it else ()))}
                               for it in its]
        elif one:
            detail.update({k: one[k] for k in ("ok", "error") if k in one})
        rows.append(Row(t=now, rt=now, host=host, kind="action", action=action,
                        user=one.get("user"), unit=one.get("unit"),
                        watcher=one.get("watcher"), detail=detail))
    return rows


def result_word(rows: list[dict[str, Any]]) -> str:
    """``ok``, or how many of the rows failed (the web page's audit says it the same way)."""
    failed = sum(not r.get("ok") for r in rows)
    return "ok" if not failed else f"{failed} of {len(rows)} failed"


def record_action(settings: HistorySettings | None, warn: Callable[[str], None],
                  action: str, items: list[dict[str, Any]], result: str,
                  who: str | None = None, **extra: Any) -> bool:
    """A one-shot front end's action, written now (the store opened, flushed, closed).
    An unusable store is open_store's one warning line; the action is not undone."""
    store = open_store(settings, warn)
    if store is None:
        return False
    try:
        for row in action_rows(who or local_user(), action, items, result, **extra):
            store.add(row)
        return store.flush()
    finally:
        store.close()


class ActionLog:
    """One front-end action's record: ``started`` with what it will touch, then its
    result; a store that cannot be used is warned about once, not at each line."""

    def __init__(self, settings: HistorySettings | None, warn: Callable[[str], None],
                 action: str, via: str) -> None:
        self.settings, self.action, self.via = settings, action, via
        self._warn, self._warned = warn, False

    def _once(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            self._warn(message)

    def record(self, items: list[dict[str, Any]], result: str) -> None:
        if self._warned:
            return  # the store was unusable a moment ago: no second try, no second line
        record_action(self.settings, self._once, self.action, items, result, via=self.via)


# circusctl commands that only read: not actions, not recorded
READS = ("status", "list", "stats", "dstats", "get", "options", "numprocesses",
         "numwatchers", "listsockets", "globaloptions", "listpids")


def circusctl_action(args: list[str] | None) -> str | None:
    """The action a one-shot run's circusctl arguments take (``stop``), or None for a read."""
    if not args or args[0] in READS:
        return None
    return args[0]
