"""Developer tasks: ``invoke --list`` shows them."""

from __future__ import annotations

import shlex
import sys

from invoke import Collection, Exit, task

# What a fleet host needs from Debian: sshd, systemd as PID 1, D-Bus, namespaces
# and veths (iproute2, util-linux), and a venv-capable system Python for circus.
APT_PACKAGES = (
    "openssh-server",
    "systemd",
    "dbus",
    "iproute2",
    "util-linux",
    "procps",
    "python3-venv",
    "sudo",  # barnum unit's sudo -n path is tested on the fleet (each host's own sudoers.d)
    "tmux",  # the terminal tests (watch, shell) drive real terminals
    "zsh",  # completion is tested in a real zsh as well as bash
    "chromium",  # the web page's end-to-end tests (Debian's; no browser download)
    "prometheus",  # promtool: the shipped alerting rules are tested with it
)


@task
def setup(c):
    """Install the system packages the fleet needs (root; apt), if missing."""
    import os
    import subprocess

    missing = [
        p
        for p in APT_PACKAGES
        if subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True
        ).stdout
        != "install ok installed"
    ]
    if not missing:
        print("setup: system packages present")
        return
    if os.geteuid() != 0:
        sys.exit(f"setup: missing {' '.join(missing)}; run as root or install them with apt")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    c.run("apt-get update -qq", env=env, pty=False)
    c.run(shlex.join(["apt-get", "install", "-y", "-qq", *missing]), env=env, pty=False)


