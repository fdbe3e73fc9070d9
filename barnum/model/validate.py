"""Strict checking of the bailey/1 document a host sends, before barnum believes it.

A host may be compromised, and bailey's output is only bytes from it.  So the
document is checked field by field against the types bailey.report declares;
anything else becomes one line of error for that host (never an exception
that would sink the other hosts' output), and every string in an accepted
report is passed through :func:`barnum.text.sanitize.clean`, so the renderers only
ever see clean text.  Pure functions: no I/O.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from bailey.report import SCHEMA, Instance, Report
from barnum.model.config import is_valid_user
from barnum.text.sanitize import clean

__all__ = ["DocumentError", "instance_from_document", "report_from_document"]


class DocumentError(ValueError):
    """The host's document is not a valid bailey/1 report; ``str()`` is one line."""


_INSTANCE_TYPES = typing.get_type_hints(Instance)
_MULTILINE = frozenset({"stdout", "stderr"})  # circusctl's output: many lines by nature


def report_from_document(doc: object, host: str | None = None) -> Report:
    """A :class:`Report` with clean strings, or :class:`DocumentError` naming the first fault.

    ``host`` is the host whose connection delivered the document (default: the
    name the document gives itself).  An instance whose user or unit does not
    name a circus unit of that host is refused: dropped, with one line in
    ``errors``; the other instances stay.
    """
    if not isinstance(doc, dict):
        raise DocumentError(f"not a {SCHEMA} document (a JSON {_kind(doc)})")
    if doc.get("schema") != SCHEMA:
        raise DocumentError(f"not a {SCHEMA} document (schema: {_show(doc.get('schema'))})")
    named = _typed(doc, "host", str)
    version = _typed(doc, "bailey_version", str)
    args = _str_list(doc.get("circusctl_args"), "circusctl_args")
    dry_run = doc.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise DocumentError(f"dry_run is a {_kind(dry_run)}, not a boolean")
    errors = _str_list(doc.get("errors", []), "errors")
    minor = doc.get("schema_minor", 0)  # absent: a bailey from before minor 1
    if isinstance(minor, bool) or not isinstance(minor, int) or minor < 0:
        raise DocumentError(f"schema_minor is a {_kind(minor)}, not a count")
    raw = doc.get("instances")
    if not isinstance(raw, list):
        raise DocumentError(f"instances is a {_kind(raw)}, not a list")
    instances = [_instance(i, n) for n, i in enumerate(raw)]
    kept, notes = [], list[str](clean(e) for e in errors)
    for r, i in zip(raw, instances, strict=True):
        why = refusal(r.get("user"), r.get("unit"), named if host is None else host)
        if why:
            notes.append(why)
        else:
            kept.append(i)
    return Report(
        host=clean(named), bailey_version=clean(version), circusctl_args=args,
        dry_run=dry_run, instances=kept, errors=notes, schema_minor=minor,
    )


def instance_from_document(raw: object, host: str) -> Instance:
    """One instance (from an event), checked as in a report from ``host``."""
    inst = _instance(raw, 0)
    assert isinstance(raw, dict)  # _instance checked it
    why = refusal(raw.get("user"), raw.get("unit"), host)
    if why:
        raise DocumentError(why)
    return inst


def refusal(user: object, unit: object, host: str) -> str | None:
    """Why an instance of ``user`` and ``unit`` (as sent, before cleaning) cannot
    be one on ``host``: one clean line, or None.

    The user must be a valid user name, and the unit exactly
    ``circus_<user>_<host>.service`` (bailey names units by the short host
    name, so the first label of ``host`` also fits).  Anything else could make
    a host-chosen string stand for another host or user later on.
    """
    if not is_valid_user(user):
        return clean(f"instance refused: {_show(user)} is not a valid user name "
                     f"(unit {_show(unit)})")
    names = {f"circus_{user}_{h}.service" for h in (host, host.split(".", 1)[0])}
    if unit not in names:
        return clean(f"instance refused: unit {_show(unit)} is not "
                     f"circus_{user}_{host}.service")
    return None


@dataclasses.dataclass(frozen=True)
class _Slot:
    """One field of Instance, its hint read once (typing's helpers are slow to ask per
    field of every instance of every answer)."""

    name: str
    required: bool
    nullable: bool
    kinds: tuple[type, ...]  # str, int, list (of strings), dict (of strings): hint order
    want: str  # what the hint allows, in words, for the error
    multiline: bool


def _slot(f: dataclasses.Field) -> _Slot:
    hint = _INSTANCE_TYPES[f.name]
    options = typing.get_args(hint) if _is_union(hint) else (hint,)
    kinds = tuple(k for k in (typing.get_origin(t) or t for t in options)
                  if k in (str, int, list, dict))
    required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    return _Slot(f.name, required, type(None) in options, kinds,
                 " or ".join(_hint_name(t) for t in options), f.name in _MULTILINE)


def _instance(raw: object, n: int) -> Instance:
    if not isinstance(raw, dict):
        raise DocumentError(f"instances[{n}] is a {_kind(raw)}, not an object")
    values: dict[str, Any] = {}
    for slot in _SLOTS:
        if slot.name not in raw:
            if slot.required:
                raise DocumentError(f"instances[{n}] has no {slot.name}")
            continue
        values[slot.name] = _field(raw[slot.name], slot, n)
    return Instance(**values)


def _field(value: object, slot: _Slot, n: int) -> Any:
    """``value`` checked against the field's type hint and cleaned (a multi-line field is
    kept whole: shown through clean_lines, line by line); the hints of bailey.report are
    simple: str, int, optional ones, list[str], dict[str, str]."""
    if value is None and slot.nullable:
        return None
    for k in slot.kinds:
        if k is str:
            if isinstance(value, str):
                return value if slot.multiline else clean(value)
        elif k is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif k is list:
            if isinstance(value, list):
                checked = _str_list(value, f"instances[{n}].{slot.name}")
                return value if slot.multiline else checked
        elif isinstance(value, dict):
            checked_d = _str_dict(value, f"instances[{n}].{slot.name}")
            return value if slot.multiline else checked_d
    raise DocumentError(f"instances[{n}].{slot.name} is a {_kind(value)}, not {slot.want}")


def _typed(doc: dict, key: str, t: type) -> Any:
    v = doc.get(key)
    if not isinstance(v, t):
        raise DocumentError(f"{key} is a {_kind(v)}, not a {t.__name__}")
    return v


def _str_list(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise DocumentError(f"{where} is not a list of strings")
    return [clean(x) for x in value]


def _str_dict(value: dict, where: str) -> dict[str, str]:
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise DocumentError(f"{where} is not a mapping of strings to strings")
    return {clean(k): clean(v) for k, v in value.items()}


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _hint_name(t: Any) -> str:
    names = {str: "a string", int: "a number", type(None): "null", list: "a list of strings",
             dict: "an object of strings"}
    return names.get(typing.get_origin(t) or t, str(t))


def _kind(v: object) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", int: "number",
            float: "number", type(None): "null"}.get(type(v), type(v).__name__)


def _show(v: object) -> str:
    text = repr(v)
    return clean(text if len(text) <= 40 else text[:37] + "...")


_SLOTS = tuple(_slot(f) for f in dataclasses.fields(Instance))  # after the helpers it uses
