"""Developer tasks: ``invoke --list`` shows them."""

from __future__ import annotations

import sys

from invoke import Collection, task


@task
def lint(c):
    """ruff over the whole tree."""
    c.run("ruff check .", pty=False)


@task(help={"k": "only tests matching this pytest -k expression", "unit": "unit tests only"})
def test(c, k="", unit=False):
    """The whole suite (unit, fleet integration, end to end), then lint."""
    args = ["-q"]
    if unit:
        args.append("tests/unit")
    if k:
        args += ["-k", k]
    c.run(f"{sys.executable} -m pytest " + " ".join(_quote(a) for a in args), pty=False)
    lint(c)


def _quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


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


fleet = Collection("fleet")
fleet.add_task(fleet_up, "up")
fleet.add_task(fleet_down, "down")
fleet.add_task(fleet_status, "status")

ns = Collection(lint, test, fleet)
