"""Watcher dependencies (the users file's ``depends:``) and the order they give.

::

    depends:
      'user1@@itg:processor': ['user1@@itg:kafka', 'user1@host5:spark']
      grafana: [kairosdb]          # a bare name: the same user@host as the dependent
      kairosdb: [cassandra]

A *ref* is ``TARGET:WATCHER`` (TARGET any target expression: ``user@host``,
a glob, ``@group``...), or a bare ``WATCHER``.  A bare key means "that watcher
on every instance that has it"; a bare dependency means "on the dependent's
own instance".  Refs expand to :class:`Node` s over an *inventory*
({(host, user): watchers that exist there}, from the users' circus.ini files
or the live fleet).  A dependency that expands to nothing, or a cycle, is a
:class:`DependencyError` naming it, raised before anything is touched.

Everything here is pure: :func:`plan_order` gives the levels to start in
(each level's dependencies all in earlier levels); ``stop`` goes in reverse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from barnum import EXIT_USAGE, BarnumError
from barnum.model.hostsort import natural_key
from barnum.model.nodeset import Evaluator, ExpressionError, parse

Inventory = Mapping[tuple[str, str], Iterable[str]]  # (host, user) -> watchers there


class DependencyError(BarnumError):
    """A bad ref, a dependency on nothing, or a cycle: a usage error (exit 2)."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg, EXIT_USAGE)


@dataclass(frozen=True)
class Ref:
    """``target:watcher``; ``target`` None for a bare watcher name."""

    text: str
    watcher: str
    target: str | None = None


@dataclass(frozen=True, order=True)
class Node:
    """One watcher of one instance."""

    host: str
    user: str
    watcher: str

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.watcher}"

    @property
    def instance(self) -> str:
        return f"{self.user}@{self.host}"


def node_key(n: Node) -> tuple:
    return (natural_key(n.host), n.user, n.watcher)


def parse_ref(text: object) -> Ref:
    """Pure: ``TARGET:WATCHER`` or ``WATCHER``."""
    if not isinstance(text, str) or not text.strip():
        raise DependencyError(f"bad watcher {text!r}: expected user@host:watcher or a name")
    target, sep, watcher = text.rpartition(":")
    if not watcher or any(c.isspace() for c in watcher) or (sep and not target):
        raise DependencyError(f"bad watcher {text!r}: expected user@host:watcher or a name")
    if sep:
        try:
            parse(target)
        except ExpressionError as e:
            raise DependencyError(f"bad watcher {text!r}: {e}") from None
    return Ref(text, watcher, target if sep else None)


class Graph:
    """Expands refs over one fleet and builds the dependency graph of what is asked for."""

    def __init__(self, depends: Mapping[str, list[str]], inventory: Inventory,
                 hosts: Mapping[str, list[str]], groups: Mapping[str, list[str]] | None = None
                 ) -> None:
        self.inventory = {k: set(v) for k, v in inventory.items()}
        self.ev = Evaluator(hosts, groups, strict=False)
        self.rules = [(parse_ref(k), [parse_ref(n) for n in needs])
                      for k, needs in depends.items()]

    def expand(self, ref: Ref, near: Node | None = None) -> set[Node]:
        """The existing watchers a ref names; a bare ref near a node: that instance's."""
        if ref.target is None:
            pairs = {(near.host, near.user)} if near is not None else set(self.inventory)
        else:
            try:
                atoms = self.ev.expr(parse(ref.target))
            except ExpressionError as e:
                raise DependencyError(f"{ref.text!r}: {e}") from None
            pairs = {(h, u) for h, u in atoms if u is not None}
        return {Node(h, u, ref.watcher) for h, u in pairs
                if ref.watcher in self.inventory.get((h, u), ())}

    def needs(self, node: Node) -> set[Node]:
        """What ``node`` depends on directly; a dependency naming nothing is an error."""
        out: set[Node] = set()
        for key, deps in self.rules:
            if node not in self.expand(key):
                continue
            for d in deps:
                got = self.expand(d, near=node) - {node}
                if not got:
                    where = (f" on {node.instance}" if d.target is None else "")
                    raise DependencyError(
                        f"{node} depends on {d.text!r}, which names no existing watcher"
                        f"{where} (depends: {key.text!r}; no [watcher:{d.watcher}] there)")
                out |= got
        return out

    def closure(self, start: Iterable[Node]) -> dict[Node, set[Node]]:
        """node -> direct dependencies, for ``start`` and all they need, transitively."""
        graph: dict[Node, set[Node]] = {}
        todo = sorted(set(start), key=node_key)
        while todo:
            n = todo.pop()
            if n in graph:
                continue
            graph[n] = self.needs(n)
            todo += [d for d in graph[n] if d not in graph]
        return graph


    def full(self) -> dict[Node, set[Node]]:
        """Every node some rule's key names -> its direct dependencies."""
        keyed: set[Node] = set()
        for key, _ in self.rules:
            keyed |= self.expand(key)
        return {n: self.needs(n) for n in sorted(keyed, key=node_key)}

    def dependents_closure(self, start: Iterable[Node]) -> dict[Node, set[Node]]:
        """``start`` and everything that needs it, transitively: what must stop first.
        The graph (node -> its dependencies within the set) orders them."""
        full = self.full()
        chosen = set(start)
        grew = True
        while grew:
            more = {m for m, deps in full.items() if deps & chosen} - chosen
            grew = bool(more)
            chosen |= more
        return {n: full.get(n, set()) & chosen for n in chosen}


