"""barnum's layers, checked: imports only go down, and no module imports itself
back through others (``python -m tests.layering``; ``invoke lint`` runs it).

Every import counts, also one inside a function or under ``TYPE_CHECKING``: a
lazy import is still a dependency, and a type-only one still couples the code.
The layers, bottom to top, are in ``LAYERS``; packages on the same rank (the
three front ends, or ``oneshot``, ``live`` and ``history``) may not import each
other.  ``bailey`` ships alone to the hosts, so it imports nothing of barnum.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LAYERS: dict[str, int] = {  # package (or module) -> rank; a module may import lower ranks
    "bailey": 0,
    "barnum": 0,  # the package itself: version, exit codes, BarnumError
    "barnum.text": 0,
    "barnum.model": 1,
    "barnum.transport": 2,
    "barnum.oneshot": 3,
    "barnum.live": 3,
    "barnum.history": 3,
    "barnum.spec": 4,
    "barnum.views": 5,
    "barnum.context": 6,
    "barnum.cli": 7,
    "barnum.shell": 7,
    "barnum.web": 7,
    "barnum.warm": 8,  # runs the CLI: the console entry point and the background session
    "barnum.__main__": 9,
}


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name -> file, for every module of barnum and bailey."""
    out = {}
    for pkg in ("barnum", "bailey"):
        for f in sorted((root / pkg).rglob("*.py")):
            parts = list(f.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = f
    return out


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ``known`` that ``name`` imports, wherever the import stands."""
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                found.add(_known_prefix(a.name, known))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if is_pkg else name.split(".")[:-1]
                up = here[: len(here) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            for a in node.names:
                sub = f"{base}.{a.name}"
                found.add(sub if sub in known else _known_prefix(base, known))
    found.discard("")
    found.discard(name)
    return found


def _known_prefix(dotted: str, known: dict[str, Path]) -> str:
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in known:
            return ".".join(parts[:n])
    return ""


def layer_of(module: str) -> str:
    """The longest ``LAYERS`` key that ``module`` is or is inside."""
    best = ""
    for key in LAYERS:
        inside = module.startswith(key + ".") and key != "barnum"  # barnum: __init__ only
        if (module == key or inside) and len(key) > len(best):
            best = key
    return best


def upward(graph: dict[str, set[str]]) -> list[str]:
    """Imports that go up, or sideways into a sibling package of the same rank."""
    bad = []
    for a, deps in sorted(graph.items()):
        la = layer_of(a)
        for b in sorted(deps):
            lb = layer_of(b)
            if la == lb or lb == "bailey" != la:  # barnum may use bailey's report model
                continue
            if la == "bailey":
                bad.append(f"{a} imports {b}: bailey ships alone and imports nothing of barnum")
            elif LAYERS[lb] >= LAYERS[la]:
                bad.append(f"{a} ({la}, rank {LAYERS[la]}) imports {b} ({lb}, rank {LAYERS[lb]})")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in graph:
                    continue
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    return {m: imports_of(m, p, known) for m, p in known.items()}


def problems(root: Path = ROOT) -> list[str]:
    """One line per unplaced module, upward import and cycle; empty when all is well."""
    g = graph(root)
    out = [f"{m}: in no layer (add its package to tests/layering.py LAYERS)"
           for m in sorted(g) if not layer_of(m)]
    out += upward({m: d for m, d in g.items() if layer_of(m)})
    out += ["import cycle: " + " <-> ".join(c) for c in cycles(g)]
    return out


def layer_map(root: Path = ROOT) -> str:
    """A Markdown table: each layer, top first, its modules' lines, what it imports."""
    g = graph(root)
    files = modules(root)
    rows = ["| rank | layer | modules | lines | imports from |", "| --- | --- | --- | --- | --- |"]
    for layer, rank in sorted(LAYERS.items(), key=lambda kv: (-kv[1], kv[0])):
        mods = [m for m in g if layer_of(m) == layer]
        lines = sum(len(files[m].read_text().splitlines()) for m in mods)
        uses = sorted({layer_of(d) for m in mods for d in g[m]} - {layer, ""})
        rows.append(f"| {rank} | `{layer}` | {len(mods)} | {lines} | "
                    f"{', '.join(f'`{u}`' for u in uses) or '-'} |")
    return "\n".join(rows)


def main() -> int:
    if sys.argv[1:] == ["--map"]:
        print(layer_map())
        return 0
    found = problems()
    for line in found:
        print(f"layering: {line}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
