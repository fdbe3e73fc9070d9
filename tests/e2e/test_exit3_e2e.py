"""Exit 3 (a host could not tell) always says on stderr which host, and why.

``barnum check`` used to print its unknowns on stdout only: a caller reading
stderr (the bench, a cron mail, ``--json`` parsed by a script) saw exit 3 and
nothing else.  Here a real host's sshd hangs (SIGSTOP), and every command
that can exit 3 for it is run, in text and JSON forms.
"""

from __future__ import annotations

import pytest

from tests.e2e.subcommand import run_sub
from tests.e2e.test_barnum_e2e import run_barnum

pytestmark = pytest.mark.fleet

EXPECT = "expect:\n  host1: {user1: [sleeper, ticker]}\n  host2: {user1: [sleeper, ticker]}\n"


def test_exit_3_names_the_host_and_the_reason_on_stderr(fleet, tmp_path):
    cfg = tmp_path / "circus_users.yaml"
    cfg.write_text(fleet.users_file.read_text() + EXPECT)
    t = ["--timeout", "3"]
    with fleet.sshd_hang("host1"):
        runs = {
            "check": run_sub(fleet, cfg, "check", *t, "host1", "host2"),
            "check --json": run_sub(fleet, cfg, "check", "--json", *t, "host1", "host2"),
            "drift --json": run_sub(fleet, cfg, "drift", "--json", *t, "host1", "host2"),
            "one-shot --json": run_barnum(fleet, "--json", *t, "host1", "host2", config=cfg),
        }
    for name, p in runs.items():
        assert p.returncode == 3, (name, p.returncode, p.stderr)
        said = [ln for ln in p.stderr.splitlines() if ln.startswith("barnum: host1: ")]
        assert said, (name, p.stderr)
        # the reason: what the connection did (TCP accepted, no SSH banner)
        assert any("accepts TCP" in ln and "SSH" in ln for ln in said), (name, said)
        assert not any(ln.startswith("barnum: host2: ") for ln in p.stderr.splitlines()), (
            name, p.stderr)  # host2 answered
