"""What a one-shot run will do, before anything runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from barnum import EXIT_USAGE, BarnumError
from barnum.model.config import Config
from barnum.model.discovery import Discovery, discover
from barnum.model.targets import group_members, resolve
from barnum.model.thishost import local_names
from barnum.text.plural import count
from barnum.transport.connector import Connector
from barnum.transport.options import Options


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
        """bailey's argv for ``hp`` (before any shipping): barnum.transport.bailey's,
        as the session's, so both pass the same config_template and ``--timeout``."""
        return Connector(options).argv(hp.users, self.bailey_args, self.circusctl_args)


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
