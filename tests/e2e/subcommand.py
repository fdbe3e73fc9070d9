"""Running ``barnum COMMAND`` as the operator would, with a users file of the test's own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from barnum.cli.parser import REFUSED
from tests.e2e.test_barnum_e2e import HARD_LIMIT, barnum_cmd


def run_sub(fleet, config: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    """``barnum NAME --config CONFIG --ssh-config ... ARGS``: the command is the first word
    (no ``--ssh-config`` for a command that contacts no host and so refuses it)."""
    reach = [] if "ssh_config" in REFUSED.get(name, (frozenset(), ""))[0] else \
        ["--ssh-config", str(fleet.ssh_config)]
    cmd = [*barnum_cmd(), name, "--config", str(config), *reach, *args]
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=HARD_LIMIT, env=env,
                          stdin=subprocess.DEVNULL)
