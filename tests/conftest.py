"""The session's fleet of real hosts, for tests marked ``fleet``.

Where the machine cannot host a fleet (not root, no systemd, no iproute2 or
sshd) those tests skip with the reason; with BARNUM_REQUIRE_FLEET=1 (CI) they
fail instead.  A canary in the real /tmp proves no host wiped it.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

# The suite runs cold: a test that means the warm session turns it on (tests/e2e/test_warm_e2e.py).
os.environ.setdefault("BARNUM_PERSIST", "0")

# A suite started in the background by a non-interactive shell (`.ci/run &`, a CI
# runner) has SIGINT ignored, and every program it starts would inherit that: the
# tests that press Ctrl-C at barnum (SIGINT) would see it ignored.  A handler of ours
# is reset to the default at exec, so the programs under test get SIGINT as a
# terminal gives it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _cannot_host() -> str | None:
    if os.geteuid() != 0:
        return "the test fleet needs root"
    for path in ("/lib/systemd/systemd", "/usr/sbin/sshd", "/usr/bin/dbus-daemon"):
        if not os.path.exists(path):
            return f"the test fleet needs {path}"
    for tool in ("ip", "unshare", "nsenter", "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"the test fleet needs {tool}"
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("BARNUM_REQUIRE_FLEET") == "1":
        pytest.fail(f"BARNUM_REQUIRE_FLEET=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _own_state_home(tmp_path_factory):
    """barnum's state (the history a one-shot action writes, the shell's history) goes
    to a folder of this test run, never to the account's ~/.local/state; a test that
    needs its own sets XDG_STATE_HOME itself."""
    old = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("xdg-state"))
    yield
    if old is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = old


@pytest.fixture(scope="session")
def fleet():
    """The test layout's fleet, booted once per session and removed after."""
    reason = _cannot_host()
    if reason:
        _unavailable(reason)
    from tests.fleet import Fleet, test_layout

    fd, canary = tempfile.mkstemp(prefix="barnum-canary-", dir="/tmp")
    os.close(fd)
    f = Fleet(os.environ.get("BARNUM_TEST_FLEET", "bt"), test_layout())
    try:
        f.up()
    except Exception as e:
        Path(canary).unlink(missing_ok=True)
        _unavailable(f"the test fleet did not boot: {e}")
    try:
        yield f
    finally:
        f.down()
        assert Path(canary).exists(), "a fleet host emptied the machine's /tmp"
        Path(canary).unlink()
