"""``barnum drift`` on the real fleet: the staged cases (a config folder with no unit, a
unit with no config, failed units, an ini changed after circusd started) plus two staged
here (a folder owned by another user, a touched circus.ini); the findings must be exactly
what the truth read on the hosts (systemctl, stat, journalctl through nsenter) gives."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.e2e.subcommand import run_sub
from tests.e2e.test_barnum_e2e import truth_units

pytestmark = pytest.mark.fleet


def on(fleet, host, *argv):
    p = fleet.exec(host, list(argv))
    assert p.returncode == 0, (host, argv, p.stderr)
    return p.stdout.strip()


def _epoch(stamp: str) -> float:
    """Seconds since the epoch from systemctl's ``--timestamp=us+utc`` form
    ("Sun 2026-12-06 17:24:49.123456 UTC")."""
    from datetime import datetime

    day, clock = stamp.split()[1:3]
    return datetime.fromisoformat(f"{day}T{clock}+00:00").timestamp()


def truth_findings(fleet) -> set[tuple[str, str, str]]:
    """(kind, host, user) from systemd and the files, as seen on each host."""
    out = set()
    for h in fleet.layout:
        host = h.name
        units = truth_units(fleet, host)
        by_user = {u.split("_")[1]: props for u, props in units.items()}
        for user in fleet.users:
            ini = fleet.homes / user / "circus" / host / "circus.ini"
            exists = on(fleet, host, "sh", "-c", f"test -e '{ini}' && echo y || echo n") == "y"
            props = by_user.get(user)
            if exists and props is None:
                out.add(("config-without-unit", host, user))
            if props is None:
                continue
            if not exists:
                out.add(("unit-without-config", host, user))
            if props["ActiveState"] == "failed":
                out.add(("unit-failed", host, user))
            if exists:
                owner = on(fleet, host, "stat", "-c", "%U", str(ini.parent))
                if owner != props["User"]:
                    out.add(("owner-mismatch", host, user))
            if exists and props["ActiveState"] == "active":
                # To the µs, as bailey compares: host4's malformed ini is written
                # within the second its circusd started on a fast machine.
                mtime = float(on(fleet, host, "stat", "-c", "%.6Y", str(ini)))
                unit = f"circus_{user}_{host}.service"
                started = on(fleet, host, "systemctl", "show", "--timestamp=us+utc", "-p",
                             "ExecMainStartTimestamp", "--value", unit)
                if mtime > _epoch(started):
                    out.add(("config-changed", host, user))
    return out


@pytest.fixture
def staged(fleet):
    """user1@host2's folder owned by user2; user1@host1's circus.ini touched now."""
    folder = fleet.homes / "user1" / "circus" / "host2"
    ini = fleet.homes / "user1" / "circus" / "host1" / "circus.ini"
    st_folder, st_ini = folder.stat(), ini.stat()
    os.chown(folder, fleet.uid("user2"), fleet.uid("user2"))
    time.sleep(1.1)  # a whole second after anything the boot did
    os.utime(ini)
    yield
    os.chown(folder, st_folder.st_uid, st_folder.st_gid)
    os.utime(ini, ns=(st_ini.st_atime_ns, st_ini.st_mtime_ns))


def test_drift_findings_are_the_truth(fleet, staged):
    truth = truth_findings(fleet)
    assert {("owner-mismatch", "host2", "user1"), ("config-changed", "host1", "user1"),
            ("config-without-unit", "host4", "user3"), ("unit-without-config", "host4", "user2"),
            ("unit-failed", "host3", "user3")} <= truth  # the staging worked
    p = run_sub(fleet, fleet.users_file, "drift", "--json")
    doc = json.loads(p.stdout)
    assert p.returncode == 1 == doc["exit"], p.stderr
    got = {(f["kind"], f["host"], f["user"]) for f in doc["findings"]}
    assert got == truth

    failed = next(f for f in doc["findings"] if (f["kind"], f["host"], f["user"])
                  == ("unit-failed", "host3", "user3"))
    journal = fleet.exec("host3", ["journalctl", "--no-pager", "-o", "cat", "-n", "5", "-u",
                                   "circus_user3_host3.service"]).stdout.splitlines()
    assert len(journal) == 5
    assert [ln[len("2026-12-01 08:01:43 "):] for ln in failed["journal"]] == journal
    assert any("barnum unit reset-failed user3@host3" in x for x in failed["fix"])
    changed = next(f for f in doc["findings"] if f["kind"] == "config-changed"
                   and f["host"] == "host1")
    assert "barnum user1@host1 -- -- reloadconfig" in changed["fix"]


def test_drift_changes_nothing_and_prints_the_fixes(fleet):
    orphan = fleet.homes / "user3" / "circus" / "host4" / "circus.ini"
    before = truth_units(fleet, "host3")["circus_user3_host3.service"]["ActiveState"]
    p = run_sub(fleet, fleet.users_file, "drift", "host3", "host4")
    assert p.returncode == 1, p.stderr
    assert "host4 user3: config folder with no unit" in p.stdout
    assert f"fix: or, if it is dead: rm -r {orphan.parent} (as user3; barnum deletes nothing)" \
        in p.stdout
    assert "host3 user3: unit failed" in p.stdout
    assert "nothing was changed" in p.stdout
    assert orphan.exists()
    assert truth_units(fleet, "host3")["circus_user3_host3.service"]["ActiveState"] == before
