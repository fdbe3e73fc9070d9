"""``barnum start|stop --ordered`` on the real fleet: a dependency chain across two hosts
whose process start times, read on the hosts, respect the order; the reverse for stop
(circusd's own journal lines); cycles, unknown dependencies and --dry-run touch nothing."""

from __future__ import annotations

import json

import pytest

from tests.e2e.subcommand import run_sub
from tests.e2e.test_barnum_e2e import circusctl

pytestmark = pytest.mark.fleet

# user1@host1:ticker needs user2@host2:sleeper, which needs user1@host2:ticker
CHAIN = [("host2", "user1", "ticker"), ("host2", "user2", "sleeper"), ("host1", "user1", "ticker")]
DEPENDS = ("depends:\n"
           "  'user1@host1:ticker': ['user2@host2:sleeper']\n"
           "  'user2@host2:sleeper': ['user1@host2:ticker']\n")


def users_file(fleet, tmp_path, tail: str):
    f = tmp_path / "circus_users.yaml"
    f.write_text(fleet.users_file.read_text() + tail)
    return f


def ctl(fleet, host, user, *args):
    p = circusctl(fleet, host, f"tcp://127.0.0.1:{fleet.port(user)}", *args)
    assert p.returncode == 0, (host, user, args, p.stdout, p.stderr)
    return p.stdout.strip()


def status(fleet, host, user, watcher) -> str:
    return ctl(fleet, host, user, "status", watcher)


def started_at(fleet, host, user, watcher) -> int:
    """The watcher's process start time, in clock ticks since boot (/proc/PID/stat)."""
    [pid] = ctl(fleet, host, user, "list", watcher).split(",")
    stat = fleet.exec(host, ["cat", f"/proc/{pid.strip()}/stat"]).stdout
    return int(stat.rsplit(")", 1)[1].split()[19])


def stopped_at(fleet, host, user, watcher, since_us: int) -> int:
    """When circusd logged "<watcher> stopped" (µs, the host's journal), after since_us."""
    unit = f"circus_{user}_{host}.service"
    out = fleet.exec(host, ["journalctl", "-u", unit, "-o", "json", "--no-pager",
                            "--since", f"@{since_us / 1e6:.6f}"]).stdout
    times = [int(e["__REALTIME_TIMESTAMP"]) for e in map(json.loads, out.splitlines())
             if isinstance(e.get("MESSAGE"), str) and f"{watcher} stopped" in e["MESSAGE"]]
    assert times, (host, user, watcher, out[-500:])
    return times[-1]


def host_now_us(fleet, host) -> int:
    return int(fleet.exec(host, ["date", "+%s%6N"]).stdout.strip())


@pytest.fixture
def chain_stopped(fleet):
    for h, u, w in CHAIN:
        ctl(fleet, h, u, "stop", w)
    yield
    for h, u, w in CHAIN:
        ctl(fleet, h, u, "start", w)


def test_ordered_start_then_stop_follow_the_chain(fleet, tmp_path, chain_stopped):
    cfg = users_file(fleet, tmp_path, DEPENDS)
    p = run_sub(fleet, cfg, "start", "--ordered", "user1@host1:ticker", "--wait", "20")
    assert p.returncode == 0, p.stdout + p.stderr
    assert [status(fleet, *n) for n in CHAIN] == ["active"] * 3
    ticks = [started_at(fleet, *n) for n in CHAIN]
    assert ticks[0] < ticks[1] < ticks[2], ticks
    assert "start: 3 watchers in 3 steps" in p.stdout

    since = host_now_us(fleet, "host1")
    p = run_sub(fleet, cfg, "stop", "--ordered", "user1@host2:ticker", "--wait", "20")
    assert p.returncode == 0, p.stdout + p.stderr
    assert [status(fleet, *n) for n in CHAIN] == ["stopped"] * 3
    when = [stopped_at(fleet, *n, since) for n in CHAIN]
    assert when[2] < when[1] < when[0], when  # dependents first


def test_a_failed_step_stops_the_run(fleet, tmp_path, chain_stopped):
    """The first dependency's circusd does not answer: its step fails, and nothing that
    needs it is started."""
    cfg = users_file(fleet, tmp_path, DEPENDS)
    with fleet.circusd_hang("host2", "user1"):
        p = run_sub(fleet, cfg, "start", "--ordered", "user1@host1:ticker", "--timeout", "12")
    assert p.returncode == 1, p.stdout + p.stderr  # bailey's circusctl timed out: exit 1
    assert "barnum: start: step 1: user1@host2: " in p.stderr
    assert "; not started: user2@host2:sleeper, user1@host1:ticker" in p.stderr
    assert status(fleet, "host2", "user2", "sleeper") == "stopped"
    assert status(fleet, "host1", "user1", "ticker") == "stopped"


