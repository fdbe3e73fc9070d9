"""Shell completion for ``barnum`` (bash, zsh), through argcomplete.

The shell runs ``barnum`` with ``_ARGCOMPLETE=1`` and the line typed so far;
``main`` calls :func:`autocomplete` first, which answers and exits before
anything else runs.  What is offered comes from the same places a run uses:
options and subcommands from the parsers (``cli.SUBCOMMANDS``, so a new
command completes without a change here), targets from discovery through the
users file (hosts the operator allows, ``user@host``, and groups).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

TARGET_DESTS = ("targets", "explicit_targets")


def target_candidates(config_path: str | None, ssh_config: str | None) -> list[str]:
    """Hosts, ``user@host`` and group names a run with these files would accept."""
    from barnum.model.config import find_config, load_config
    from barnum.model.discovery import discover
    from barnum.transport.allow import allow, read_ssh_config

    config = load_config(find_config(config_path))
    found = discover(config.users, config.config_template)
    ssh_cfg = ssh_config or config.ssh_config
    if ssh_cfg:
        ssh_cfg = os.path.expanduser(ssh_cfg)
    text = None if config.hosts is not None else read_ssh_config(ssh_cfg)
    hosts = allow(found.hosts, config.hosts, text).hosts
    out = list(hosts)
    out += [f"{u}@{h}" for h, users in hosts.items() for u in users]
    groups = getattr(config, "groups", None) or {}
    out += [f"@{g}" for g in groups if f"@{g}" not in out]  # a group target is @name
    return out


def _typed_words() -> list[str]:
    """The words before the cursor (argcomplete's own split of COMP_LINE)."""
    from argcomplete import split_line

    line = os.environ.get("COMP_LINE", "")
    point = int(os.environ.get("COMP_POINT", len(line)))
    return split_line(line, point)[3]


def complete_targets(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """argcomplete completer: targets; subcommand names too where the first word goes."""
    from barnum.cli.parser import SUBCOMMANDS, split_command

    words = _typed_words()
    if "--" in words[1:]:  # bailey's and circusctl's arguments: not ours to guess
        return []
    try:
        out = target_candidates(getattr(parsed_args, "config", None),
                                getattr(parsed_args, "ssh_config", None))
    except Exception:  # no users file, unreadable tree: offer what we can
        out = []
    if not split_command(words[1:]).word:  # only options so far: a subcommand may come
        out = [*SUBCOMMANDS, *out]
    return [c for c in out if c.startswith(prefix)]


def completion_parser(words: list[str]) -> argparse.ArgumentParser:
    """The parser for the line typed: the overview's, or ``barnum COMMAND``'s."""
    import importlib

    from barnum.cli.parser import SUBCOMMANDS, add_common_options, build_parser, split_command

    name = split_command(words[1:]).name
    if name is None:
        p = build_parser()
    else:
        p = argparse.ArgumentParser(prog="barnum")
        p.add_argument("_command", choices=[name])
        add_common_options(p)
        importlib.import_module(SUBCOMMANDS[name][0]).configure(p)
    for action in p._actions:
        if action.dest in TARGET_DESTS:
            # argcomplete's documented hook, an attribute argparse's Action does not declare
            action.completer = complete_targets  # type: ignore[attr-defined]
    return p


def _finder():
    import argcomplete

    class Finder(argcomplete.CompletionFinder):
        """argcomplete's, with bash's ``user@host`` right.

        bash (5.2, tried in tmux) replaces a word from the ``@`` in it, the
        ``@`` included (``user2@<TAB>`` became ``user2host``), whereas
        argcomplete cuts its answers after the last COMP_WORDBREAKS
        character: so keep the ``@`` in them.
        """

        def quote_completions(self, completions, cword_prequote, last_wordbreak_pos):
            prefix = argcomplete.split_line(os.environ.get("COMP_LINE", ""),
                                            int(os.environ.get("COMP_POINT", 0)))[1]
            if (last_wordbreak_pos is not None and last_wordbreak_pos < len(prefix)
                    and prefix[last_wordbreak_pos] == "@"
                    and os.environ.get("_ARGCOMPLETE_SHELL", "bash") == "bash"):
                last_wordbreak_pos = last_wordbreak_pos - 1 if last_wordbreak_pos else None
            return super().quote_completions(completions, cword_prequote, last_wordbreak_pos)

    return Finder()


def autocomplete() -> None:
    """Answer the shell's completion request and exit (argcomplete's protocol)."""
    # Options when a "-" is typed; a bare TAB offers commands and targets.
    _finder()(completion_parser(_typed_words()), always_complete_options=False)


def shellcode(shell: str) -> str:
    """What ``eval "$(barnum completion bash)"`` (or zsh) loads."""
    import argcomplete

    return argcomplete.shellcode(["barnum"], shell=shell)
