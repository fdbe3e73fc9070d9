"""``barnum completion bash|zsh``: the shell code that makes TAB complete barnum.

    eval "$(barnum completion bash)"    # in ~/.bashrc
    eval "$(barnum completion zsh)"     # in ~/.zshrc (after compinit)
"""

from __future__ import annotations

import argparse
import sys

NEEDS_CONTEXT = False  # prints shell code: no users file, no hosts


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=("bash", "zsh"), help="the shell to load it into")


def run(args: argparse.Namespace, ctx: object) -> int:
    from barnum.cli.completion import shellcode

    sys.stdout.write(shellcode(args.shell))
    return 0
