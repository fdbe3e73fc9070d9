"""bailey.drift's facts on this machine's real files and processes, and barnum.spec.drift's
pure comparison over reports."""

import os
import time

from bailey.drift import annotate, owner_name, process_start_us
from bailey.report import INACTIVE, OK, UNIT_FAILED, Instance, Report
from barnum.model.discovery import Discovery
from barnum.model.results import FleetResult, HostResult
from barnum.model.validate import report_from_document
from barnum.spec.drift import failed_units, find_drift


def test_process_start_us_of_this_process_and_a_child():
    import subprocess

    before = time.time()
    child = subprocess.Popen(["sleep", "5"])
    try:
        started = process_start_us(child.pid) / 1e6
        assert before - 0.05 <= started <= time.time() + 0.05
        assert process_start_us(os.getpid()) / 1e6 < started
    finally:
        child.kill()
        child.wait()
    assert process_start_us(0) == 0
    assert process_start_us(2**22 + 12345) == 0  # no such process


def test_annotate_real_files(tmp_path):
    ini = tmp_path / "circus" / "host1" / "circus.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text("[circus]\n")
    os.utime(ini, (1_700_000_000, 1_700_000_000))
    rep = Report("host1", "x", ["status"], instances=[
        Instance("circus_a_host1.service", "a", "User=", "enabled", "active", "running",
                 main_pid=os.getpid(), config=str(ini)),
        Instance("circus_b_host1.service", "b", "User=", "disabled", "inactive", "dead"),
    ])
    annotate(rep, lambda user: str(tmp_path / user / "circus.ini"))
    a, b = rep.instances
    assert (a.config_state, a.config_mtime_us) == ("ok", 1_700_000_000_000_000)
    assert a.config_owner == owner_name(os.getuid())
    assert a.circusd_started_us > 0
    assert (b.config_file, b.config_state) == (str(tmp_path / "b" / "circus.ini"), "missing")
    # and the document barnum validates carries them
    back = report_from_document(rep.to_dict())
    assert back.instances[0].config_mtime_us == 1_700_000_000_000_000
    assert back.instances[1].config_state == "missing"


def inst(user, active="active", state=OK, **kw):
    return Instance(f"circus_{user}_h.service", user, "User=", "enabled", active, "running",
                    state=state, fragment_path=f"/etc/systemd/system/circus_{user}_h.service",
                    **kw)


def test_find_drift_each_kind():
    d = Discovery(hosts={"h": ["a", "b", "c"]}, configs={
        ("a", "h"): "/u/a/circus/h/circus.ini", ("b", "h"): "/u/b/circus/h/circus.ini",
        ("c", "h"): "/u/c/circus/h/circus.ini"})
    rep = Report("h", "x", ["status"], instances=[
        inst("a", config_file="/u/a/circus/h/circus.ini", config_state="ok",
             config_owner="b", config_mtime_us=2_000_000, circusd_started_us=1_000_000),
        inst("b", config_file="/u/b/circus/h/circus.ini", config_state="ok", config_owner="b",
             config_mtime_us=1_000_000, circusd_started_us=2_000_000),
        inst("d", active="failed", state=UNIT_FAILED, error="unit failed",
             config_file="/u/d/circus/h/circus.ini", config_state="missing"),
        inst("e", active="inactive", state=INACTIVE, config_file="/u/e/circus/h/circus.ini",
             config_state="ok", config_owner="e", config_mtime_us=9_000_000),
    ])
    r = FleetResult([HostResult("h", [], [], report=rep),
                     HostResult("g", [], [], error="timed out after 3s")])
    drift = find_drift(r, d, {("h", "circus_d_h.service"): ["x failed", "\x1b[2Jboom"]})
    got = sorted((f.kind, f.host, f.user) for f in drift.findings)
    assert got == [("config-changed", "h", "a"), ("config-without-unit", "h", "c"),
                   ("host-unknown", "g", None), ("owner-mismatch", "h", "a"),
                   ("unit-failed", "h", "d"), ("unit-without-config", "h", "d")]
    assert drift.exit_code == 3
    failed = next(f for f in drift.findings if f.kind == "unit-failed")
    assert failed.journal == ["x failed", "\\e[2Jboom"]  # clean: no escape reaches a screen
    assert failed_units(r) == [("h", "circus_d_h.service")]
    orphan = next(f for f in drift.findings if f.kind == "config-without-unit")
    assert orphan.fix[1] == "or, if it is dead: rm -r /u/c/circus/h (as c; barnum deletes nothing)"
    lines = failed.lines()
    assert lines[0] == "h d: unit failed (systemd: failed/running)"
    assert lines[1] == "    | x failed"


def test_no_drift_is_exit_0():
    d = Discovery(hosts={"h": ["b"]}, configs={("b", "h"): "/u/b/circus/h/circus.ini"})
    rep = Report("h", "x", ["status"], instances=[inst(
        "b", config_file="/u/b/circus/h/circus.ini", config_state="ok", config_owner="b",
        config_mtime_us=1, circusd_started_us=2)])
    assert find_drift(FleetResult([HostResult("h", [], [], report=rep)]), d).exit_code == 0
