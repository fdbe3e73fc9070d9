"""Running ``barnum COMMAND`` as the operator would, with a users file of the test's own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.e2e.test_barnum_e2e import HARD_LIMIT, barnum_cmd


def run_sub(fleet, config: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    """``barnum NAME --config CONFIG --ssh-config ... ARGS``: the command is the first word."""
    cmd = [*barnum_cmd(), name, "--config", str(config), "--ssh-config",
           str(fleet.ssh_config), *args]
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=HARD_LIMIT, env=env,
                          stdin=subprocess.DEVNULL)
