"""bailey on real hosts, run through real SSH as the operator.

Each staged state of ``test_layout()`` (tests/fleet/layout.py) is checked
against what the host says independently: ``systemctl show`` run inside the
host (fleet.exec) and ``circusctl --endpoint E status`` run directly.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import subprocess
import time

import pytest

from bailey.report import EXIT_HOST, EXIT_INSTANCE, EXIT_OK, EXIT_USAGE

pytestmark = pytest.mark.fleet

DRY_RUN = "DRY RUN; would execute: "
SHOW = ["Id", "User", "UnitFileState", "ActiveState", "SubState", "MainPID"]


# -- helpers -------------------------------------------------------------------------------


def spec(fleet, host):
    return next(h for h in fleet.layout if h.name == host)


def bailey(fleet, host) -> list[str]:
    """bailey's command on ``host``: on PATH, or the venv's where it is not installed."""
    if spec(fleet, host).bailey_installed:
        return ["bailey"]
    return [str(fleet.venv / "bin" / "bailey")]


def run(fleet, host, *args, timeout=60) -> subprocess.CompletedProcess:
    return fleet.ssh(host, [*bailey(fleet, host), *args], timeout=timeout)


def run_json(fleet, host, *args, timeout=60):
    p = run(fleet, host, "--json", *args, timeout=timeout)
    doc = json.loads(p.stdout)
    assert doc["schema"] == "bailey/1"
    assert doc["exit"] == p.returncode, p.stderr
    return p, doc


def by_unit(doc) -> dict[str, dict]:
    return {i["unit"]: i for i in doc["instances"]}


def unit(user, host) -> str:
    return f"circus_{user}_{host}.service"


def systemd_truth(fleet, host, name) -> dict[str, str]:
    """``systemctl show`` of one unit, run inside the host as root."""
    p = fleet.exec(host, ["systemctl", "show", "--no-pager", "-p", ",".join(SHOW), name])
    assert p.returncode == 0, p.stderr
    return dict(line.split("=", 1) for line in p.stdout.splitlines() if "=" in line)


def listed_units(fleet, host) -> list[str]:
    p = fleet.exec(host, ["systemctl", "list-unit-files", "--no-legend", "--no-pager",
                          "circus_*"])
    return sorted(line.split()[0] for line in p.stdout.splitlines() if line.strip())


def ini_endpoint(fleet, host, user) -> str:
    """The endpoint in the user's circus.ini, bind-only forms mapped to loopback."""
    cp = configparser.RawConfigParser()
    cp.read(fleet.homes / user / "circus" / host / "circus.ini")
    endpoint = cp.get("circus", "endpoint")
    return re.sub(r"^tcp://(\*|0\.0\.0\.0):", "tcp://127.0.0.1:", endpoint)


def circusctl_watchers(fleet, host, endpoint) -> dict[str, str]:
    """``circusctl --endpoint E status`` run directly over SSH, parsed."""
    p = fleet.ssh(host, ["circusctl", "--endpoint", endpoint, "status"])
    assert p.returncode == 0, p.stderr
    return dict(line.rsplit(": ", 1) for line in p.stdout.splitlines())


def staged_active(u) -> str:
    if not u.started:
        return "inactive"
    return "failed" if u.config in ("missing", "failing") else "active"


def running_instances(fleet):
    """(host, user) of every staged instance whose circusd runs from a readable ini."""
    return [(h.name, u.user) for h in fleet.layout for u in h.units
            if staged_active(u) == "active" and u.config == "ok"]


def expected_exit(fleet, host) -> int:
    units = spec(fleet, host).units
    bad = any(staged_active(u) == "failed" or u.config == "broken" for u in units)
    return EXIT_INSTANCE if bad else EXIT_OK


# -- every host, every unit, against systemd ------------------------------------------------


