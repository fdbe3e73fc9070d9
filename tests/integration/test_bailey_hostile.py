"""A hostile circus user against bailey, on real hosts (issue: hostile input, classes 4-5).

The user controls only their own ``~/circus`` tree.  Each test changes
user1's circus.ini on host1 the way such a user could, runs bailey there
through real SSH as the operator, checks the answer against the host, and
puts the file back.
"""

from __future__ import annotations

import contextlib
import json
import os
import time

import pytest

from tests.fleet.fleet import OPERATOR
from tests.integration.test_bailey import run, spec

pytestmark = pytest.mark.fleet

HOST, USER = "host1", "user1"
SECRET = "operator-only-5e2c9"


def _ini(fleet):
    return fleet.homes / USER / "circus" / HOST / "circus.ini"


@contextlib.contextmanager
def _staged(fleet):
    """Keep user1's circus.ini and give it back afterwards, whatever the test made of it."""
    ini = _ini(fleet)
    saved = ini.read_bytes()
    st = ini.stat()
    try:
        yield ini
    finally:
        if ini.is_symlink() or not ini.is_file():
            ini.unlink()
        ini.write_bytes(saved)
        os.chown(ini, st.st_uid, st.st_gid)


def _bailey(fleet, *args):
    t0 = time.monotonic()
    p = run(fleet, HOST, "--json", USER, *args, timeout=60)
    took = time.monotonic() - t0
    doc = json.loads(p.stdout)
    (inst,) = doc["instances"]
    return p, inst, took


def _no_bailey_left(fleet):
    ps = fleet.exec(HOST, ["pgrep", "-f", "bailey"])
    assert ps.stdout.strip() == "", f"bailey processes left on {HOST}: {ps.stdout}"


def test_fifo_config_does_not_hang(fleet):
    assert spec(fleet, HOST).units
    with _staged(fleet) as ini:
        ini.unlink()
        os.mkfifo(ini)
        _, inst, took = _bailey(fleet)
    assert took < 20
    assert inst["state"] == "error"
    assert inst["error"] == f"{ini}: not a regular file (not read)"
    _no_bailey_left(fleet)


def test_dev_zero_config_is_refused(fleet):
    with _staged(fleet) as ini:
        ini.unlink()
        ini.symlink_to("/dev/zero")
        _, inst, took = _bailey(fleet)
    assert took < 20
    assert inst["error"] == f"{ini}: not a regular file (not read)"


def test_include_of_an_operator_only_file_reveals_nothing(fleet, tmp_path):
    op_home = fleet.homes / OPERATOR
    secret = op_home / "secret.ini" if op_home.is_dir() else fleet.homes / "secret.ini"
    secret.write_text(f"{SECRET}\n[circus]\nendpoint = tcp://{SECRET}:1\n")
    uid = fleet.uid(OPERATOR)
    os.chown(secret, uid, uid)
    secret.chmod(0o600)
    try:
        with _staged(fleet) as ini:
            text = ini.read_text().replace("[circus]\n", f"[circus]\ninclude = {secret}\n", 1)
            ini.write_text(text)
            p, inst, _ = _bailey(fleet, "--verbose")
    finally:
        secret.unlink()
    assert SECRET not in p.stdout + p.stderr
    assert inst["state"] == "ok", inst["error"]  # circusd, as user1, could not read it either
    assert any("not readable by the circus user" in n for n in inst["notes"])


def test_endpoint_from_the_units_home_not_the_operators(fleet):
    """``ipc://$(circus.env.HOME)/...``: HOME is user1's (User=), not the operator's."""
    unit = f"circus_{USER}_{HOST}.service"
    with _staged(fleet) as ini:
        sock = f"circus-{HOST}.sock"
        lines = ini.read_text().splitlines()
        lines = [f"endpoint = ipc://$(circus.env.HOME)/{sock}" if ln.startswith("endpoint")
                 else ln for ln in lines]
        ini.write_text("\n".join(lines) + "\n")
        try:
            fleet.exec(HOST, ["systemctl", "restart", unit])
            path = fleet.homes / USER / sock
            deadline = time.monotonic() + 20
            while not path.exists() and time.monotonic() < deadline:
                time.sleep(0.3)
            assert path.is_socket()  # where circusd, with the unit's HOME, made it
            _, inst, _ = _bailey(fleet)
            assert inst["endpoint"] == f"ipc://{path}"  # the same HOME, not the operator's
            # The socket is circusd's (mode 0755 under its umask): the operator may not
            # write to it, which is the one thing left to say; before the fix bailey
            # looked under the operator's HOME and found no socket at all.
            assert inst["state"] == "ok" or "Permission denied" in inst["error"], inst["error"]
        finally:
            ini.write_bytes(b"")  # _staged restores it; restart only after that
    fleet.exec(HOST, ["systemctl", "restart", unit])
    (fleet.homes / USER / sock).unlink(missing_ok=True)
    assert _until_ok(fleet)["state"] == "ok"


def _until_ok(fleet, within: float = 20) -> dict:
    deadline = time.monotonic() + within
    while True:
        _, inst, _ = _bailey(fleet)
        if inst["state"] == "ok" or time.monotonic() > deadline:
            return inst
        time.sleep(0.5)