@task
def lint(c):
    """ruff over the whole tree, mypy over barnum/ and bailey/ ([tool.mypy]), the
    layers (tests/layering.py: no cycle, no upward import), then the docs built
    strictly (a broken link fails)."""
    c.run(shlex.join([sys.executable, "-m", "ruff", "check", "."]), pty=False)
    c.run(shlex.join([sys.executable, "-m", "mypy"]), pty=False)
    c.run(shlex.join([sys.executable, "-m", "tests.layering"]), pty=False)
    c.run(shlex.join([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet"]),
          pty=False)


@task(help={"k": "only tests matching this pytest -k expression", "unit": "unit tests only"})
def test(c, k="", unit=False):
    """The whole suite (unit, fleet integration, end to end), then lint.

    Installs the fleet's system packages first (``setup``) unless --unit.
    """
    if not unit:
        setup(c)
    args = ["-q"]
    if unit:
        args.append("tests/unit")
    if k:
        args += ["-k", k]
    c.run(shlex.join([sys.executable, "-m", "pytest", *args]), pty=False)
    lint(c)


@task(
    help={
        "runs": "how many runs in a row",
        "burn": "busy-loop processes kept running meanwhile (2 keeps 2 cores busy)",
        "k": "only tests matching this pytest -k expression",
        "name": "fleet name (BARNUM_TEST_FLEET; each run boots and removes it)",
    }
)
def flakes(c, runs=10, burn=2, k="", name=""):
    """The tmux and Chromium end-to-end tests, RUNS times under a CPU burner; a summary per run."""
    import os

    from tests.flakes import hunt

    setup(c)
    results = hunt(int(runs), int(burn), k, name or os.environ.get("BARNUM_TEST_FLEET", "flakes"))
    if not all(r.ok for r in results):
        sys.exit(1)


@task(help={"hosts": "how many hosts", "name": "fleet name (prefix of everything it makes)"})
def fleet_up(c, hosts=3, name="barnum"):
    """Boot a fleet of real hosts (root only); prints its ssh_config."""
    from tests.fleet import Fleet, default_layout

    f = Fleet(name, default_layout(int(hosts))).up()
    print(f"ssh_config: {f.ssh_config}")
    print(f"users_file: {f.users_file}")


@task(help={"name": "fleet name"})
def fleet_down(c, name="barnum"):
    """Stop a fleet and remove all it made."""
    from tests.fleet import Fleet

    Fleet.load(name).down()


@task(help={"name": "fleet name"})
def fleet_status(c, name="barnum"):
    """Each host's `systemctl is-system-running`."""
    from tests.fleet import Fleet

    for host, state in Fleet.load(name).status().items():
        print(f"{host}: {state}")


@task(
    help={
        "quick": "tiny sizes and 2 repeats: proves the bench still runs (CI)",
        "sizes": "comma-separated fleet sizes",
        "repeats": "timed runs per figure, after one warm-up",
        "name": "fleet name (two benches at once need different ones)",
        "scale": "only the per-size rows (floor, naive, overview): for big fleets",
        "web": "only barnum web's rows (first paint of the table...), at each size",
        "recorded": "with --web: no fleet, a recorded state copied to each size (stand-in)",
        "history": "only the history store's figures (a million rows; recording a flood)",
        "idle": "only an open, idle session's CPU and memory (12 hosts; --scale: also 96), "
                "beside the old poll settings",
        "window": "with --idle: seconds per measured window",
        "cold": "only where a cold overview's time goes, phase by phase (12 hosts)",
        "warm": "only the warm session against the cold path (12 hosts; 96 with --scale)",
    }
)
def bench(c, quick=False, sizes="4,12,24", repeats=5, name="bench", scale=False, web=False,
          recorded=False, history=False, idle=False, window=30.0, cold=False, warm=False):
    """Time barnum against OpenSSH and naive baselines on a real fleet."""
    from pathlib import Path

    if warm:
        from benchmarks.warm_bench import main as warm_main

        warm_main(name if name != "bench" else "bwarm", 4 if quick else 12,
                  2 if quick else int(repeats), scale)
        return

    if cold:
        from benchmarks import cold_bench

        phases = cold_bench.run(3 if quick else 12, 2 if quick else int(repeats),
                                name="cold" if name == "bench" else name)
        print("| phase | wall |\n| --- | ---: |")
        for what, secs in phases.items():
            print(f"| {what} | {secs * 1000:.0f} ms |")
        return

    if idle:
        from benchmarks import idle_bench

        idle_sizes = [3] if quick else [12, 96] if scale else [12]
        results = idle_bench.run(idle_sizes, 3.0 if quick else float(window),
                                 2 if quick else int(repeats), Path(".bench"),
                                 name="idle" if name == "bench" else name)
        print(idle_bench.to_markdown(results))
        print("written: .bench/idle.md .bench/idle.json")
        bad = idle_bench.failed(results)
        if bad:
            for line in bad:
                print(f"bench: FAILED {line}", file=sys.stderr)
            raise Exit(f"bench: {len(bad)} of {len(results['rows'])} rows failed", code=1)
        return

    if history:
        from benchmarks.history_bench import main

        main(name, rows=100_000 if quick else 1_000_000)
        return

    from benchmarks.fleet_bench import run, to_markdown
    from benchmarks.measure import failed

    size_list = [2, 3] if quick else [int(s) for s in sizes.split(",")]
    if web and recorded:
        from benchmarks.fleet_bench import run_recorded

        results = run_recorded(size_list, 2 if quick else int(repeats), Path(".bench"))
    else:
        results = run(size_list, 2 if quick else int(repeats), Path(".bench"), name=name,
                      scale=scale, web=web)
    print(to_markdown(results))
    print("written: .bench/results.md .bench/results.json")
    bad = failed(results)
    if bad:  # every other row was still measured and written
        for line in bad:
            print(f"bench: FAILED {line}", file=sys.stderr)
        raise Exit(f"bench: {len(bad)} of {len(results['measures'])} rows failed", code=1)


DEMO = "demo"


def _script(name: str) -> str:
    """A console script of this environment (the venv's ``barnum``, not PATH's)."""
    from pathlib import Path

    return str(Path(sys.executable).with_name(name))


@task(help={"down": "stop the demo fleet instead"})
def demo(c, down=False):
    """Boot a 3-host demo fleet, run barnum against it, start barnum web on it."""
    from tests.fleet import Fleet, demo_layout
    from tests.fleet.layout import DEMO_USERS_EXTRA

    if down:
        _demo_web_stop()
        f = Fleet.load(DEMO)
        # the warm background session the demo's calls left (docs/warm.md): ended first,
        # so nothing keeps links to hosts that are going away
        c.run(shlex.join([_script("barnum"), "session", "stop", "--config", str(f.users_file)]),
              warn=True, hide=True, pty=False)
        f.down()
        print("demo fleet stopped")
        return
    setup(c)
    f = Fleet(DEMO, demo_layout(), users_extra=DEMO_USERS_EXTRA).up()
    env = {"BARNUM_CONFIG": str(f.users_file)}
    print(f"$ cat {f.users_file}\n{f.users_file.read_text()}", flush=True)
    for args in ([], ["--group-by", "group", "@itg"], ["check"]):
        print(f"$ barnum {shlex.join(args)}\n", flush=True)
        c.run(shlex.join([_script("barnum"), *args]), env=env, warn=True, pty=False)
        print(flush=True)
    print(
        "\nThe demo fleet is up. Try:\n"
        f"  export BARNUM_CONFIG={f.users_file}\n"
        "  barnum host1 --verbose\n"
        "  barnum user1@host1 --dry-run\n"
        "  barnum user1@host1 -- -- stats\n"
        "  barnum -- --help\n"
        "  barnum '@itg,!host2'            # groups and set operations\n"
        "  barnum check --json             # the fleet against expect:\n"
        "  barnum drift                    # files and units that disagree\n"
        "  barnum start --ordered --dry-run ticker @itg\n"
        "  barnum --json | python3 -m json.tool\n"
        f"  ssh -F {f.ssh_config} host1 systemctl list-units 'circus_*'\n"
        "Stop it with: ./run demo --down"
    )
    url = _demo_web(f)
    print(f"\nThe web page (barnum web, in the background): {url}" if url else
          "\nbarnum web did not start (see its log under the demo fleet's web folder)")


def _demo_web(f) -> str | None:
    """Start ``barnum web`` on the demo fleet, detached; its sign-in URL (with the token)."""
    import subprocess
    import time

    state = f.state / "web"
    state.mkdir(mode=0o700, exist_ok=True)
    log = state / "web.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [_script("barnum"), "web", "--config", str(f.users_file), "--state-dir",
             str(state), "--port", "0"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    (state / "web.pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        for line in log.read_text().splitlines():
            if line.startswith("barnum web: http"):
                return line.split("barnum web: ", 1)[1]
        time.sleep(0.2)
    return None


def _demo_web_stop() -> None:
    import contextlib
    import os
    import signal

    from tests.fleet.fleet import ROOT

    pid_file = ROOT / DEMO / "web" / "web.pid"
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pid_file.read_text()), signal.SIGTERM)
        pid_file.unlink()


fleet = Collection("fleet")
fleet.add_task(fleet_up, "up")
fleet.add_task(fleet_down, "down")
fleet.add_task(fleet_status, "status")

ns = Collection(setup, lint, test, flakes, bench, demo, fleet)