@pytest.mark.parametrize("host", ["host1", "host2", "host3", "host4"])
def test_json_report_matches_systemd(fleet, host):
    p, doc = run_json(fleet, host)
    assert doc["host"] == host
    assert doc["errors"] == []
    assert p.returncode == expected_exit(fleet, host)
    assert [i["unit"] for i in doc["instances"]] == listed_units(fleet, host)
    assert sorted(by_unit(doc)) == sorted(unit(u.user, host) for u in spec(fleet, host).units)
    for u in spec(fleet, host).units:
        inst = by_unit(doc)[unit(u.user, host)]
        truth = systemd_truth(fleet, host, inst["unit"])
        assert truth["ActiveState"] == staged_active(u)
        assert truth["UnitFileState"] == ("enabled" if u.enabled else "disabled")
        assert inst["active_state"] == truth["ActiveState"]
        assert inst["sub_state"] == truth["SubState"]
        assert inst["unit_file_state"] == truth["UnitFileState"]
        assert inst["main_pid"] == int(truth["MainPID"])
        assert (inst["user"], inst["user_source"]) == (truth["User"], "User=")


@pytest.mark.parametrize(("host", "user"), [
    ("host1", "user1"), ("host1", "user2"), ("host2", "user1"), ("host2", "user2"),
    ("host3", "user1"),
])
def test_running_instance_is_ok_with_circusctls_watchers(fleet, host, user):
    assert (host, user) in running_instances(fleet)
    _, doc = run_json(fleet, host, user)
    (inst,) = doc["instances"]
    endpoint = ini_endpoint(fleet, host, user)
    assert inst["state"] == "ok"
    assert (inst["exit"], inst["error"], inst["via"]) == (0, None, "native")
    assert inst["endpoint"] == endpoint
    assert inst["watchers"] == circusctl_watchers(fleet, host, endpoint)
    assert inst["watchers"] == {"sleeper": "active", "ticker": "active"}


def test_human_output_of_a_healthy_host(fleet):
    p = run(fleet, "host1")
    assert (p.returncode, p.stderr) == (EXIT_OK, "")
    lines = p.stdout.splitlines()
    assert lines[0] == "host1"
    for user in ("user1", "user2"):
        header = f"  {unit(user, 'host1')}  enabled  active (running)"
        i = lines.index(header)
        watchers = circusctl_watchers(fleet, "host1", ini_endpoint(fleet, "host1", user))
        assert lines[i + 1 : i + 3] == [f"    {w}: {s}" for w, s in sorted(watchers.items())]


def test_user_argument_selects_that_users_unit(fleet):
    p = run(fleet, "host1", "user2")
    assert p.returncode == EXIT_OK, p.stderr
    assert unit("user2", "host1") in p.stdout
    assert unit("user1", "host1") not in p.stdout


def test_arguments_after_double_dash_go_to_circusctl(fleet):
    p = run(fleet, "host1", "user1", "--", "stats")
    assert p.returncode == EXIT_OK, p.stderr
    body = p.stdout.splitlines()[2:]
    assert "    sleeper:" in body and "    ticker:" in body
    assert any(re.match(r"^    \d+: \d+ .*sleep user1", line) for line in body), p.stdout
    _, doc = run_json(fleet, "host1", "user1", "--", "stats")
    (inst,) = doc["instances"]
    assert doc["circusctl_args"] == ["stats"]
    assert (inst["state"], inst["via"], inst["watchers"]) == ("ok", "circusctl", None)
    assert inst["argv"][-1] == "stats"


def test_unknown_user_is_a_host_error(fleet):
    p = run(fleet, "host1", "nobody")
    assert p.returncode == EXIT_HOST
    assert p.stderr.startswith("bailey: nobody: no circus_* unit for this user on host1")
    p = run(fleet, "host1", "user1", "nobody")
    assert p.returncode == EXIT_INSTANCE  # an error, but something was listed
    assert unit("user1", "host1") in p.stdout


def test_bad_arguments_exit_2(fleet):
    p = run(fleet, "host1", "--timeout", "0")
    assert p.returncode == EXIT_USAGE
    assert "must be at least 1" in p.stderr


# -- --dry-run and --verbose ----------------------------------------------------------------


