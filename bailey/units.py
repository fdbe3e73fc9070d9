"""The circus units systemd knows on this host.

Two ``systemctl`` calls, whatever the number of units: one listing
(``list-unit-files``) and one ``show`` for all of them.  Everything that turns
their text into values is a pure function, so it is tested on recorded real
outputs (tests/data/systemctl/).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

# What bailey reads from ``systemctl show``; anything else is noise.
PROPERTIES = (
    "Id",
    "User",
    "UnitFileState",
    "ActiveState",
    "SubState",
    "FragmentPath",
    "MainPID",
    "NRestarts",
    "MemoryCurrent",
    "WorkingDirectory",
    "Environment",
    "EnvironmentFiles",
)

DEFAULT_PATTERN = "circus_*"

# circus_<user>_<host>.service: the user is everything between the first "_"
# after "circus" and the last "_" (user names may hold "_", short host names
# usually do not).  Anchored on "circus_" only when the default glob is used.
_UNIT_NAME = re.compile(r"^circus_(?P<user>.+)_(?P<host>[^_]+)\.service$")


class SystemctlError(Exception):
    """systemctl could not list or describe the units: a host-level failure."""


@dataclass
class Unit:
    """One circus unit as systemd describes it."""

    name: str
    user: str | None
    user_source: str  # "User=" or "unit name" (or "" when neither gave one)
    unit_file_state: str
    active_state: str
    sub_state: str
    fragment_path: str = ""
    main_pid: int = 0
    n_restarts: int = 0
    memory_current: int | None = None  # bytes in the unit's cgroup; None: not accounted
    working_directory: str = ""
    environment: str = ""  # systemctl show's Environment= (K=V words)
    environment_files: str = ""  # EnvironmentFiles= lines, "\n"-joined

    @property
    def running(self) -> bool:
        """circusd is expected to answer: the unit is up (or reloading)."""
        return self.active_state in ("active", "reloading")

    @property
    def failed(self) -> bool:
        return self.active_state == "failed"


def parse_list_unit_files(text: str) -> list[tuple[str, str]]:
    """``(unit, state)`` pairs from ``systemctl list-unit-files --no-legend``.

    systemd >= 245 prints three columns (UNIT FILE, STATE, VENDOR PRESET),
    older ones two; only the first two matter.  Template files
    (``foo@.service``) are skipped: they are not units that can run.
    """
    units = []
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        name = fields[0]
        if name.endswith("@.service") or "." not in name:
            continue
        state = fields[1] if len(fields) > 1 else ""
        units.append((name, state))
    return units


def parse_show(text: str) -> list[dict[str, str]]:
    """Property blocks from ``systemctl show -p ... u1 u2 ...``.

    Blocks are separated by blank lines, in the order of the units asked
    for; a value may itself hold ``=``, so split on the first one only.
    """
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if sep:  # a repeated key (EnvironmentFiles=) keeps every value
            current[key] = f"{current[key]}\n{value}" if key in current else value
    if current:
        blocks.append(current)
    return blocks


def user_from_unit_name(name: str) -> str | None:
    """The user in ``circus_<user>_<host>.service``, or None if it does not fit."""
    m = _UNIT_NAME.match(name)
    return m.group("user") if m else None


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


UNSET_U64 = (1 << 64) - 1  # systemd's "no value" for a uint64 property


def memory_bytes(value: str | None) -> int | None:
    """``MemoryCurrent`` as bytes; None when systemd does not account it.

    ``systemctl show`` prints ``[not set]`` for that, D-Bus gives 2^64-1.
    """
    try:
        n = int((value or "").strip())
    except ValueError:
        return None
    return None if n < 0 or n >= UNSET_U64 else n


def unit_from_properties(props: dict[str, str]) -> Unit:
    """A Unit from one ``show`` block; the user falls back to the unit's name."""
    name = props.get("Id", "")
    user = props.get("User", "").strip() or None
    source = "User="
    if user is None:
        user = user_from_unit_name(name)
        source = "unit name" if user else ""
    return Unit(
        name=name,
        user=user,
        user_source=source,
        unit_file_state=props.get("UnitFileState", ""),
        active_state=props.get("ActiveState", ""),
        sub_state=props.get("SubState", ""),
        fragment_path=props.get("FragmentPath", ""),
        main_pid=_int(props.get("MainPID")),
        n_restarts=_int(props.get("NRestarts")),
        memory_current=memory_bytes(props.get("MemoryCurrent")),
        working_directory=props.get("WorkingDirectory", ""),
        environment=props.get("Environment", ""),
        environment_files=props.get("EnvironmentFiles", ""),
    )


