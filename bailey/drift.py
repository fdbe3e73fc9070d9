"""Facts about each instance that ``barnum drift`` compares (standard library only).

For every instance in a report: the circus.ini bailey would read (also for
inactive units), whether it exists, its mtime, the owner of its folder, and
when the running circusd started.  Cheap on purpose (a few stat calls and one
read of /proc per instance, no subprocess), so bailey adds them to every
report rather than behind a flag.

The circusd start time is the unit's main process's, from /proc: its start
in clock ticks after boot plus the boot time (now minus /proc/uptime), to
about 10 ms, without a ``systemctl show`` call of its own.  ``barnum drift``
compares it with the config's mtime ("changed after circusd started").
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

from bailey.report import Report


def owner_name(uid: int) -> str:
    """The user name for ``uid`` on this host, or ``#UID`` when it has none."""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def process_start_us(pid: int, proc: str = "/proc") -> int:
    """When process ``pid`` started, in µs since the epoch; 0 if unknown."""
    if pid <= 0:
        return 0
    try:
        with open(f"{proc}/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
        with open(f"{proc}/uptime", "rb") as f:
            uptime = float(f.read().split()[0])
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22: starttime
    except (OSError, ValueError, IndexError):
        return 0
    boot = time.time() - uptime
    return int((boot + ticks / os.sysconf("SC_CLK_TCK")) * 1_000_000)


def annotate(report: Report, config_of: Callable[[str], str]) -> None:
    """Fill each instance's drift facts; ``config_of(user)`` is its circus.ini path
    (raising LookupError or ValueError when it cannot be known)."""
    for inst in report.instances:
        if inst.main_pid:
            inst.circusd_started_us = process_start_us(inst.main_pid)
        path = inst.config
        if path is None and inst.user:
            try:
                path = config_of(inst.user)
            except (LookupError, ValueError):
                path = None
        if not path:
            continue
        inst.config_file = path
        try:
            st = os.stat(path)
        except FileNotFoundError:
            inst.config_state = "missing"
        except OSError:
            inst.config_state = "unreadable"
        else:
            inst.config_state = "ok"
            inst.config_mtime_us = st.st_mtime_ns // 1000
        with contextlib.suppress(OSError):
            inst.config_owner = owner_name(os.stat(os.path.dirname(path)).st_uid)
