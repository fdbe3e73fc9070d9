"""The fleet's accounts win inside its hosts, whatever accounts the machine has.

A machine that already has a ``user1`` (another uid, another home) and an
account holding a fleet uid under another name is made for real, in a
private mount namespace (the machine's own /etc/passwd stays untouched for
the other fleets on it): there /etc/passwd, group and shadow are copies with
those accounts added, then a fleet boots, and barnum, bailey and the hosts'
own tools must see the fleet's accounts only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import _cannot_host, _unavailable

pytestmark = pytest.mark.fleet

NAME = os.environ.get("BARNUM_TEST_FLEET", "bt")[:4] + "acct"
CHECKOUT = Path(__file__).resolve().parents[2]

# Runs as root in its own mount namespace; prints one JSON document.
SCRIPT = textwrap.dedent("""
    import json, os, subprocess, sys, tempfile
    from pathlib import Path
    from tests.fleet import Fleet, HostSpec, UnitSpec
    from tests.fleet.fleet import FIRST_UID

    name = sys.argv[1]
    layout = [HostSpec("host1", [UnitSpec("user1"), UnitSpec("user2")])]
    fleet = Fleet(name, layout)
    user2_uid = fleet.uid("user2")
    tmp = Path(tempfile.mkdtemp(prefix="barnum-accounts-"))
    extra = {
        "passwd": ["user1:x:4321:4321:machine user1:/home/user1-machine:/bin/sh",
                   f"mallory:x:{user2_uid}:{user2_uid}:holds a fleet uid:/home/mallory:/bin/sh"],
        "group": ["user1:x:4321:", f"mallory:x:{user2_uid}:", "staff2:x:4999:user1"],
        "shadow": ["user1:*:19000:0:99999:7:::", "mallory:*:19000:0:99999:7:::"],
    }
    for f, lines in extra.items():
        copy = tmp / f
        copy.write_text(Path("/etc", f).read_text() + "".join(l + "\\n" for l in lines))
        subprocess.run(["mount", "--bind", str(copy), f"/etc/{f}"], check=True)
    import pwd
    out = {"machine_user1_home": pwd.getpwnam("user1").pw_dir}
    try:
        fleet.up()
        out["fleet_home"] = str(fleet.homes / "user1")
        out["uids"] = {"user1": fleet.uid("user1"), "user2": user2_uid}
        out["getent_user1"] = fleet.ssh("host1", ["getent", "passwd", "user1"]).stdout
        out["getent_uid2"] = fleet.ssh("host1", ["getent", "passwd", str(user2_uid)]).stdout
        out["id_user1"] = fleet.ssh("host1", ["id", "user1"]).stdout
        pid = fleet.main_pid("host1", "circus_user1_host1.service")
        out["circusd_uid"] = fleet.exec("host1", ["stat", "-c", "%u", f"/proc/{pid}"]).stdout
        bailey = fleet.ssh("host1", ["bailey", "--json"])
        out["bailey_exit"] = bailey.returncode
        out["bailey"] = json.loads(bailey.stdout or "null")
        barnum = subprocess.run(
            [sys.executable, "-m", "barnum", "--config", str(fleet.users_file), "--json"],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        out["barnum_exit"] = barnum.returncode
        out["barnum_stderr"] = barnum.stderr
    finally:
        fleet.down()
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)  # the bind mounts die with this namespace
    print(json.dumps(out))
""")


def test_fleet_accounts_win_over_the_machines():
    reason = _cannot_host()
    if reason:
        _unavailable(reason)
    from tests.fleet import Fleet

    try:
        p = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--",
             sys.executable, "-c", SCRIPT, NAME],
            capture_output=True, text=True, timeout=300, cwd=CHECKOUT,
            stdin=subprocess.DEVNULL)
    finally:
        Fleet.load(NAME).down()  # whatever a crash inside left (found by its cgroups)
    assert p.returncode == 0, p.stderr[-3000:]
    out = json.loads(p.stdout.splitlines()[-1])
    assert out["machine_user1_home"] == "/home/user1-machine"  # the collision is real
    uid1 = out["uids"]["user1"]
    assert out["getent_user1"].split(":")[2] == str(uid1)
    assert out["getent_user1"].split(":")[5] == out["fleet_home"]
    assert out["getent_uid2"].split(":")[:3] == ["user2", "x", str(out["uids"]["user2"])]
    assert "staff2" not in out["id_user1"]  # the machine's user1's groups are not the fleet's
    assert out["circusd_uid"].strip() == str(uid1)
    doc = out["bailey"]
    assert out["bailey_exit"] == 0, doc
    by_user = {i["user"]: i for i in doc["instances"]}
    assert by_user["user1"]["config"] == f"{out['fleet_home']}/circus/host1/circus.ini"
    assert {u: i["state"] for u, i in by_user.items()} == {"user1": "ok", "user2": "ok"}
    assert out["barnum_exit"] == 0, out["barnum_stderr"]