def test_dry_run_prints_pasteable_commands(fleet):
    p = run(fleet, "host1", "--dry-run")
    assert p.returncode == EXIT_OK, p.stderr
    commands = [line.strip()[len(DRY_RUN):] for line in p.stdout.splitlines()
                if line.strip().startswith(DRY_RUN)]
    assert len(commands) == 2
    for user, command in zip(("user1", "user2"), commands, strict=True):
        endpoint = ini_endpoint(fleet, "host1", user)
        assert shlex.split(command)[1:] == ["--endpoint", endpoint, "status"]
        # pasted as is into the operator's shell on that host
        pasted = subprocess.run(
            ["ssh", "-F", str(fleet.ssh_config), "host1", "--", command],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert pasted.returncode == 0, pasted.stderr
        watchers = circusctl_watchers(fleet, "host1", endpoint)
        assert pasted.stdout == "".join(f"{w}: {s}\n" for w, s in sorted(watchers.items()))


def test_dry_run_runs_nothing(fleet):
    _, doc = run_json(fleet, "host3", "--dry-run")
    assert doc["dry_run"] is True
    states = {i["unit"]: (i["state"], i["exit"], i["via"]) for i in doc["instances"]}
    assert states[unit("user1", "host3")] == ("planned", None, None)
    assert states[unit("user2", "host3")] == ("inactive", None, None)
    assert states[unit("user3", "host3")] == ("unit-failed", None, None)
    with fleet.circusd_hang("host1", "user1"):  # nothing asks circusd: no wait
        start = time.monotonic()
        p = run(fleet, "host1", "--dry-run", "--timeout", "20")
        assert time.monotonic() - start < 10
    assert p.returncode == EXIT_OK, p.stderr
    assert p.stdout.count(DRY_RUN) == 2


def test_verbose_lines_go_to_stderr_prefixed(fleet):
    quiet = run(fleet, "host1", "user2")
    p = run(fleet, "host1", "--verbose", "user2")
    assert p.returncode == EXIT_OK
    assert p.stdout == quiet.stdout
    lines = p.stderr.splitlines()
    assert lines
    assert all(line.startswith("bailey: ") for line in lines), p.stderr
    text = "\n".join(lines)
    assert "Derived circus user user2 from /etc/systemd/system/circus_user2_host1.service" in text
    # user2's ini binds on 0.0.0.0: the mapping to loopback is explained
    assert "tcp://0.0.0.0:" in text and "connect on loopback 127.0.0.1" in text


# -- each staged state ---------------------------------------------------------------------


def test_disabled_unit_is_inactive_no_circus_expected(fleet):
    truth = systemd_truth(fleet, "host3", unit("user2", "host3"))
    assert (truth["UnitFileState"], truth["ActiveState"]) == ("disabled", "inactive")
    p, doc = run_json(fleet, "host3", "user2")
    (inst,) = doc["instances"]
    assert (inst["state"], inst["error"], inst["argv"]) == ("inactive", None, [])
    assert p.returncode == EXIT_OK
    p = run(fleet, "host3", "user2")
    assert p.returncode == EXIT_OK
    assert p.stdout.splitlines()[1:] == [
        f"  {unit('user2', 'host3')}  disabled  inactive (dead)",
        "    No circus expected",
    ]


def test_failed_unit_is_unit_failed(fleet):
    truth = systemd_truth(fleet, "host3", unit("user3", "host3"))
    assert truth["ActiveState"] == "failed"
    p, doc = run_json(fleet, "host3", "user3")
    (inst,) = doc["instances"]
    assert inst["state"] == "unit-failed"
    assert inst["error"] == "unit failed (systemd: failed/failed)"
    assert p.returncode == EXIT_INSTANCE
    p = run(fleet, "host3", "user3")
    assert p.returncode == EXIT_INSTANCE
    assert p.stderr == f"bailey: {unit('user3', 'host3')}: unit failed (systemd: failed/failed)\n"


def test_hung_circusd_is_an_error_within_the_timeout(fleet):
    with fleet.circusd_hang("host1", "user1"):
        start = time.monotonic()
        p, doc = run_json(fleet, "host1", "--timeout", "2")
        elapsed = time.monotonic() - start
        human = run(fleet, "host1", "--timeout", "2")
    assert elapsed < 2 + 5, elapsed  # 2s of bailey's timeout, plus SSH and startup
    assert p.returncode == EXIT_INSTANCE
    hung, other = by_unit(doc)[unit("user1", "host1")], by_unit(doc)[unit("user2", "host1")]
    assert hung["state"] == "error"
    assert hung["exit"] == 1
    assert hung["error"].startswith("circusd did not answer on tcp://127.0.0.1:5500 within 2s")
    assert other["state"] == "ok"
    assert other["watchers"] == {"sleeper": "active", "ticker": "active"}
    assert human.returncode == EXIT_INSTANCE
    assert human.stderr.startswith(f"bailey: {unit('user1', 'host1')}: circusd did not answer")
    # once circusd resumes, all is well again
    p = run(fleet, "host1")
    assert (p.returncode, p.stderr) == (EXIT_OK, "")


def test_hung_circusd_without_native_client(fleet):
    with fleet.circusd_hang("host1", "user1"):
        start = time.monotonic()
        p, doc = run_json(fleet, "host1", "--no-native", "--timeout", "2", "user1")
        elapsed = time.monotonic() - start
    assert elapsed < 2 + 8, elapsed  # circusctl's own start-up is slower
    (inst,) = doc["instances"]
    assert (inst["state"], inst["via"], inst["exit"]) == ("error", "circusctl", 1)
    assert "Timed out." in inst["stderr"]
    assert p.returncode == EXIT_INSTANCE


def test_missing_config_of_a_failed_unit(fleet):
    truth = systemd_truth(fleet, "host4", unit("user2", "host4"))
    assert truth["ActiveState"] == "failed"
    ini = fleet.homes / "user2" / "circus" / "host4" / "circus.ini"
    assert not ini.exists()
    p, doc = run_json(fleet, "host4", "user2")
    (inst,) = doc["instances"]
    assert inst["state"] == "unit-failed"
    assert inst["error"] == f"unit failed (systemd: failed/failed); config: {ini}: no such file"
    assert inst["config_error"] == f"{ini}: no such file"  # the same cause, structured
    assert doc["schema_minor"] >= 1
    assert p.returncode == EXIT_INSTANCE


def test_config_without_unit_is_not_an_instance(fleet):
    assert (fleet.homes / "user3" / "circus" / "host4" / "circus.ini").exists()
    p = run(fleet, "host4", "user3")
    assert p.returncode == EXIT_HOST
    assert "bailey: user3: no circus_* unit for this user on host4" in p.stderr


def test_malformed_config_names_file_and_line(fleet):
    truth = systemd_truth(fleet, "host4", unit("user1", "host4"))
    assert (truth["ActiveState"], truth["SubState"]) == ("active", "running")
    ini = fleet.homes / "user1" / "circus" / "host4" / "circus.ini"
    p, doc = run_json(fleet, "host4", "user1")
    (inst,) = doc["instances"]
    assert inst["state"] == "error"
    assert inst["error"].startswith(f"{ini}:3: ")
    assert inst["error"] == f"{ini}:3: not 'key = value' nor [section]"
    assert "a line that is not ini" not in inst["error"]  # never the content (hostile input)
    assert (inst["argv"], inst["exit"]) == ([], None)  # circusctl not called
    assert p.returncode == EXIT_INSTANCE
    p = run(fleet, "host4", "user1")
    assert p.stderr.startswith(f"bailey: {unit('user1', 'host4')}: {ini}:3: ")


def test_bailey_is_not_on_host4s_path(fleet):
    p = fleet.ssh("host4", ["bailey", "--version"])
    assert p.returncode == 127
    p = fleet.ssh("host4", [str(fleet.venv / "bin" / "bailey"), "--version"])
    assert p.returncode == 0 and p.stdout.startswith("bailey ")


# -- native and circusctl agree ------------------------------------------------------------


@pytest.mark.parametrize("host", ["host1", "host3", "host4"])
@pytest.mark.parametrize("args", [[], ["--", "status", "sleeper"], ["--", "list"],
                                  ["--", "status", "nosuchwatcher"]])
def test_no_native_prints_the_same_as_native(fleet, host, args):
    native = run(fleet, host, *args)
    sub = run(fleet, host, "--no-native", *args)
    assert sub.stdout == native.stdout
    assert sub.returncode == native.returncode
    _, doc = run_json(fleet, host, *args)
    _, sub_doc = run_json(fleet, host, "--no-native", *args)
    for a, b in zip(doc["instances"], sub_doc["instances"], strict=True):
        assert (a["state"], a["exit"], a["stdout"], a["watchers"]) == (
            b["state"], b["exit"], b["stdout"], b["watchers"])
        if a["state"] == "ok":
            assert (a["via"], b["via"]) == ("native", "circusctl")
