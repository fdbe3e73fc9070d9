"""The JSON document bailey prints with ``--json``: the contract barnum reads.

Defined once, here, so both sides agree.  Standard library only, because
barnum may ship bailey's source to a host that has nothing but ``python3``.
The schema string changes whenever a field changes meaning or disappears;
adding a field does not change it, but bumps ``schema_minor`` when a reader
may want to know the field is there (a document without it is minor 0).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

SCHEMA = "bailey/1"
SCHEMA_MINOR = 1  # 1: instances carry config_error

# Exit codes shared by bailey's process and the document's ``exit`` field.
EXIT_OK = 0  # every instance healthy (or not expected to run)
EXIT_INSTANCE = 1  # at least one instance failed: unit failed, config, circusctl
EXIT_USAGE = 2  # bad arguments (argparse's own code)
EXIT_HOST = 3  # nothing could be listed on this host: systemctl failed

# Instance states.
OK = "ok"  # circusctl ran and succeeded
INACTIVE = "inactive"  # unit not active and not failed: "No circus expected"
UNIT_FAILED = "unit-failed"  # systemd says ActiveState=failed
ERROR = "error"  # config, endpoint or circusctl problem; see ``error``
PLANNED = "planned"  # --dry-run: what would run, nothing ran

HEALTHY_STATES = frozenset({OK, INACTIVE, PLANNED})


@dataclass
class Instance:
    """One circus unit on this host and what happened when bailey visited it."""

    unit: str
    user: str | None
    user_source: str  # "User=" or "unit name"
    unit_file_state: str
    active_state: str
    sub_state: str
    main_pid: int = 0
    n_restarts: int = 0
    fragment_path: str = ""
    config: str | None = None
    endpoint: str | None = None
    argv: list[str] = field(default_factory=list)  # circusctl argv, as run or planned
    via: str | None = None  # "circusctl" (subprocess) or "native" (in-process client)
    state: str = PLANNED
    exit: int | None = None
    stdout: str = ""
    stderr: str = ""
    watchers: dict[str, str] | None = None  # parsed from a status reply
    error: str | None = None  # one line, names the cause
    # Why the instance's circus.ini could not be used (one line), also when the unit
    # failed and ``error`` says so first; None when it was read (schema_minor 1):
    config_error: str | None = None
    # Added compatibly (older readers ignore them):
    working_directory: str = ""  # the unit's WorkingDirectory= (ipc endpoints)
    notes: list[str] = field(default_factory=list)  # how bailey derived user/config/endpoint
    pubsub_endpoint: str | None = None  # circusd's event feed (bailey --serve subscribes)
    memory_current: int | None = None  # systemd's MemoryCurrent in bytes; None: not accounted
    # "stdout:NAME" / "stderr:NAME" -> absolute file circus writes it to (bailey.circusini)
    stream_files: dict[str, str] = field(default_factory=dict)
    # For barnum drift (bailey.drift); "" / 0 when unknown:
    config_file: str = ""  # the circus.ini bailey would read, also for inactive units
    config_state: str = ""  # ok, missing or unreadable
    config_mtime_us: int = 0  # its mtime, µs since the epoch
    config_owner: str = ""  # owner of its folder (``#UID`` without a passwd entry)
    circusd_started_us: int = 0  # when the unit's main process (circusd) started, µs

    @property
    def healthy(self) -> bool:
        return self.state in HEALTHY_STATES


@dataclass
class Report:
    """Everything bailey learned on one host."""

    host: str
    bailey_version: str
    circusctl_args: list[str]
    dry_run: bool = False
    instances: list[Instance] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # host-level, one line each
    schema: str = SCHEMA
    schema_minor: int = SCHEMA_MINOR

    @property
    def exit(self) -> int:
        if self.errors and not self.instances:
            return EXIT_HOST
        if self.errors or not all(i.healthy for i in self.instances):
            return EXIT_INSTANCE
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        doc = _plain(self)
        doc["instances"] = [_plain(i) for i in self.instances]
        doc["exit"] = self.exit
        return doc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Report:
        """Rebuild a report; raises ValueError on a document of another schema."""
        if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
            found = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
            raise ValueError(f"not a {SCHEMA} document (schema: {found!r})")
        known = {f for f in Instance.__dataclass_fields__}
        instances = [
            Instance(**{k: v for k, v in i.items() if k in known}) for i in doc["instances"]
        ]
        return cls(
            host=doc["host"],
            bailey_version=doc["bailey_version"],
            circusctl_args=list(doc["circusctl_args"]),
            dry_run=bool(doc.get("dry_run", False)),
            instances=instances,
            errors=list(doc.get("errors", [])),
            schema_minor=int(doc.get("schema_minor", 0)),
        )


def _plain(obj: Report | Instance) -> dict[str, Any]:
    """``dataclasses.asdict`` for these flat records, without its deep copy of every value.

    Every field is a JSON scalar, a list of them or a flat dict, so a shallow copy of
    each list and dict is a copy; asdict was a tenth of a served status's CPU.
    """
    return {f.name: _copy(getattr(obj, f.name)) for f in _FIELDS[type(obj)]}


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


_FIELDS = {Report: fields(Report), Instance: fields(Instance)}