def toposort(graph: Mapping[Node, set[Node]]) -> list[list[Node]]:
    """Levels: every node's dependencies are in earlier levels.  Pure.

    A cycle is a DependencyError that names it (``a -> b -> a``).
    """
    remaining = {n: set(d) for n, d in graph.items()}
    for deps in list(remaining.values()):
        for d in deps:
            remaining.setdefault(d, set())
    levels: list[list[Node]] = []
    done: set[Node] = set()
    while remaining:
        ready = [n for n, d in remaining.items() if d <= done]
        if not ready:
            raise DependencyError("dependency cycle: " + " -> ".join(
                str(n) for n in find_cycle(remaining)))
        ready.sort(key=node_key)
        levels.append(ready)
        done.update(ready)
        for n in ready:
            del remaining[n]
    return levels


def find_cycle(graph: Mapping[Node, set[Node]]) -> list[Node]:
    """One cycle of ``graph`` (first node repeated at the end), or []."""
    state: dict[Node, int] = {}  # 1: on the path, 2: finished
    path: list[Node] = []

    def visit(n: Node) -> list[Node] | None:
        state[n] = 1
        path.append(n)
        for d in sorted(graph.get(n, ()), key=node_key):
            if state.get(d) == 1:
                return [*path[path.index(d):], d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        path.pop()
        state[n] = 2
        return None

    for n in sorted(graph, key=node_key):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return []


def start_nodes(words: list[str], graph: Graph, selection: Mapping[str, list[str]],
                hosts: Mapping[str, list[str]]) -> list[Node]:
    """The nodes ``start --ordered WATCHER...`` asks for: a ``target:watcher`` ref as it
    expands; a bare name on every selected instance that has it.  Naming nothing is
    an error."""
    out: set[Node] = set()
    for w in words:
        ref = parse_ref(w)
        if ref.target is not None:
            got = graph.expand(ref)
        else:
            pairs = {(h, u) for h, users in selection.items()
                     for u in (users or hosts.get(h, []))}
            got = {n for n in graph.expand(ref) if (n.host, n.user) in pairs}
        if not got:
            raise DependencyError(f"no existing watcher {w!r} in the targets (a circus.ini "
                                  f"with [watcher:{ref.watcher}])")
        out |= got
    return sorted(out, key=node_key)


def plan_order(words: list[str], depends: Mapping[str, list[str]], inventory: Inventory,
               hosts: Mapping[str, list[str]], groups: Mapping[str, list[str]] | None,
               selection: Mapping[str, list[str]], with_deps: bool = True,
               stop: bool = False) -> tuple[list[list[Node]], dict[Node, set[Node]]]:
    """Levels to start in, and the graph (node -> direct dependencies).

    ``stop``: the named watchers and everything that needs them, dependents
    first (the levels reversed), so nothing keeps running on a stopped need.
    """
    g = Graph(depends, inventory, hosts, groups)
    start = start_nodes(words, g, selection, hosts)
    if not with_deps:
        graph: dict[Node, set[Node]] = {n: set() for n in start}
    elif stop:
        graph = g.dependents_closure(start)
    else:
        graph = g.closure(start)
    levels = toposort(graph)
    return (levels[::-1] if stop else levels), graph
