"""What a one-shot run will do, before anything runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from barnum import EXIT_USAGE, BarnumError
from barnum.model.config import Config
from barnum.model.discovery import Discovery, discover
from barnum.model.targets import group_members, resolve
from barnum.model.thishost import local_names
from barnum.text.plural import count
from barnum.transport.options import BAILEY_DEFAULT_TIMEOUT, Options, _has_option, bailey_timeout
from barnum.transport.remote import bailey_argv


@dataclass
class HostPlan:
    """One host to visit; ``users`` empty means every circus instance there."""

    host: str
    users: list[str] = field(default_factory=list)
    configured_users: list[str] = field(default_factory=list)  # from discovery
    local: bool = False  # this machine: bailey runs as a subprocess, no SSH


@dataclass
class Plan:
    """What a run will do, before anything runs (``--dry-run`` prints it)."""

    hosts: list[HostPlan]
    bailey_args: list[str] = field(default_factory=list)
    circusctl_args: list[str] | None = None
    discovery: Discovery | None = None
    groups: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # see group_members

    def argv(self, hp: HostPlan, options: Options) -> list[str]:
        """bailey's argv for ``hp`` (before any shipping).

        bailey is told the users file's config_template, and a circusctl
        timeout that fits barnum's own, so one hung circusd cannot make the
        host's healthy instances miss barnum's deadline.
        """
        extra = []
        if options.config_template and not _has_option(self.bailey_args, "--config-template"):
            extra += ["--config-template", options.config_template]
        t = bailey_timeout(options.timeout)
        if t != BAILEY_DEFAULT_TIMEOUT and not _has_option(self.bailey_args, "--timeout"):
            extra += ["--timeout", str(t)]
        return bailey_argv(options.bailey, hp.users, [*extra, *self.bailey_args],
                           self.circusctl_args, options.verbose)


def plan(
    config: Config,
    targets: list[str] | None = None,
    bailey_args: list[str] | None = None,
    circusctl_args: list[str] | None = None,
    *,
    discovery: Discovery | None = None,
    local: bool = False,
) -> Plan:
    """Resolve targets against the users' circus trees; raises BarnumError (exit 2)."""
    d = discovery if discovery is not None else discover(config.users, config.config_template)
    if not d.hosts:
        where = config.path or "the users file"
        raise BarnumError(
            f"no hosts found: none of the {count(len(config.users), 'user')} in {where} has a "
            "circus/<host>/circus.ini", EXIT_USAGE,
        )
    chosen = resolve(list(targets or []), d.hosts, config.groups)
    here = local_names() if local else set()
    hosts = [
        HostPlan(host=h, users=users, configured_users=d.hosts[h], local=h in here)
        for h, users in chosen.items()
    ]
    return Plan(hosts, list(bailey_args or []), circusctl_args, d,
                group_members(d.hosts, config.groups))
