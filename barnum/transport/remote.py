"""How bailey's argv reaches a host: quoting, shipped mode, and the OpenSSH equivalent.

The argv itself is built by :mod:`barnum.transport.bailey`.

Fabric hands the command string to the remote user's shell (``$SHELL -c``),
so the argv is joined with :func:`shlex.join`: spaces, quotes, ``$``, ``;``
and backticks reach circusctl byte-identical.

Shipped mode runs bailey on a host where it is not installed: bailey is
stdlib-only, so its source travels in argv as base64 of a zlib-compressed
JSON object ``{module: [is_package, source]}`` and a small bootstrap, run by
the host's ``python3 -c``, installs a meta-path finder for those sources and
calls ``bailey.cli.main(args)``.  Everything is in argv (no stdin, no temp
files), and the whole command must stay below Linux's 128 KiB limit for one
argument, because the remote shell receives it as one ``-c`` string.  So
what travels is each module with its docstrings blanked line for line
(:func:`without_docstrings`): the same code, a quarter less to send, and a
traceback's line numbers still those of the checkout.
"""

from __future__ import annotations

import ast
import base64
import functools
import json
import shlex
import zlib
from pathlib import Path

MAX_ARG = 128 * 1024  # MAX_ARG_STRLEN: the remote `sh -c` gets the command as ONE argument
PAYLOAD_BUDGET = 64 * 1024  # keep well below MAX_ARG

# Keep it small and dependency-free; it runs under whatever python3 the host has.
BOOTSTRAP = """\
import sys,zlib,base64,json,importlib.util as u
S=json.loads(zlib.decompress(base64.b64decode(sys.argv[1])))
class L:
 @staticmethod
 def find_spec(n,p=None,t=None):
  if n in S:return u.spec_from_loader(n,L,origin='<barnum-shipped %s>'%n,is_package=S[n][0])
 @staticmethod
 def create_module(s):return None
 @staticmethod
 def exec_module(m):exec(compile(S[m.__name__][1],m.__spec__.origin,'exec'),m.__dict__)
sys.meta_path.insert(0,L)
a=sys.argv[2:];sys.argv=['bailey']+a
from bailey.cli import main
sys.exit(main(a))
"""


def remote_command(argv: list[str]) -> str:
    """The string for the remote shell; ``shlex.split`` of it gives ``argv`` back."""
    return shlex.join(argv)


@functools.lru_cache(maxsize=1)
def payload() -> str:
    """bailey's package source without docstrings, zlib-compressed and base64-encoded (cached)."""
    import importlib.util

    spec = importlib.util.find_spec("bailey")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("cannot ship bailey: the bailey package is not importable here")
    root = Path(next(iter(spec.submodule_search_locations)))
    modules: dict[str, list] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if "__pycache__" in rel.parts or rel.parts[0] in ("tests", "test"):
            continue
        parts = ["bailey", *rel.with_suffix("").parts]
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        modules[".".join(parts)] = [is_pkg, without_docstrings(path.read_text(encoding="utf-8"))]
    raw = json.dumps(modules, separators=(",", ":")).encode()
    data = base64.b64encode(zlib.compress(raw, 9)).decode("ascii")
    if len(data) > PAYLOAD_BUDGET:
        raise RuntimeError(f"bailey payload is {len(data)} bytes, over {PAYLOAD_BUDGET}")
    return data


def without_docstrings(source: str) -> str:
    """``source`` with its docstrings blanked, line for line (as ``python -OO`` drops
    them): a quarter of the payload that nobody reads on a host, while a traceback's
    line numbers stay those of the checkout."""
    lines = source.splitlines(keepends=True)
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if not (isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                           | ast.AsyncFunctionDef) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            continue
        doc = body[0]
        end = doc.end_lineno or doc.lineno
        if lines[doc.lineno - 1][:doc.col_offset].strip() \
                or lines[end - 1][doc.end_col_offset or 0:].strip():
            continue  # shares a line with code: left as it is
        for i in range(doc.lineno - 1, end):
            lines[i] = "\n"
        if len(body) == 1:  # the body was only the docstring
            lines[doc.lineno - 1] = " " * doc.col_offset + "pass\n"
    return "".join(lines)


def shipped_argv(args: list[str], python: str = "python3") -> list[str]:
    """Run bailey from source with the host's python: ``python3 -c BOOT PAYLOAD args``."""
    return [python, "-c", BOOTSTRAP, payload(), *args]


def ssh_command(host: str, argv: list[str], ssh_config: str | None = None) -> str:
    """The OpenSSH command line, pasteable into a local shell, that does what
    barnum would do for ``host`` (shown by ``--dry-run``).

    ssh joins its trailing words with spaces for the remote shell, so each
    word is quoted twice: once for the remote shell, once for the local one.
    Plain words stay plain: ``ssh -q host1 bailey --json user1``.
    """
    cmd = ["ssh", "-q"]
    if ssh_config:
        cmd += ["-F", ssh_config]
    cmd.append(host)
    return shlex.join(cmd) + " " + " ".join(shlex.quote(shlex.quote(a)) for a in argv)


def display(cmd: list[str]) -> str:
    """Pasteable, shell-quoted form of a local command line."""
    return shlex.join(cmd)
