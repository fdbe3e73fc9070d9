"""Target expressions: hosts, ``user@host``, groups, and set operations on them.

The grammar is ClusterShell's node sets, with barnum's ``user@`` and globs::

    expr  := ['!'] term (op term)*
    op    := ','  union          (host1,host2)
           | '!'  exclusion      (@itg!host2, also written @itg,!host2)
           | '&'  intersection   (@itg&@web)
           | '^'  symmetric difference
    term  := name | user@name | @group | user@@group

A name (host or user part) is barnum.model.nodenames' pattern: numeric ranges in
brackets (``host[1-12]``, ``node[01-10/2]``, ``rack[1-2]-node[1-3]``) and
shell globs ``*`` and ``?``.  A bracket is always a range; one that is not
(``host[a-c]``) is an ExpressionError, never an fnmatch class.

Operators have one precedence and apply left to right, as in ClusterShell:
``a,b&c`` is ``(a,b)&c`` and ``@itg,host7!host2`` is ``(@itg,host7)!host2``.
``,!`` is exclusion (ClusterShell's spelling), not "union with a negation".
A leading ``!`` excludes from everything: ``!host2`` is every host but host2.
A comma inside ``[...]`` belongs to the range (``host[1,2]``), not to the
expression.  Several targets on a command line are a union, as before.

What an expression selects is a set of *atoms* over the discovered fleet:
``(host, user)`` for each user with a circus config on that host, and
``(host, None)`` for "the host as a whole" (every instance bailey finds
there).  A host term selects all of a host's atoms; ``user@host`` only the
user atoms.  A range selects the named hosts that exist; a term that selects
none is an error.  :func:`fold` prints a set of names in this grammar.
Everything here is pure: no I/O, no discovery.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from barnum import BarnumError
from barnum.model.nodenames import PatternError, parse_pattern
from barnum.model.nodenames import fold as fold  # the set printer, beside the set parser

Atom = tuple[str, "str | None"]
OPS = {",": "union", "!": "exclusion", "&": "intersection", "^": "symmetric difference"}
GROUP_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")


class ExpressionError(BarnumError):
    """A target expression that cannot be parsed or names an unknown group."""


@dataclass(frozen=True)
class Term:
    """One operand: a host pattern, a ``user@host`` pattern pair, or a group."""

    text: str
    host: str | None = None  # pattern (barnum.model.nodenames); None for a group term
    user: str | None = None  # pattern; None means the host as a whole
    group: str | None = None  # for @group and user@@group


@dataclass(frozen=True)
class Expr:
    """A parsed expression: the first term (maybe negated), then (op, term) pairs."""

    text: str
    first: Term
    rest: tuple[tuple[str, Term], ...] = ()
    negated: bool = False  # a leading '!': everything but the first term

    @property
    def terms(self) -> list[Term]:
        return [self.first, *(t for _, t in self.rest)]

    @property
    def groups(self) -> set[str]:
        return {t.group for t in self.terms if t.group is not None}


def _split(text: str) -> list[str]:
    """Tokens: operators and operand texts; brackets protect their content."""
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
        if ch in OPS and depth == 0:
            out.append("".join(cur))
            out.append(ch)
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def parse_term(text: str, whole: str | None = None) -> Term:
    """Pure: one operand.  ``whole`` is the expression it came from, for errors."""
    where = f" in {whole!r}" if whole is not None and whole != text else ""
    bad = ExpressionError(
        f"bad target {text!r}{where}: expected host, user@host, @group or user@@group")
    if not text or text.startswith("-") or any(c.isspace() for c in text):
        raise bad
    if text.startswith("@"):
        name = text[1:]
        if not GROUP_RE.match(name):
            raise bad
        return Term(text, group=name)
    if "@@" in text:
        user, _, name = text.partition("@@")
        if not user or "@" in user or not GROUP_RE.match(name):
            raise bad
        _check_patterns(text, where, user)
        return Term(text, user=user, group=name)
    user, sep, host = text.rpartition("@")
    if not host or (sep and (not user or "@" in user)):
        raise bad
    _check_patterns(text, where, host, user if sep else None)
    return Term(text, host=host, user=user if sep else None)


def _check_patterns(text: str, where: str, *patterns: str | None) -> None:
    """Brackets must read as numeric ranges (ClusterShell's), never as fnmatch classes."""
    for p in patterns:
        if p is None:
            continue
        try:
            parse_pattern(p)
        except PatternError as e:
            raise ExpressionError(f"bad target {text!r}{where}: {e}") from None


def parse(text: str) -> Expr:
    """Pure: an expression string to an Expr; ExpressionError says what is wrong."""
    tokens = _split(text)
    negated = False
    if len(tokens) >= 3 and tokens[0] == "" and tokens[1] == "!":
        negated = True
        tokens = tokens[2:]
    first = parse_term(tokens[0], text)
    rest: list[tuple[str, Term]] = []
    i = 1
    while i < len(tokens):
        op, operand = tokens[i], tokens[i + 1]
        if op == "," and operand == "" and i + 2 < len(tokens) and tokens[i + 2] == "!":
            op, operand, i = "!", tokens[i + 3], i + 2  # ClusterShell's ",!"
        if operand == "":
            raise ExpressionError(f"bad target {text!r}: {OPS[op]} {op!r} needs something "
                                  "after it")
        rest.append((op, parse_term(operand, text)))
        i += 2
    return Expr(text, first, tuple(rest), negated)


def universe(hosts: Mapping[str, list[str]]) -> set[Atom]:
    """Every atom of a discovered fleet ({host: users with a config there})."""
    out: set[Atom] = set()
    for h, users in hosts.items():
        out.add((h, None))
        out.update((h, u) for u in users)
    return out


class Evaluator:
    """Evaluate expressions over one fleet and one set of groups (memoised per group)."""

    def __init__(self, hosts: Mapping[str, list[str]],
                 groups: Mapping[str, list[str]] | None = None,
                 strict: bool = True) -> None:
        self.hosts = hosts
        self.groups = dict(groups or {})
        self.strict = strict  # a term that matches nothing is an error
        self.all = universe(hosts)
        self._cache: dict[str, set[Atom]] = {}
        self._stack: list[str] = []

    def group(self, name: str) -> set[Atom]:
        """The atoms of ``@name``: the union of its members, each an expression."""
        if name not in self.groups:
            raise ExpressionError(unknown_group(name, self.groups))
        if name in self._cache:
            return self._cache[name]
        if name in self._stack:
            cycle = " -> ".join(f"@{n}" for n in [*self._stack[self._stack.index(name):], name])
            raise ExpressionError(f"group cycle: {cycle}")
        self._stack.append(name)
        try:
            inner = Evaluator(self.hosts, self.groups, strict=False)
            inner._stack, inner._cache = self._stack, self._cache
            out: set[Atom] = set()
            for member in self.groups[name]:
                out |= inner.expr(parse(member))
        finally:
            self._stack.pop()
        self._cache[name] = out
        return out

    def term(self, t: Term, whole: str) -> set[Atom]:
        user = parse_pattern(t.user) if t.user is not None else None
        if t.group is not None:
            atoms = self.group(t.group)
            if user is not None:
                atoms = {(h, u) for h, u in atoms if u is not None and user.matches(u)}
        else:
            host = parse_pattern(t.host or "")
            names = {h for h in self.hosts if host.matches(h)}
            if user is None:
                atoms = {a for a in self.all if a[0] in names}
            else:
                atoms = {(h, u) for h, u in self.all
                         if u is not None and h in names and user.matches(u)}
        if not atoms and self.strict:
            raise ExpressionError(self._nothing(t, whole))
        return atoms

    def expr(self, e: Expr) -> set[Atom]:
        acc = self.term(e.first, e.text)
        if e.negated:
            acc = self.all - acc
        for op, t in e.rest:
            acc = apply(op, acc, self.term(t, e.text))
        return acc

    def _nothing(self, t: Term, whole: str) -> str:
        where = f" (in {whole!r})" if whole != t.text else ""
        if t.group is not None:
            members = ", ".join(self.groups.get(t.group, [])) or "none"
            what = f"{t.user}@@{t.group}" if t.user else f"@{t.group}"
            return (f"unknown target {what!r}{where}: group {t.group!r} selects no "
                    f"discovered host (members: {members})")
        if t.user is None:
            return _unknown(t.text, sorted(self.hosts), where)
        return _unknown(t.text, sorted(f"{u}@{h}" for h, us in self.hosts.items() for u in us),
                        where)


def apply(op: str, left: set, right: set) -> set:
    """One set operation, by its operator character."""
    if op == ",":
        return left | right
    if op == "!":
        return left - right
    if op == "&":
        return left & right
    if op == "^":
        return left ^ right
    raise ValueError(f"unknown operator {op!r}")


def unknown_group(name: str, groups: Mapping[str, object]) -> str:
    close = difflib.get_close_matches(name, list(groups), n=3, cutoff=0.5)
    msg = f"unknown group '@{name}'"
    if close:
        return msg + f"; did you mean {', '.join('@' + c for c in close)}?"
    if groups:
        return msg + f"; known: {', '.join('@' + g for g in sorted(groups))}"
    return msg + "; the users file defines no groups (groups: {name: [hosts]})"


def _unknown(text: str, candidates: list[str], where: str = "") -> str:
    close = difflib.get_close_matches(text, candidates, n=3, cutoff=0.5)
    msg = f"unknown target {text!r}{where}: no circus config found for it"
    if close:
        msg += f"; did you mean {', '.join(close)}?"
    elif candidates:
        shown = ", ".join(candidates[:8]) + (", ..." if len(candidates) > 8 else "")
        msg += f"; known: {shown}"
    return msg


def to_selection(atoms: set[Atom], hosts: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Atoms to {host: users for bailey}; [] is the whole host.

    A host is whole when its whole-host atom and every user atom are selected;
    else the selected users (a host with no user left is dropped).
    """
    by_host: dict[str, set[str | None]] = {}
    for h, u in atoms:
        by_host.setdefault(h, set()).add(u)
    out: dict[str, list[str]] = {}
    for h in sorted(by_host):
        sel = by_host[h]
        users = sorted(u for u in sel if u is not None)
        if None in sel and set(hosts.get(h, [])) <= set(users):
            out[h] = []
        elif users:
            out[h] = users
    return out


def check_groups(groups: Mapping[str, list[str]]) -> list[tuple[str, int | None, str]]:
    """Problems in a groups table, as (group, member index or None, message): bad member
    syntax, unknown groups, cycles.  Pure; the users file turns them into file:line errors."""
    problems: list[tuple[str, int | None, str]] = []
    for name, members in groups.items():
        for i, m in enumerate(members):
            try:
                e = parse(m)
            except ExpressionError as err:
                problems.append((name, i, str(err)))
                continue
            for g in sorted(e.groups):
                if g not in groups:
                    problems.append((name, i, unknown_group(g, groups)))
    if problems:
        return problems
    ev = Evaluator({}, groups, strict=False)
    for name in groups:
        try:
            ev.group(name)
        except ExpressionError as err:
            problems.append((name, None, str(err)))
            break
    return problems
