"""When a live link pings, and when a silent host is stale or down (pure; no threads).

An idle session must cost next to nothing, yet never hide a dead host. So a
link pings only a host it has not heard from for the timeout (``--timeout``,
at most ``ping_idle`` seconds; any line counts: bailey's pushes, answers,
its periodic resync), and each host's interval is shortened by its own
fraction of ``jitter``, so a fleet's pings never all leave at once. A ping
unanswered for the timeout makes the host stale; for twice that, down.
Hence the bound, for a host that dies silently (cable cut, sshd frozen):
stale within twice the timeout of its last line, down within three times
(:meth:`Polling.down_within`; with a timeout over ``ping_idle``, that plus
twice the timeout). A host whose channel closes is down at once.

The reader of a link blocks on its channel until :meth:`Liveness.wait` says
the next thing is due: no polling in between.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Polling:
    """How often an open session wakes, on this side and on the hosts."""

    ping_idle: float = 30.0  # ping a host silent for the timeout, or this if shorter
    jitter: float = 0.25  # each host pings up to this fraction of ping_idle earlier
    max_wait: float = 60.0  # longest a reader blocks before it looks again
    transport_poll: float = 30.0  # paramiko's socket read timeout (it wakes to check)
    keepalive: int = 0  # paramiko's SSH keepalive (0: off; the pings keep the link used)
    safety_poll: float = 60.0  # bailey: systemd re-read with no inotify wake-up

    def ping_every(self, timeout: float) -> float:
        return min(self.ping_idle, timeout)

    def down_within(self, timeout: float) -> float:
        """Seconds after its last line by which a silently dead host reads down."""
        return self.ping_every(timeout) + 2 * timeout


@dataclass(frozen=True)
class LegacyPolling(Polling):
    """The settings before the idle work (a bench baseline): a ping every 5 s
    (or half the timeout) whatever the traffic, paramiko waking 10 times a
    second with a 5 s keepalive, readers every second, systemd re-read every 10 s."""

    ping_idle: float = 5.0
    jitter: float = 0.0
    max_wait: float = 1.0
    transport_poll: float = 0.1
    keepalive: int = 5
    safety_poll: float = 10.0

    def ping_every(self, timeout: float) -> float:
        return min(self.ping_idle, timeout / 2)


DEFAULT = Polling()
LEGACY = LegacyPolling()


def spread(host: str, jitter: float) -> float:
    """The host's own fraction of the interval cut (0..jitter), stable across runs."""
    return jitter * (zlib.crc32(host.encode()) % 1000) / 1000


@dataclass
class Liveness:
    """One link's clock: what is due now, and how long its reader may block.

    Times are ``time.monotonic()`` seconds; every method takes ``now``.
    """

    every: float  # ping a host silent this long
    timeout: float  # a ping unanswered this long: stale; twice: down
    max_wait: float = 60.0
    heard_at: float = 0.0
    ping_at: float | None = None  # when the unanswered ping left, if one is out

    def heard(self, now: float) -> None:
        """A line came: the host is alive, any ping is answered."""
        self.heard_at, self.ping_at = now, None

    def due_ping(self, now: float) -> bool:
        return self.ping_at is None and now - self.heard_at >= self.every

    def pinged(self, now: float) -> None:
        if self.ping_at is None:
            self.ping_at = now

    def silent(self, now: float) -> float:
        return now - self.heard_at

    def verdict(self, now: float) -> str | None:
        """``down``, ``stale`` or None (alive as far as anyone can tell)."""
        if self.ping_at is None:
            return None
        late = now - self.ping_at
        if late > 2 * self.timeout:
            return "down"
        if late > self.timeout:
            return "stale"
        return None

    def wait(self, now: float) -> float:
        """Seconds until the next ping or verdict is due (0: now), at most ``max_wait``."""
        if self.ping_at is None:
            due = self.heard_at + self.every
        elif now - self.ping_at <= self.timeout:
            due = self.ping_at + self.timeout
        else:
            due = self.ping_at + 2 * self.timeout
        # a hair past the boundary, so the verdict at wake-up is the new one
        return min(self.max_wait, max(0.0, due - now + 0.01))
