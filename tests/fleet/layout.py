"""What a fleet stages: hosts, their circus units, and the state of each.

Declarative so a test can say "a failed unit here, a disabled one there" and
the fleet builds exactly that with real systemd units and real circusds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CONFIG_KINDS = ("ok", "missing", "failing", "broken")


@dataclass
class UnitSpec:
    """One ``circus_<user>_<host>.service``.

    config: ``ok`` (circusd runs), ``missing`` (the user has no
    circus/<host>/ folder: the unit fails), ``failing`` (an ini bailey reads
    but circusd rejects: the unit fails), ``broken`` (circusd started from a
    good ini that was then made malformed: running, unreadable to bailey).
    """

    user: str
    enabled: bool = True
    started: bool = True
    config: str = "ok"

    def __post_init__(self) -> None:
        if self.config not in CONFIG_KINDS:
            raise ValueError(f"config must be one of {CONFIG_KINDS}: {self.config!r}")


@dataclass
class HostSpec:
    """One host; ``orphan_configs``: users with circus/<host>/ but no unit (drift)."""

    name: str
    units: list[UnitSpec] = field(default_factory=list)
    orphan_configs: list[str] = field(default_factory=list)
    bailey_installed: bool = True

    @property
    def users(self) -> list[str]:
        return [u.user for u in self.units]


def default_layout(n: int = 3) -> list[HostSpec]:
    """host1..hostN, users user1 and user2, both enabled and running."""
    return [HostSpec(f"host{i}", [UnitSpec("user1"), UnitSpec("user2")]) for i in range(1, n + 1)]


def demo_layout() -> list[HostSpec]:
    """3 hosts, 3 users; user3's unit on host3 is disabled."""
    users = ["user1", "user2", "user3"]
    hosts = []
    for i in range(1, 4):
        off = {"user3"} if i == 3 else set()
        units = [UnitSpec(u, enabled=u not in off, started=u not in off) for u in users]
        hosts.append(HostSpec(f"host{i}", units))
    return hosts


DEMO_USERS_EXTRA = """\
groups:
  itg: [host1, host2]
  dev: [host3]
expect:
  '@itg': {user1: [sleeper, ticker], user2: [sleeper]}
  '@dev': {user1: [sleeper], user3: [sleeper]}
depends:
  ticker: [sleeper]
  'user2@@itg:sleeper': ['user1@host3:sleeper']
"""  # the demo's users file: user3@host3 is disabled, so `barnum check` has a finding


def test_layout() -> list[HostSpec]:
    """Every staged case on four hosts, plus healthy ones for "the others".

    - host1, host2: user1 and user2 enabled and running (healthy).
    - host3: user1 running; user2 disabled and inactive; user3's unit
      failed (circusd rejects its ini).
    - host4: user1 running but its ini made malformed after start; user2's
      unit has no circus.ini (fails); user3 has a config tree and no unit;
      bailey is not installed (barnum must ship it).
    """
    return [
        HostSpec("host1", [UnitSpec("user1"), UnitSpec("user2")]),
        HostSpec("host2", [UnitSpec("user1"), UnitSpec("user2")]),
        HostSpec(
            "host3",
            [
                UnitSpec("user1"),
                UnitSpec("user2", enabled=False, started=False),
                UnitSpec("user3", config="failing"),
            ],
        ),
        HostSpec(
            "host4",
            [UnitSpec("user1", config="broken"), UnitSpec("user2", config="missing")],
            orphan_configs=["user3"],
            bailey_installed=False,
        ),
    ]
