"""inspect_host end to end with real circusd processes, without systemd.

systemd is NOT under test here (tests/integration/test_bailey.py runs bailey
on real systemd hosts): a stand-in ``systemctl`` script prints listing and
``show`` text in systemctl's format, describing units whose circusds are real
processes started by the test.  What is under test is bailey: reading each
user's circus.ini, deriving endpoints (relative ipc against
WorkingDirectory), choosing native vs circusctl, running all instances at
once, the per-instance states and errors, and the report.
"""

from __future__ import annotations

import json
import sys
import time

import pytest
from test_bailey_support import CIRCUSCTL, Circusd, free_port

from bailey.host import Options, inspect_host
from bailey.render import error_lines, render_human
from bailey.report import ERROR, INACTIVE, OK, PLANNED, UNIT_FAILED, Report

HOST = "h1"

STANDIN = r'''#!{python}
import json, sys
spec = json.load(open({spec!r}))
args = sys.argv[1:]
if args[0] == "list-unit-files":
    sys.stdout.write("".join(f"{{u}}  {{s}}  enabled\n" for u, s in spec["files"]))
elif args[0] == "show":
    names = args[args.index("-p") + 2:]
    sys.stdout.write("\n".join(
        "".join(f"{{k}}={{v}}\n" for k, v in spec["show"][n].items()) for n in names))
else:
    sys.exit(2)
'''


