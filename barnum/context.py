"""What every command starts from: the users file read, flags merged over it, hosts
discovered and allowed; the one stderr line writer; opening the live session.

Front ends (the CLI's commands, the shell's and web page's launchers) get a
``Context``; nothing here prints to stdout."""

from __future__ import annotations

import argparse
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO, cast

from barnum import EXIT_USAGE, BarnumError

if TYPE_CHECKING:
    from barnum.live.session import FleetSession
    from barnum.model.config import Config
    from barnum.model.discovery import Discovery
    from barnum.transport.options import Options
    from barnum.views.progress import ProgressLine

PREFIX = "barnum: "


class Err:
    """stderr lines with the barnum prefix, one at a time across threads."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lock = threading.Lock()
        self.transient: ProgressLine | None = None  # to erase before each line

    def __call__(self, msg: str) -> None:
        from barnum.text.sanitize import clean

        line = PREFIX + clean(msg) + "\n"  # whatever a host put in it: one visible line
        with self.lock:
            if self.transient is not None:
                self.transient.erase()
            self.stream.write(line)
            self.stream.flush()


@dataclass
class Context:
    """What every command starts from: the users file, how to reach hosts, what was found."""

    args: argparse.Namespace
    config: Config
    options: Options
    discovery: Discovery
    err: Err
    skipped: list[str] = field(default_factory=list)  # discovered, not allowed

    @property
    def targets(self) -> list[str]:
        """Positional targets plus ``-t`` ones."""
        return [*getattr(self.args, "targets", []), *self.args.explicit_targets]


def load_context(args: argparse.Namespace, err: Err, early=None) -> Context:
    """Read the users file, merge flags over it, discover hosts; warnings go to ``err``.

    ``early(found, options, config)`` runs once the allowed hosts are known, before
    the ssh_config check imports paramiko (the overview opens TCP there).
    """
    from barnum.model.config import find_config, load_config
    from barnum.model.discovery import discover
    from barnum.transport.options import Options

    config = load_config(find_config(args.config))
    options = Options.from_config(
        config,
        ssh_config=args.ssh_config,
        bailey=args.bailey,
        timeout=args.timeout,
        fanout=args.fanout,
        ship=args.ship if args.ship else None,
        auto_ship=False if args.ship is False else None,
        host_key_policy=args.host_key_policy,
        verbose=args.verbose or None,
        max_output=args.max_output,
        local=args.local,
    )
    if options.ssh_config:
        options.ssh_config = os.path.expanduser(options.ssh_config)
    _check_bailey(options.bailey)
    found = discover(config.users, config.config_template)
    for w in found.warnings:
        err(f"warning: {w}")
    skipped = _allow(found, config, options, err)
    if early is not None and found.hosts:
        early(found, options, config)
    if found.hosts:
        from barnum.transport.sshconfig import check_ssh_config

        check_ssh_config(options.ssh_config, list(found.hosts))
    if args.verbose and found.hosts:
        err(f"Circus is configured on the following hosts: {', '.join(found.hosts)}")
    if args.debug:
        from barnum.transport.ssh import debug_logging

        debug_logging()
    return Context(args, config, options, found, err, skipped)


def _check_bailey(cmd: str) -> None:
    import shlex

    try:
        words = shlex.split(cmd)
    except ValueError as e:
        raise BarnumError(f"--bailey {cmd!r}: {e} (quote it as a shell would)", EXIT_USAGE) \
            from None
    if not words:
        raise BarnumError("--bailey is empty: give the bailey command on the hosts", EXIT_USAGE)


def _allow(found: Discovery, config: Config, options: Options, err: Err) -> list[str]:
    """Keep in ``found`` only the hosts the operator allows (barnum.transport.allow); warn once."""
    from barnum.model.hostsort import natural_sorted
    from barnum.transport.allow import allow, read_ssh_config

    text = None if config.hosts is not None else read_ssh_config(options.ssh_config)
    a = allow(found.hosts, config.hosts, text)
    found.hosts = a.hosts
    if a.skipped:
        names = natural_sorted(a.skipped)
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        where = config.path or "the users file"
        err(f"warning: not connecting to {shown}: found in users' circus trees but not "
            f"allowed by {a.rule} (list allowed hosts under hosts: in {where})")
    return a.skipped


def refuse_skipped(ctx: Context) -> None:
    """A target naming a discovered but not allowed host is a usage error, said plainly."""
    from barnum.model.nodeset import ExpressionError, parse

    for t in ctx.targets:
        try:
            hosts = [term.host for term in parse(t).terms if term.host is not None]
        except ExpressionError:
            continue  # resolve says what is wrong with it
        for host in hosts:
            if host not in ctx.skipped:
                continue
            raise BarnumError(f"{host} is not an allowed host (see the warning above)",
                              EXIT_USAGE)


_OPENER = threading.local()  # per thread: who opens sessions for the call running there


@contextlib.contextmanager
def sessions_from(opener: Callable[[Context], Any]) -> Iterator[None]:
    """While the block runs, ``open_session`` on this thread is ``opener(ctx)`` (the warm
    session answers a call from its open channels); other threads are not affected."""
    saved = getattr(_OPENER, "fn", None)
    _OPENER.fn = opener
    try:
        yield
    finally:
        _OPENER.fn = saved


def open_session(ctx: Context) -> FleetSession:
    """The session over the context's targets (allowed hosts only), opened."""
    opener = getattr(_OPENER, "fn", None)
    if opener is not None:
        return cast("FleetSession", opener(ctx))
    from barnum.live.session import FleetSession

    s = FleetSession(ctx.config, ctx.options, ctx.targets, ctx.discovery,
                     log=lambda m: ctx.err(f"warning: {m}"), debug=ctx.err)
    return s.open()


# How a front end that stays (watch, the shell) attaches to the warm background session:
# set by the console entry point (barnum.warm.client), which sits above every front end.
# It returns a stand-in with FleetSession's API, or None (no session can be used).
ATTACH: Callable[[Context, list[str] | None], Any] | None = None


def open_live(ctx: Context, every_host: bool = False) -> FleetSession:
    """The session a front end that stays works on: the warm session's when one can be
    used (``ATTACH``), else one of its own, opened.  ``every_host``: over every allowed
    host (the targets are then the front end's starting set), else over the targets."""
    targets = None if every_host else ctx.targets
    if ATTACH is not None:
        attached = ATTACH(ctx, targets)
        if attached is not None:
            return cast("FleetSession", attached)  # the part of the API front ends use
    from barnum.live.session import FleetSession

    s = FleetSession(ctx.config, ctx.options, targets, ctx.discovery,
                     log=lambda m: ctx.err(f"warning: {m}"), debug=ctx.err)
    return s.open()


def down_lines(session: FleetSession) -> list[str]:
    """``host: reason`` for every host that is not up."""
    return [f"{h}: {st.error or st.state}" for h, st in session.host_states().items()
            if not st.state.answers]
