"""The arguments barnum sends, parsed without argparse (bailey's hot path).

Importing argparse (and gettext behind it) costs a few milliseconds of a
host's CPU on every ``barnum`` run, as much as the rest of bailey's
argument handling many times over.  barnum's calls have one shape:
``--json [USER ...] [--config-template T] [--timeout N] [--verbose]``.
:func:`parse` reads exactly that and returns None for anything else, so
argparse (help, errors, every other option) decides all other command lines.
"""

from __future__ import annotations

from types import SimpleNamespace

_FLAGS = {"--json": "json", "--verbose": "verbose", "-v": "verbose", "--dry-run": "dry_run",
          "-D": "dry_run", "--serve": "serve"}


def parse(argv: list[str], default_units: str,
          default_template: str) -> SimpleNamespace | None:
    """The namespace argparse would build for ``argv``, or None when unsure."""
    ns = SimpleNamespace(users=[], json=False, dry_run=False, verbose=False,
                         units=default_units, config_template=default_template,
                         circusctl=None, timeout=5, native=True, helpers=True,
                         serve=False)
    i = 0
    after_users = False  # argparse takes USER words as one run, not interleaved
    while i < len(argv):
        a = argv[i]
        if ns.users and (a.startswith("-") and a != "-"):
            after_users = True
        if a in _FLAGS:
            setattr(ns, _FLAGS[a], True)
        elif a.startswith("--config-template="):
            ns.config_template = a.partition("=")[2]
        elif a in ("--config-template", "--timeout") and i + 1 < len(argv):
            value = argv[i + 1]
            if value.startswith("-"):
                return None
            if a == "--timeout":
                if not (value.isascii() and value.isdigit() and int(value) >= 1):
                    return None
                ns.timeout = int(value)
            else:
                ns.config_template = value
            i += 1
        elif a.startswith("-") or not a:
            return None  # another option (or "-"): argparse's to judge
        elif after_users:
            return None
        else:
            ns.users.append(a)
        i += 1
    return ns
