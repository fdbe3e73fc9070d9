"""Pure: a shell target set as the instances it selects.

The set is a list of expressions, each one the CLI's (barnum.model.nodeset:
hosts, ``user@host``, globs, ``@group``, ``, ! & ^``), applied left to
right as in ClusterShell: a plain one adds to the set, ``-x`` (from
``target -x``) removes x; a set that starts with a removal starts from
every host.  So ``[host*, -host2]`` is what ``host*!host2`` selects, and
the prompt shows it in that spelling.
"""

from __future__ import annotations

from barnum.model.nodeset import Evaluator, ExpressionError, parse, to_selection
from barnum.model.targets import TargetError

Selection = dict[str, list[str]]  # host -> users ([] = every instance on the host)


def resolve_set(exprs: list[str], hosts: dict[str, list[str]],
                groups: dict[str, list[str]] | None = None) -> Selection:
    """The instances a set selects (no expression: every host).  An unknown name,
    group or a bad expression is a TargetError with close matches."""
    if not exprs:
        return {h: [] for h in sorted(hosts)}
    ev = Evaluator(hosts, groups)
    atoms: set = set()
    for i, e in enumerate(exprs):
        drop = e.startswith("-")
        text = e[1:] if drop else e
        if text == "@failed":
            raise TargetError("@failed is only for `target @failed`")
        try:
            got = ev.expr(parse(text))
        except ExpressionError as err:
            raise TargetError(str(err)) from None
        if drop:
            atoms = (set(ev.all) if i == 0 else atoms) - got
        else:
            atoms |= got
    return to_selection(atoms, hosts)


def as_targets(sel: Selection) -> list[str]:
    """Exact target strings for the session: ``host`` or ``user@host`` each."""
    return [t for h, users in sel.items() for t in ([h] if not users else
                                                     [f"{u}@{h}" for u in users])]


def describe(sel: Selection) -> list[str]:
    """One line per host for ``target ?``: the host and which of its instances."""
    return [f"{h}: {'every instance' if not users else ', '.join(users)}"
            for h, users in sel.items()]


def groups_of(config: object) -> dict[str, list[str]]:
    """The users file's groups (name -> member expressions); {} when it has none."""
    groups = getattr(config, "groups", None)
    return {str(k): [str(m) for m in v] for k, v in groups.items()} if groups else {}
