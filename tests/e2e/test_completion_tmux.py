"""TAB completion of ``barnum`` in a real bash and a real zsh (tmux), on the real fleet.

The shell loads ``barnum completion bash|zsh``; keys go in with send-keys and
the screen comes back with capture-pane.  The targets offered must be what
discovery finds in the fleet's users' trees (user2 has no circus.ini for
host4, so ``user2@host4`` is never offered), and the subcommands those of
the registry.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import time
from pathlib import Path

import pytest

from barnum.cli.parser import SUBCOMMANDS
from tests.e2e.tmux import lines_of, tmux  # noqa: F401 (fixture)

pytestmark = [pytest.mark.fleet,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

BIN = Path(sys.executable).parent  # where the barnum console script is


def _shell(tmux, fleet, argv: list[str], setup: list[str],  # noqa: F811
           extra: dict[str, str] | None = None):
    if not (BIN / "barnum").exists():
        pytest.skip("no barnum console script beside this python")
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "BARNUM_CONFIG": str(fleet.users_file),
           "HOME": os.environ.get("HOME", "/root"), "TERM": "xterm", "BARNUM_PERSIST": "0",
           **(extra or {})}
    term = tmux("completion")
    term.start(shlex.join(["env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv]),
               150, 40)
    for line in setup:
        term.type(line)
        term.keys("Enter")
    # the output line, not the typed command: the completion code is loaded
    term.wait(lambda s: "ready" in (ln.strip() for ln in s.splitlines()), what="ready")

    def tab(typed: str, pred, tabs: int = 1, attempts: int = 3) -> str:
        """Type, press TAB, and wait (a completion runs a Python process) until ``pred``."""
        line = f"$ {typed}".rstrip()
        screen = ""
        for attempt in range(attempts):
            # a TAB pressed while the last one still runs may be lost: retry, slower
            term.keys("C-u", "C-l")
            try:
                term.wait(lambda s: s.strip() == "$", 10)
                term.type(typed)
                term.wait(lambda s: s.strip() == line, 10)
            except AssertionError:
                continue
            for i in range(tabs):
                if i:
                    time.sleep(0.5 * (attempt + 1))  # pacing between TABs, checked by pred
                term.keys("Tab")
            try:
                return term.wait(pred, 20)
            except AssertionError:
                screen = term.screen()
        return screen

    def tab_then_mark(typed: str, tabs: int) -> str:
        """The screen once every TAB has been answered: a key typed after them shows."""
        term.keys("C-u", "C-l")
        term.wait(lambda s: s.strip() == "$", 10)
        term.type(typed)
        term.wait(lambda s: s.strip() == f"$ {typed}".rstrip(), 10)
        for _ in range(tabs):
            term.keys("Tab")
        term.type("Z")

        def marked(s: str) -> bool:
            last = lines_of(s)[-1]
            return last.startswith(f"$ {typed}") and last.endswith("Z")
        return term.wait(marked, what=f"{typed!r} + TABs + Z")

    return tab, tab_then_mark


def _check(tab, tab_then_mark):
    # each wait is for the whole condition: a list may be caught half printed
    s = tab("barnum stats --so", lambda s: "$ barnum stats --sort" in s.splitlines())
    assert "$ barnum stats --sort" in s.splitlines(), s
    s = tab("barnum stats --sort ", lambda s: all(w in s for w in ("cpu", "mem", "name")),
            tabs=2)
    assert all(w in s for w in ("cpu", "mem", "name")), s
    s = tab("barnum --ssh-c", lambda s: "$ barnum --ssh-config" in s.splitlines())
    assert "$ barnum --ssh-config" in s.splitlines(), s
    # bash breaks words at "@": the first TAB must keep it (user2@host, not user2host)
    s = tab("barnum user2@", lambda s: "$ barnum user2@host" in s.splitlines())
    assert "$ barnum user2@host" in s.splitlines(), s
    s = tab("barnum user2@host", lambda s: all(f"@host{i}" in s for i in (1, 2, 3)), tabs=2)
    assert all(f"@host{i}" in s for i in (1, 2, 3)), s
    assert "@host4" not in s, s  # no circus.ini for user2 on host4
    s = tab("barnum -t user3@host", lambda s: "@host3" in s and "@host4" in s, tabs=2)
    assert "@host3" in s and "@host4" in s and "@host1" not in s, s
    s = tab("barnum logs host", lambda s: all(f"host{i}" in s for i in (1, 2, 3, 4)), tabs=2)
    assert all(f"host{i}" in s for i in (1, 2, 3, 4)), s
    # every registered subcommand, from the registry, offered for the first word
    s = tab("barnum ", lambda s: all(c in s for c in SUBCOMMANDS), tabs=2)
    assert all(c in s for c in SUBCOMMANDS), s
    # common options before the subcommand: its own options and the subcommands still come
    s = tab("barnum --timeout 5 stats --so", lambda s: "barnum --timeout 5 stats --sort" in s)
    assert "$ barnum --timeout 5 stats --sort" in s.splitlines(), s
    s = tab("barnum --timeout 5 ", lambda s: all(c in s for c in SUBCOMMANDS), tabs=2)
    assert all(c in s for c in SUBCOMMANDS) and "host1" in s, s
    s = tab_then_mark("barnum -- ", tabs=2)
    assert "user1@host1" not in s, s  # after --: bailey's arguments, not targets


def test_bash_completes_options_subcommands_and_discovered_targets(fleet, tmux):  # noqa: F811
    _check(*_shell(tmux, fleet, ["bash", "--norc", "--noprofile"],
                 ["PS1='$ '", 'eval "$(barnum completion bash)"', "echo ready"]))


def test_completion_is_served_by_the_warm_session(fleet, tmux, tmp_path):  # noqa: F811
    """The first TAB starts the session; the same answers then come from it."""
    import json
    import subprocess
    import tempfile

    from tests.waiting import until

    run_dir = tempfile.mkdtemp(prefix="bwc", dir="/tmp")
    extra = {"BARNUM_PERSIST": "10m", "XDG_RUNTIME_DIR": run_dir}
    env = {**os.environ, **extra, "BARNUM_CONFIG": str(fleet.users_file)}

    def status() -> dict | None:
        r = subprocess.run([str(BIN / "barnum"), "session", "status", "--json"], env=env,
                           capture_output=True, text=True, timeout=60)
        return json.loads(r.stdout) if r.returncode == 0 else None
    tab, tab_then_mark = _shell(tmux, fleet, ["bash", "--norc", "--noprofile"],
                                ["PS1='$ '", 'eval "$(barnum completion bash)"',
                                 "echo ready"], extra)
    try:
        tab("barnum user2@", lambda s: "$ barnum user2@host" in s.splitlines())
        assert until(status, 60, 0.5), "no session started by the first TAB"
        before = status()["served"]  # type: ignore[index]
        _check(tab, tab_then_mark)
        assert status()["served"] > before  # type: ignore[index]
    finally:
        subprocess.run([str(BIN / "barnum"), "session", "stop"], env=env, capture_output=True,
                       timeout=60)
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.mark.skipif(shutil.which("zsh") is None, reason="needs zsh")
def test_zsh_completes_the_same(fleet, tmux):  # noqa: F811
    _check(*_shell(tmux, fleet, ["zsh", "-f"],
                 ["PS1='$ '", "autoload -Uz compinit && compinit -u",
                  'eval "$(barnum completion zsh)"', "echo ready"]))
