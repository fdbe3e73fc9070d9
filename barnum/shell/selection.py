"""Pure: a shell target set (expressions, ``-x`` exclusions, ``@group``) as instances.

The session's own resolver (:func:`barnum.targets.resolve`) does hosts,
``user@host`` and globs; this adds what the shell's set can hold on top:
exclusions, groups and the instances a command failed on.
"""

from __future__ import annotations

from barnum.targets import TargetError, parse_target, resolve

Selection = dict[str, list[str]]  # host -> users ([] = every instance on the host)


def expand_groups(exprs: list[str], groups: dict[str, list[str]]) -> list[str]:
    """``@name`` replaced by the group's members (groups may not nest)."""
    out: list[str] = []
    for e in exprs:
        if e.startswith("@"):
            name = e[1:]
            if name == "failed":
                raise TargetError("@failed is only for `target @failed`")
            if name not in groups:
                known = ", ".join("@" + g for g in sorted(groups)) or "none are defined"
                raise TargetError(f"unknown group {e!r} (groups: {known})")
            out += [m for m in groups[name] if not m.startswith("@")]
        else:
            out.append(e)
    return out


def resolve_set(exprs: list[str], hosts: dict[str, list[str]],
                groups: dict[str, list[str]] | None = None) -> Selection:
    """The instances a set selects: included expressions (none: every host),
    minus the ``-x`` ones.  Unknown names are a TargetError with close matches."""
    groups = groups or {}
    inc = expand_groups([e for e in exprs if not e.startswith("-")], groups)
    exc = expand_groups([e[1:] for e in exprs if e.startswith("-")], groups)
    chosen = resolve(inc, hosts)  # no included expression: every host
    for e in exc:
        t = parse_target(e)
        gone = resolve([e], hosts)  # an unknown exclusion is a mistake too
        for h, users in gone.items():
            if h not in chosen:
                continue
            if t.user is None or not users:
                del chosen[h]
                continue
            left = [u for u in (chosen[h] or hosts.get(h, [])) if u not in users]
            if left:
                chosen[h] = left
            else:
                del chosen[h]
    return chosen


def as_targets(sel: Selection) -> list[str]:
    """Exact target strings for the session: ``host`` or ``user@host`` each."""
    return [t for h, users in sel.items() for t in ([h] if not users else
                                                     [f"{u}@{h}" for u in users])]


def describe(sel: Selection) -> list[str]:
    """One line per host for ``target ?``: the host and which of its instances."""
    return [f"{h}: {'every instance' if not users else ', '.join(users)}"
            for h, users in sel.items()]


def groups_of(config: object) -> dict[str, list[str]]:
    """The users file's groups (name -> target expressions); {} when it has none."""
    groups = getattr(config, "groups", None)
    return {str(k): [str(m) for m in v] for k, v in groups.items()} if groups else {}