def test_a_dependency_that_keeps_dying_is_not_started(fleet, tmp_path, chain_stopped):
    """circus calls a watcher whose process exits at once "active"; the wait does not."""
    cfg = users_file(fleet, tmp_path, DEPENDS)
    try:
        ctl(fleet, "host2", "user1", "set", "ticker", "cmd", "/bin/false")
        ctl(fleet, "host2", "user1", "stop", "ticker")
        p = run_sub(fleet, cfg, "start", "--ordered", "user1@host1:ticker", "--wait", "4")
        assert p.returncode == 1, p.stdout + p.stderr
        assert "not active after 4s: user1@host2:ticker (active, " in p.stderr
        assert "; not started: user2@host2:sleeper, user1@host1:ticker" in p.stderr
        assert status(fleet, "host2", "user1", "ticker") == "active"  # as circus sees it
        assert status(fleet, "host2", "user2", "sleeper") == "stopped"
        assert status(fleet, "host1", "user1", "ticker") == "stopped"
    finally:
        ctl(fleet, "host2", "user1", "stop", "ticker")
        ctl(fleet, "host2", "user1", "set", "ticker", "cmd", "/bin/sleep 3601")
        ctl(fleet, "host2", "user1", "stop", "ticker")


def test_a_host_down_touches_nothing(fleet, tmp_path, chain_stopped):
    """host1 (the last step's) is down: the first steps, on host2, are not run either."""
    cfg = users_file(fleet, tmp_path, DEPENDS)
    with fleet.host_down("host1"):
        p = run_sub(fleet, cfg, "start", "--ordered", "user1@host1:ticker", "--timeout", "3")
    assert p.returncode == 3, p.stdout + p.stderr
    assert "barnum: host1: " in p.stderr
    assert "start: not every host is reachable; nothing was started" in p.stderr
    assert [status(fleet, *n) for n in CHAIN] == ["stopped"] * 3


def _pids(fleet):
    return {(h, u): ctl(fleet, h, u, "list", "sleeper") for h in ("host1", "host2")
            for u in ("user1", "user2")}


@pytest.mark.parametrize(("depends", "message"), [
    ("depends:\n  'user1@host1:ticker': ['user1@host2:ticker']\n"
     "  'user1@host2:ticker': ['user1@host1:ticker']\n",
     "barnum: error: dependency cycle: user1@host1:ticker -> user1@host2:ticker -> "
     "user1@host1:ticker"),
    ("depends:\n  'user1@host1:ticker': ['user1@host2:zookeeper']\n",
     "barnum: error: user1@host1:ticker depends on 'user1@host2:zookeeper', which names no "
     "existing watcher"),
])
def test_cycle_and_unknown_dependency_touch_nothing(fleet, tmp_path, chain_stopped, depends,
                                                    message):
    cfg = users_file(fleet, tmp_path, depends)
    before = _pids(fleet)
    p = run_sub(fleet, cfg, "start", "--ordered", "user1@host1:ticker")
    assert p.returncode == 2
    assert p.stderr.startswith(message), p.stderr
    assert p.stdout == ""
    assert [status(fleet, *n) for n in CHAIN] == ["stopped"] * 3  # nothing started
    assert _pids(fleet) == before


def test_dry_run_prints_order_and_commands_and_connects_to_nothing(fleet, tmp_path,
                                                                   chain_stopped):
    cfg = users_file(fleet, tmp_path, DEPENDS)
    with fleet.host_down("host1"), fleet.host_down("host2"):
        p = run_sub(fleet, cfg, "start", "--ordered", "--dry-run", "user1@host1:ticker")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [
        "start order (3 steps; dependencies first):",
        "  1. user1@host2:ticker",
        "  2. user2@host2:sleeper   needs user1@host2:ticker",
        "  3. user1@host1:ticker   needs user2@host2:sleeper",
        "commands:",
        "  1. barnum user1@host2 -- -- start ticker",
        "     then wait until each is active (at most 30s)",
        "  2. barnum user2@host2 -- -- start sleeper",
        "     then wait until each is active (at most 30s)",
        "  3. barnum user1@host1 -- -- start ticker",
        "     then wait until each is active (at most 30s)",
    ]
    assert [status(fleet, *n) for n in CHAIN] == ["stopped"] * 3