def _unit(name, user, active, sub, workdir="", file_state="enabled"):
    return name, file_state, {
        "Id": name, "User": user, "UnitFileState": file_state, "ActiveState": active,
        "SubState": sub, "FragmentPath": f"/etc/systemd/system/{name}",
        "MainPID": "0", "NRestarts": "0", "WorkingDirectory": workdir}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Homes with circus.ini files, real circusds, and the systemctl stand-in."""
    root = tmp_path_factory.mktemp("site")
    conf = lambda user: root / user / "circus" / HOST  # noqa: E731
    d1 = Circusd(conf("user1"), name="circus")
    try:
        d2 = Circusd(conf("user2"), endpoint="ipc://run/c.sock", name="circus")
    except BaseException:
        d1.stop()
        raise
    # user6's circus.ini names a port nothing listens on
    conf("user6").mkdir(parents=True)
    (conf("user6") / "circus.ini").write_text(
        f"[circus]\nendpoint = tcp://0.0.0.0:{free_port()}\n")
    conf("user9").mkdir(parents=True)
    (conf("user9") / "circus.ini").write_text(
        f"[circus]\nendpoint = ipc://{root}/nothing-here.sock\n")
    (conf("user8") / "").mkdir(parents=True)
    (conf("user8") / "circus.ini").write_text("[circus]\nendpoint tcp\n")
    units = [
        _unit("circus_user1_h1.service", "user1", "active", "running"),
        _unit("circus_user2_h1.service", "user2", "active", "running", workdir=str(conf("user2"))),
        _unit("circus_user3_h1.service", "user3", "inactive", "dead", file_state="disabled"),
        _unit("circus_user4_h1.service", "user4", "failed", "failed"),
        _unit("circus_user5_h1.service", "user5", "active", "running"),
        _unit("circus_user6_h1.service", "user6", "active", "running"),
        _unit("circus_user7_h1x.service", "", "inactive", "dead"),
        _unit("circus_user8_h1.service", "user8", "active", "running"),
        _unit("circus_user9_h1.service", "user9", "active", "running"),
    ]
    spec = root / "spec.json"
    spec.write_text(json.dumps({"files": [(n, s) for n, s, _ in units],
                                "show": {n: p for n, _, p in units}}))
    standin = root / "systemctl"
    standin.write_text(STANDIN.format(python=sys.executable, spec=str(spec)))
    standin.chmod(0o755)
    yield {"root": root, "systemctl": str(standin), "d1": d1, "d2": d2}
    d1.stop()
    d2.stop()


def opts(site, **kw) -> Options:
    base = dict(systemctl=site["systemctl"], hostname=HOST, timeout=1,
                config_template=str(site["root"] / "{user}/circus/{host}/circus.ini"),
                circusctl=CIRCUSCTL)
    base.update(kw)
    return Options(**base)


def by_unit(report: Report):
    return {i.unit: i for i in report.instances}


def test_every_unit_gets_its_state(site):
    r = by_unit(inspect_host(None, None, opts(site)))
    assert r["circus_user1_h1.service"].state == OK
    assert r["circus_user1_h1.service"].watchers == {"sleeper": "active", "ticker": "stopped"}
    assert r["circus_user1_h1.service"].via == "native"
    u2 = r["circus_user2_h1.service"]
    assert u2.state == OK and u2.endpoint == f"ipc://{site['d2'].folder}/run/c.sock"
    assert r["circus_user3_h1.service"].state == INACTIVE
    assert r["circus_user3_h1.service"].argv == [] and r["circus_user3_h1.service"].exit is None
    u4 = r["circus_user4_h1.service"]
    assert u4.state == UNIT_FAILED and u4.exit is None and "circus.ini: no such file" in u4.error
    assert r["circus_user5_h1.service"].state == ERROR
    assert "no such file" in r["circus_user5_h1.service"].error
    u6 = r["circus_user6_h1.service"]
    assert u6.state == ERROR and u6.exit == 1 and "did not answer" in u6.error
    assert u6.endpoint.startswith("tcp://127.0.0.1:")  # 0.0.0.0 made connectable
    fallback = r["circus_user7_h1x.service"]
    assert (fallback.user, fallback.user_source) == ("user7", "unit name")
    u8 = r["circus_user8_h1.service"]
    assert u8.state == ERROR and u8.error.endswith("circus.ini:2: not 'key = value' nor "
                                                   "[section]")
    assert "endpoint tcp" not in u8.error  # the file's content is never echoed


def test_report_exit_and_one_line_errors(site):
    report = inspect_host(None, None, opts(site))
    assert report.exit == 1
    lines = error_lines(report)
    assert {line.split(": ")[1] for line in lines} == {
        "circus_user4_h1.service", "circus_user5_h1.service", "circus_user6_h1.service",
        "circus_user8_h1.service", "circus_user9_h1.service"}
    assert all("\n" not in line for line in lines)


def test_instances_run_concurrently(site):
    # user6 (tcp) and user9 (ipc) each time out after 3 s: one after the
    # other would take at least 6 s, side by side about 3 s.  The margin is
    # wide so a loaded machine cannot fail it; serial would still fail it.
    start = time.monotonic()
    report = inspect_host(["user6", "user9", "user1"], ["status"], opts(site, timeout=3))
    assert time.monotonic() - start < 5.5
    assert [i.exit for i in report.instances] == [0, 1, 1]


def test_native_and_circusctl_agree(site):
    users = ["user1", "user2", "user6"]
    # circusctl is a Python start-up per call: a 1 s timeout kills it on a busy machine
    native = by_unit(inspect_host(users, None, opts(site, timeout=4)))
    real = by_unit(inspect_host(users, None, opts(site, native=False, timeout=4)))
    for unit, inst in native.items():
        assert inst.via == "native" and real[unit].via == "circusctl"
        assert (inst.exit, inst.stdout, inst.watchers) == (
            real[unit].exit, real[unit].stdout, real[unit].watchers)


def test_other_commands_go_to_circusctl(site):
    r = by_unit(inspect_host(["user1"], ["stats"], opts(site, timeout=5)))
    inst = r["circus_user1_h1.service"]
    assert inst.via == "circusctl" and inst.exit == 0 and "sleeper:" in inst.stdout
    assert inst.watchers is None
    assert inst.argv == [CIRCUSCTL, "--endpoint", site["d1"].endpoint, "stats"]


def test_status_of_one_watcher_and_list(site):
    inst = inspect_host(["user1"], ["status", "ticker"], opts(site)).instances[0]
    assert (inst.stdout, inst.watchers, inst.via) == ("stopped\n", {"ticker": "stopped"}, "native")
    inst = inspect_host(["user1"], ["list"], opts(site)).instances[0]
    assert inst.stdout == "sleeper,ticker\n"


def test_dry_run_runs_nothing(site):
    report = inspect_host(None, None, opts(site, dry_run=True))
    r = by_unit(report)
    u1 = r["circus_user1_h1.service"]
    assert u1.state == PLANNED and u1.exit is None and u1.via is None
    assert u1.argv == [CIRCUSCTL, "--endpoint", site["d1"].endpoint, "--timeout", "1", "status"]
    assert r["circus_user6_h1.service"].state == PLANNED  # unreachable, but nothing ran
    text = render_human(report)
    assert f"DRY RUN; would execute: {CIRCUSCTL} --endpoint {site['d1'].endpoint} --timeout 1 " \
           "status" in text


def test_users_filter_and_unknown_user(site):
    report = inspect_host(["user3", "nosuch"], None, opts(site))
    assert [i.unit for i in report.instances] == ["circus_user3_h1.service"]
    assert len(report.errors) == 1
    assert report.errors[0].startswith("nosuch: no circus_* unit for this user on h1 (units found:")
    assert "circus_user1_h1.service" in report.errors[0]
    assert report.exit == 1
    only_unknown = inspect_host(["nosuch"], None, opts(site))
    assert only_unknown.instances == [] and only_unknown.exit == 3


def test_human_output(site):
    report = inspect_host(["user1", "user3"], None, opts(site))
    lines = render_human(report).splitlines()
    assert lines[0] == HOST
    assert lines[1].split() == ["circus_user1_h1.service", "enabled", "active", "(running)"]
    assert lines[2:4] == ["    sleeper: active", "    ticker: stopped"]
    assert lines[4].split() == ["circus_user3_h1.service", "disabled", "inactive", "(dead)"]
    assert lines[5] == "    No circus expected"
    assert "\033[" not in "\n".join(lines)
    assert "\033[32m" in render_human(report, color=True)


def test_verbose_notes(site):
    notes = []
    inspect_host(["user1", "user2"], None, opts(site, verbose=notes.append))
    assert "Derived circus user user1 from /etc/systemd/system/circus_user1_h1.service " \
           "(User=)" in notes
    assert any(n.startswith("circus cmd: ") and "(via native ZMTP client)" in n for n in notes)
    assert any("relative ipc path" in n for n in notes)


def test_json_roundtrip(site):
    report = inspect_host(None, None, opts(site))
    doc = json.loads(report.to_json())
    assert doc["schema"] == "bailey/1" and doc["exit"] == 1
    again = Report.from_dict(doc)
    assert [i.state for i in again.instances] == [i.state for i in report.instances]


def test_to_dict_is_asdict_and_owns_its_lists(site):
    """The shallow to_dict gives asdict's document, and changing it leaves the report."""
    import dataclasses

    report = inspect_host(None, None, opts(site))
    assert any(i.watchers and i.argv and i.notes for i in report.instances)
    doc = report.to_dict()
    assert doc == {**dataclasses.asdict(report), "exit": report.exit}
    first = next(i for i in report.instances if i.watchers)
    mine = next(d for d in doc["instances"] if d["unit"] == first.unit)
    mine["watchers"]["x"] = "y"
    mine["argv"].append("z")
    doc["errors"].append("e")
    assert "x" not in first.watchers and "z" not in first.argv and not report.errors


def test_failing_systemctl_is_a_host_error(site, tmp_path):
    bad = tmp_path / "systemctl"
    bad.write_text("#!/bin/sh\necho 'Failed to connect to bus: No such file' >&2\nexit 1\n")
    bad.chmod(0o755)
    report = inspect_host(None, None, opts(site, systemctl=str(bad)))
    assert report.exit == 3 and report.instances == []
    assert report.errors == ["systemctl list-unit-files failed (exit 1): Failed to connect to "
                             "bus: No such file"]


def test_missing_circusctl_is_per_instance(site, tmp_path):
    r = by_unit(inspect_host(["user1", "user2"], ["stats"],
                             opts(site, circusctl=str(tmp_path / "nope"))))
    for inst in r.values():
        assert inst.state == ERROR and inst.error.startswith("circusctl not found")
    # status needs no circusctl at all
    r = by_unit(inspect_host(["user1"], None, opts(site, circusctl=str(tmp_path / "nope"))))
    assert r["circus_user1_h1.service"].state == OK
