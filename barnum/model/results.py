"""What a fleet run returns: each host's result, and the exit code they add up to."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bailey.report import EXIT_HOST as BAILEY_EXIT_HOST
from bailey.report import UNIT_FAILED, Report
from barnum import EXIT_HOST, EXIT_INSTANCE, EXIT_OK, __version__
from barnum.model.targets import groups_of
from barnum.model.thishost import unit_host
from barnum.model.validate import DocumentError, report_from_document
from barnum.text.sanitize import clean

SCHEMA = "barnum/1"


@dataclass
class HostResult:
    """What happened on one host.  ``error``: one line, host-level, None if bailey answered."""

    host: str
    users: list[str]
    argv: list[str]
    report: Report | None = None
    document: dict[str, Any] | None = None  # bailey's JSON as received
    stdout: str = ""
    stderr: str = ""
    exit_status: int | None = None  # bailey's exit status on the host
    error: str | None = None
    elapsed: float = 0.0
    shipped: bool = False

    def __setattr__(self, name: str, value: Any) -> None:
        # An error may quote what a host said: it is stored clean, one line, always.
        if name == "error" and value is not None:
            value = clean(str(value).strip())
        object.__setattr__(self, name, value)

    @property
    def ok(self) -> bool:
        """The host answered and bailey could look at it (instances may still be unhealthy)."""
        if self.error is not None:
            return False
        return self.report is None or self.report.exit != BAILEY_EXIT_HOST

    @property
    def exit_code(self) -> int:
        if not self.ok:
            return EXIT_HOST
        if self.report is not None:
            return EXIT_OK if self.report.exit == EXIT_OK else EXIT_INSTANCE
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "users": self.users,
            "ok": self.ok,
            "exit": self.exit_code,
            "elapsed": round(self.elapsed, 3),
            "error": self.error,
            "shipped": self.shipped,
            "argv": self.argv,
            "remote_exit": self.exit_status,
            "bailey": self.document,
            "raw_stdout": self.stdout if self.document is None else None,
        }


@dataclass
class FleetResult:
    """Every host's result, sorted by host name, and the exit code they add up to."""

    hosts: list[HostResult]
    elapsed: float = 0.0
    groups: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # name -> {host: users}

    @property
    def exit_code(self) -> int:
        codes = {h.exit_code for h in self.hosts}
        for code in (EXIT_HOST, EXIT_INSTANCE):
            if code in codes:
                return code
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        """The ``barnum --json`` document.

        ``{"schema": "barnum/1", "barnum_version": str, "exit": int,
        "elapsed": float, "groups": {name: {host: [user, ...]}},
        "hosts": [{"host", "users", "ok", "exit", "elapsed", "error", "shipped",
        "argv", "remote_exit", "bailey", "raw_stdout", "groups"}]}``

        ``groups`` (top level) is each users-file group's members among the
        discovered hosts (an empty user list: the whole host); a host's
        ``groups`` names the groups it is in.

        ``bailey`` is the host's bailey/1 document as received (see
        bailey.report) or null; ``raw_stdout`` is bailey's output when it was
        not a document (e.g. ``barnum -- --help``), else null; ``error`` is a
        one-line host-level error or null.  Fields may be added; the schema
        string changes when one changes meaning or disappears.
        """
        of = self.groups_of()
        return {
            "schema": SCHEMA,
            "barnum_version": __version__,
            "exit": self.exit_code,
            "elapsed": round(self.elapsed, 3),
            "groups": self.groups,
            "hosts": [{**h.to_dict(), "groups": of.get(h.host, [])} for h in self.hosts],
        }

    def groups_of(self) -> dict[str, list[str]]:
        """host -> names of the groups it is in."""
        return groups_of(self.groups)


def interpret(result: HostResult) -> None:
    """Fill ``report``/``document``/``error`` from bailey's stdout and exit status.

    The document is checked strictly (barnum.model.validate): a host that sends a
    malformed one gets a one-line error, and the other hosts are unaffected.
    """
    text = result.stdout.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError as e:
            result.error = f"bailey printed unreadable JSON: {_first_line(e)}"
            return
        except RecursionError:
            result.error = "bailey printed JSON nested too deeply to read"
            return
        except MemoryError:
            result.error = f"bailey printed a document too big to read ({len(text)} bytes)"
            return
        try:
            result.report = report_from_document(doc, unit_host(result.host))
        except DocumentError as e:
            result.error = f"bailey printed an invalid document: {e}"
            return
        result.document = doc
        return
    if result.exit_status == 0:
        return  # not a document (e.g. --help): shown raw, cleaned
    err_lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    out_lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    if result.exit_status == 2 and err_lines:
        result.error = f"bailey rejected its arguments: {err_lines[-1].strip()}"
    elif out_lines:
        result.error = f"bailey printed no JSON: {out_lines[0].strip()}"
    elif err_lines:
        result.error = f"bailey exited {result.exit_status}: {err_lines[-1].strip()}"
    else:
        result.error = f"bailey exited {result.exit_status} and printed nothing"


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def error_lines(result: FleetResult) -> list[str]:
    """``host: message`` for every host-level and instance-level problem."""
    lines = []
    for h in result.hosts:
        if h.error:
            lines.append(f"{h.host}: {h.error}")
            continue
        if not h.report:
            continue
        lines += [f"{h.host}: {e}" for e in h.report.errors]
        for i in h.report.instances:
            if not i.healthy:
                why = i.error or ("unit failed" if i.state == UNIT_FAILED else i.state)
                lines.append(f"{h.host}: {i.unit}: {why}")
    return lines