def list_command(pattern: str = DEFAULT_PATTERN, systemctl: str = "systemctl") -> list[str]:
    return [systemctl, "list-unit-files", "--no-legend", "--no-pager", pattern]


def show_command(units: list[str], systemctl: str = "systemctl") -> list[str]:
    return [systemctl, "show", "--no-pager", "-p", ",".join(PROPERTIES), *units]


def _run(argv: list[str], timeout: float, empty_ok: bool = False) -> str:
    import subprocess

    what = f"{os.path.basename(argv[0])} {argv[1]}"
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise SystemctlError(f"{argv[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise SystemctlError(f"{what} took more than {timeout:g}s") from None
    except OSError as e:
        raise SystemctlError(f"cannot run {argv[0]}: {e.strerror or e}") from None
    if proc.returncode != 0:
        if empty_ok and proc.returncode == 1 and not proc.stdout.strip() \
                and not proc.stderr.strip():
            # list-unit-files with a pattern matching nothing: exit 1, silent.
            return ""
        why = " ".join(proc.stderr.split()) or "no message"
        raise SystemctlError(f"{what} failed (exit {proc.returncode}): {why}")
    return proc.stdout


def _over_dbus(pattern: str, timeout: float) -> tuple[list[str], list[dict[str, str]]] | None:
    """The same two answers from systemd over D-Bus, in this process (bailey.sdbus).

    None when the bus cannot be used (no socket, refused, odd reply): then
    systemctl is asked, and its error, if any, is the one reported.
    """
    import struct

    from bailey import sdbus

    if os.environ.get("BAILEY_NO_DBUS") or not os.path.exists(sdbus.SYSTEM_BUS):
        return None
    try:
        with sdbus.Bus(min(timeout, 5.0)) as bus:
            listed = [(n, st) for n, st in sdbus.list_unit_files(bus, pattern)
                      if not n.endswith("@.service") and "." in n]
            names = sorted({n for n, _ in listed})
            return names, sdbus.show(bus, names, PROPERTIES) if names else []
    except (OSError, sdbus.DBusError, ValueError, IndexError, KeyError, struct.error):
        return None


def list_units(
    pattern: str = DEFAULT_PATTERN, systemctl: str = "systemctl", timeout: float = 30
) -> list[Unit]:
    """Every unit matching ``pattern``, sorted by name, with its properties.

    Raises SystemctlError when systemctl cannot answer (no bus, not found...).
    """
    answer = _over_dbus(pattern, timeout) if systemctl == "systemctl" else None
    if answer is not None:
        names, blocks = answer
    else:
        names = sorted({name for name, _ in parse_list_unit_files(
            _run(list_command(pattern, systemctl), timeout, empty_ok=True))})
        blocks = parse_show(_run(show_command(names, systemctl), timeout)) if names else []
    if not names:
        return []
    by_id = {b.get("Id", ""): b for b in blocks}
    units = []
    for i, name in enumerate(names):
        # Blocks come back in the order asked; match by Id when present
        # (an alias can make Id differ from the name asked for).
        props = by_id.get(name) or (blocks[i] if i < len(blocks) else {"Id": name})
        props.setdefault("Id", name)
        units.append(unit_from_properties(props))
    return units
